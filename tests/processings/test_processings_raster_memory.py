"""Raster workers run with a bounded GDAL block cache (sized from the memory, or configured)."""

from __future__ import annotations

import pytest
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
