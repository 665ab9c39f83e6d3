"""Raster workers run with a bounded GDAL block cache (sized from the memory, or configured)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from processings_memory import PeakMemory
from processings_rasters import write_tiles

from gpf_flow.processings import raster_pyramid, raster_worker
from gpf_flow.processings.base import ProcessingFailed

RASTER = {"type": "RASTER", "srs": "EPSG:2154"}


def test_workers_use_the_configured_gdal_cache(make_ctx, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(raster_pyramid, "MIN_BOTTOM_TILES_FOR_PROCESSES", 1)
    monkeypatch.setenv(raster_worker.CACHE_ENV, "17")
    root = tmp_path / "up"
    write_tiles(root, 2, 300, 1.0)
    h = make_ctx(uploads=[(RASTER, root)], parameters={"bottom_level": 17, "top_level": 14}, workers=2)
    raster_pyramid.run(h.ctx)
    assert any("GDAL cache 17 MB each" in line for line in h.logs), h.logs
    assert not any("WARNING workers report GDAL caches" in line for line in h.logs), h.logs


def test_default_cache_is_a_bounded_share_of_memory(monkeypatch) -> None:
    monkeypatch.delenv(raster_worker.CACHE_ENV, raising=False)
    for processes in (1, 2, 8):
        assert (
            raster_worker.CACHE_MIN_MB <= raster_worker.gdal_cache_mb(processes) <= raster_worker.CACHE_MAX_MB
        )
    assert raster_worker.gdal_cache_mb(8) <= raster_worker.gdal_cache_mb(1)
    monkeypatch.setenv(raster_worker.CACHE_ENV, "lots")
    with pytest.raises(ProcessingFailed, match="number of megabytes"):
        raster_worker.gdal_cache_mb(1)


_BUILD = """
import sys
from pathlib import Path
from gpf_flow.processings import raster_pyramid
from gpf_flow.processings.base import InputData, ProcessingContext

upload, out, workers = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
out.mkdir()
ctx = ProcessingContext(
    parameters={"tms": "PM", "compression": "jpg", "interpolation": "bicubic"},
    uploads=[InputData({"type": "RASTER", "srs": "EPSG:2154"}, upload)],
    stored_data=[],
    output_dir=out,
    log=print,
    is_aborted=lambda: False,
    workers=workers,
)
raster_pyramid.run(ctx)
"""
CACHE_MB = 16
PEAK_CAP_MB = {1: 250, 2: 540}
"""Peak RSS summed over the build's processes, by worker count, with a GDAL cache of CACHE_MB each.

Measured on the 2-core, 24 GB machine: 164 and 445 MB; with a 1200 MB cache each (GDAL's default
there, which the single-process path used) 359 and 646 MB, over both caps.
"""


@pytest.fixture(scope="module")
def mosaic_3x3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3×3 adjacent 2000² px GeoTIFFs at 0.5 m (a 3 km square, 1.2 M source blocks' worth of pixels)."""
    root = tmp_path_factory.mktemp("mosaic")
    write_tiles(root / "ortho", 3, 2000, 0.5)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_pyramid_memory_stays_under_a_cap(mosaic_3x3: Path, tmp_path: Path, workers: int) -> None:
    """The whole build (processing process + its raster workers) stays under a fixed cap.

    With GDAL's default block cache (5 % of the memory per process) each process keeps every block
    it decodes, up to more than this mosaic holds: the sum grows with the mosaic and passes the cap
    (``GPF_FLOW_GDAL_CACHEMAX=1200`` reproduces it). The single-process path had no bound at all.
    """
    env = {**os.environ, raster_worker.CACHE_ENV: str(CACHE_MB)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _BUILD, str(mosaic_3x3), str(tmp_path / "out"), str(workers)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    sampler = PeakMemory(proc.pid)
    out, _ = proc.communicate(timeout=600)
    peak_mb = sampler.stop() / 2**20
    assert proc.returncode == 0, out
    assert "wrote" in out and (workers == 1 or "with 2 processes" in out), out
    assert peak_mb < PEAK_CAP_MB[workers], f"peak {peak_mb:.0f} MB with {workers} worker(s)"
