"""Raster pyramid vs a fair floor measured in the same run: PM and LAMB93, JPEG, cubic, 1 and 2 workers.

Generates an n×n mosaic of size² px RGB GeoTIFFs (JPEG-in-TIFF, 0.5 m, EPSG:2154; default 2×2 of
4000²) once under ``$TMPDIR/gpf-bench-pyramid``, and for each grid builds the whole pyramid (native
level up to level 0) through the real processing with 1 worker (this thread) and with 2 (render
threads).

The floor is the work no pyramid builder of these tiles can skip, measured in CPU time in this
process, in the same run:

- every block read the pipeline does (the plan's jobs: one aligned cubic WarpedVRT read of 4×4
  bottom tiles each, in the pipeline's order, so bottom tiles pay a 16th of a shared 1024² read),
  with the pipeline's GDAL block cache,
- one JPEG encode per tile written (Pillow, from a crop of an RGB image; median over real tiles),
- per tile of a level made from the level below (a quadtree step, or LAMB93's coarse levels that
  the pipeline makes from the small level below): one Pillow ``reduce(2)`` (median, per 256²
  output).

The floor is also run by 2 processes side by side, each on its share of the jobs (dealt by aligned
squares): how fast this machine runs two such computations at once.

Each round measures the floor, the 1- and 2-worker builds and the side-by-side floor back to
back; printed are the medians over the rounds (and each ratio's range): per build wall and CPU
seconds (all processes), tiles/s, CPU ms per tile; and the ratios "throughput ÷ floor
throughput" = floor time ÷ achieved time (1 means as fast as the floor, higher is better;
targets ≥ 0.9 with 1 worker, ≥ 0.85 with 2 workers against twice the floor), once with wall
time (needs an idle machine) and once with CPU time (barely affected by other load).

    .venv/bin/python bench/pyramid.py [--size 4000] [--mosaic 2] [--grids PM LAMB93] [--rounds 3]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from PIL import Image
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "processings"))
from processings_rasters import ORIGIN_X, ORIGIN_Y, ortho_like  # noqa: E402

from gpf_flow.processings import raster_pyramid  # noqa: E402
from gpf_flow.processings.base import InputData, ProcessingContext  # noqa: E402
from gpf_flow.processings.raster_coarse import MAX_BELOW_TILES  # noqa: E402
from gpf_flow.processings.raster_params import parse_params  # noqa: E402
from gpf_flow.processings.raster_render import Renderer  # noqa: E402
from gpf_flow.processings.raster_threads import gdal_cache_mb  # noqa: E402

RES = 0.5
RUN_SIDE = 4
"""The side-by-side floor deals the jobs to its processes by aligned squares of RUN_SIDE² jobs, so
that neighbouring jobs, which share source blocks, are read by one process (as one would deal them
to separate processes)."""
PARAMS = {"compression": "jpg", "interpolation": "bicubic"}


def make_input(size: int, n: int) -> Path:
    """An n×n mosaic of size² JPEG-in-TIFF orthophoto-like tiles, written once under $TMPDIR."""
    folder = Path(tempfile.gettempdir()) / "gpf-bench-pyramid" / f"{n}x{n}-{size}"
    marker = folder / "done"
    if marker.exists():
        return folder / "upload"
    shutil.rmtree(folder, ignore_errors=True)
    upload = folder / "upload" / "ortho"
    upload.mkdir(parents=True)
    for row in range(n):
        for col in range(n):
            transform = from_origin(ORIGIN_X + col * size * RES, ORIGIN_Y - row * size * RES, RES, RES)
            profile = {
                "driver": "GTiff",
                "width": size,
                "height": size,
                "count": 3,
                "dtype": "uint8",
                "crs": "EPSG:2154",
                "transform": transform,
                "tiled": True,
                "blockxsize": 256,
                "blockysize": 256,
                "compress": "jpeg",
                "photometric": "ycbcr",
                "jpeg_quality": 90,
            }
            with rasterio.open(upload / f"ortho_{row}_{col}.tif", "w", **profile) as dst:
                dst.write(ortho_like(size, row * n + col))
    marker.touch()
    return folder / "upload"


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its waited-for children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def context(upload: Path, out: Path, grid: str, workers: int) -> ProcessingContext:
    """The processing's context, as the local store gives it."""
    return ProcessingContext(
        parameters={"tms": grid, **PARAMS},
        uploads=[InputData({"srs": "EPSG:2154"}, upload)],
        stored_data=[],
        output_dir=out,
        log=lambda line: None,
        is_aborted=lambda: False,
        workers=workers,
    )


def build(upload: Path, grid: str, workers: int) -> tuple[float, float, dict[int, int]]:
    """One whole pyramid build: (wall seconds, CPU seconds of all processes, tiles per level)."""
    out = Path(tempfile.mkdtemp(prefix="gpf-bench-out-"))
    try:
        started, cpu = time.perf_counter(), cpu_seconds()
        result = raster_pyramid.run(context(upload, out, grid, workers))
        wall, used = time.perf_counter() - started, cpu_seconds() - cpu
        return wall, used, {int(z): int(n) for z, n in result.type_infos["tiles"].items()}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _median_cpu(action: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        action()
        times.append(time.process_time() - t0)
    return float(np.median(times))


def floor(
    upload: Path, grid: str, tiles: dict[int, int], share: tuple[int, int] = (0, 1)
) -> tuple[float, float, float, set[int]]:
    """(seconds of all the plan's block reads, encode per tile, reduce per tile, levels from a reduce).

    All CPU time of this single-threaded process (GDAL's warper runs in the calling thread).
    ``tiles`` (per level, from a build) tells which one-level segments the pipeline makes from the
    level below instead of reading the source. ``share`` = (i, n): only the i-th of n shares of
    the jobs, dealt as the pipeline deals them to n workers (aligned squares in turn).
    """
    out = Path(tempfile.mkdtemp(prefix="gpf-bench-floor-"))
    plan_build = raster_pyramid._Build(context(upload, out, grid, 1), parse_params({"tms": grid, **PARAMS}))
    try:
        plan = plan_build.plan()
        reads, encodes, reduces = 0.0, [], []
        halved: set[int] = set()
        with rasterio.Env(GDAL_CACHEMAX=gdal_cache_mb(1) << 20):
            for segment in plan.segments:
                spec = segment.spec
                halved.update(range(segment.top, segment.bottom))
                below = tiles.get(segment.bottom + 1, 0)
                if segment.top == segment.bottom < plan.bottom and below <= MAX_BELOW_TILES:
                    halved.add(segment.top)
                    continue
                jobs = _share(segment.jobs, *share)
                reads += _reads(Renderer(spec), jobs, spec.block, encodes, reduces)
        if not encodes:  # tiny inputs: no fully opaque block
            image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8))
            encodes.append(_median_cpu(lambda: _jpeg(image.crop((0, 0, 256, 256))), 20))
            reduces.append(_median_cpu(lambda: image.reduce(2), 20))
        return reads, float(np.median(encodes)), float(np.median(reduces)), halved
    finally:
        plan_build.cleanup()
        shutil.rmtree(out, ignore_errors=True)


def _share(jobs: list[tuple[int, int]], i: int, n: int) -> list[tuple[int, int]]:
    """The i-th of n shares of ``jobs``: their aligned squares of RUN_SIDE² dealt in turn."""
    if n == 1:
        return jobs
    squares = [list(run) for _, run in groupby(jobs, key=lambda j: (j[0] // RUN_SIDE, j[1] // RUN_SIDE))]
    return [job for k, square in enumerate(squares) if k % n == i for job in square]


def _floor_share(args: tuple[str, str, dict[int, int], int, int]) -> tuple[float, float, float]:
    """One process's share of a floor run side by side with the others (see :func:`floor`)."""
    upload, grid, tiles, i, n = args
    reads, encode, reduce, _ = floor(Path(upload), grid, tiles, (i, n))
    return reads, encode, reduce


def floor_side_by_side(upload: Path, grid: str, tiles: dict[int, int], n: int) -> tuple[float, float, float]:
    """The floor measured by ``n`` processes at once, each on its share of the jobs: (block reads
    summed over the processes, encode and reduce per tile as measured meanwhile, medians)."""
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(n, ctx) as pool:
        list(pool.map(_warm, range(n)))  # imports done before the processes start together
        shares = list(pool.map(_floor_share, [(str(upload), grid, tiles, i, n) for i in range(n)]))
    return (
        sum(r for r, _, _ in shares),
        float(np.median([e for _, e, _ in shares])),
        float(np.median([d for _, _, d in shares])),
    )


def _warm(_: int) -> None:
    time.sleep(0.5)  # every process of the pool is started before the shares are dealt


def _reads(
    renderer: Renderer, jobs: list[tuple[int, int]], f: int, encodes: list[float], reduces: list[float]
) -> float:
    """CPU seconds of the jobs' block reads, in order; samples encodes and reduces on inner blocks."""
    reads = 0.0
    try:
        for i, (jx, jy) in enumerate(jobs):
            t0 = time.process_time()
            bands = renderer.read_block(jx * f, jy * f, f)
            reads += time.process_time() - t0
            if len(encodes) >= 400 or bands[-1].min() < 255:
                continue
            image = Image.merge("RGB", [Image.fromarray(b) for b in bands[:3]])
            for k in range(min(4, f * f)):
                box = ((k % f) * 256, (k // f) * 256, (k % f + 1) * 256, (k // f + 1) * 256)
                tile = image.crop(box)
                encodes.append(_median_cpu(lambda t=tile: _jpeg(t), 1))
            if image.width >= 512 and i % 2 == 0:
                reduces.append(_median_cpu(lambda im=image: im.reduce(2), 3) / (image.width // 512) ** 2)
    finally:
        renderer.close()
    return reads


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


class Round(dict[str, float]):
    """One round's figures (seconds, ratios), measured back to back."""


def measure_round(upload: Path, grid: str, warm: dict[int, int]) -> tuple[Round, dict[int, int]]:
    """Floor, 1-worker build, 2-worker build and the floor run side by side, back to back (so
    that a machine slowing down or speeding up between rounds hits the four alike)."""
    reads, encode, reduce, halved = floor(upload, grid, warm)
    runs = {workers: build(upload, grid, workers) for workers in (1, 2)}
    reads2, encode2, reduce2 = floor_side_by_side(upload, grid, warm, 2)
    tiles = runs[1][2]
    assert runs[2][2] == tiles, "1 and 2 workers wrote different tile counts"
    total = sum(tiles.values())
    from_reduce = sum(n for z, n in tiles.items() if z in halved)
    floor_s = reads + total * encode + from_reduce * reduce
    floor2_s = reads2 + total * encode2 + from_reduce * reduce2
    r = Round(
        floor=floor_s, reads=reads, encode=encode, reduce=reduce, from_reduce=from_reduce, floor2=floor2_s,
        wall1=runs[1][0], cpu1=runs[1][1], wall2=runs[2][0], cpu2=runs[2][1],
    )  # fmt: skip
    r["wall_ratio1"], r["cpu_ratio1"] = floor_s / r["wall1"], floor_s / r["cpu1"]
    r["wall_ratio2"], r["cpu_ratio2"] = floor_s / 2 / r["wall2"], floor_s / r["cpu2"]
    r["floor2_speed"], r["cpu_ratio2_side"] = floor_s / floor2_s, floor2_s / r["cpu2"]
    r["scaling"] = r["wall1"] / r["wall2"]
    return r, tiles


def report(grid: str, rounds: list[tuple[Round, dict[int, int]]]) -> None:
    """Medians over the rounds, with each ratio's range."""
    tiles = rounds[0][1]
    total = sum(tiles.values())

    def med(key: str) -> float:
        return float(np.median([r[key] for r, _ in rounds]))

    def ratio(key: str) -> str:
        values = [r[key] for r, _ in rounds]
        return f"{med(key):.2f} ({min(values):.2f}–{max(values):.2f})"

    levels = (
        f"levels {min(tiles)}-{max(tiles)}, {tiles[max(tiles)]} at the bottom, {tiles[min(tiles)]} at the top"
    )
    print(f"\n{grid}: {total} tiles ({levels}); medians of {len(rounds)} rounds; load average {load()}")
    print(
        f"  floor: {med('floor'):.2f} s CPU = block reads {med('reads'):.2f} s + {total} encodes × "
        f"{med('encode') * 1000:.2f} ms + {med('from_reduce'):.0f} reduces × {med('reduce') * 1000:.2f} ms "
        f"({med('floor') / total * 1000:.2f} ms per tile, {total / med('floor'):.0f} tiles/s per process)"
    )
    for workers in (1, 2):
        target = 0.9 if workers == 1 else 0.85
        wall, cpu = med(f"wall{workers}"), med(f"cpu{workers}")
        print(
            f"  {workers} worker(s): wall {wall:.2f} s ({total / wall:.0f} tiles/s), CPU {cpu:.2f} s "
            f"({cpu / total * 1000:.2f} ms per tile); throughput ÷ floor throughput "
            f"(floor ÷ {workers} ÷ achieved time; target ≥ {target}): wall {ratio(f'wall_ratio{workers}')}, "
            f"CPU {ratio(f'cpu_ratio{workers}')}"
        )
    print(
        f"  floor run by 2 processes side by side, each on its share of the jobs: {med('floor2'):.2f} s CPU, "
        f"{ratio('floor2_speed')} of the one-process floor's speed; 2-worker build CPU ratio "
        f"against it: {ratio('cpu_ratio2_side')}"
    )
    print(f"  scaling 1 → 2 workers (wall): {ratio('scaling')}×")


def load() -> str:
    """The load averages (1, 5, 15 min)."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=4000, help="pixels per side of each GeoTIFF")
    parser.add_argument("--mosaic", type=int, default=2, help="GeoTIFFs per side of the mosaic")
    parser.add_argument("--grids", nargs="+", default=["PM", "LAMB93"])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of floor and builds per grid")
    args = parser.parse_args()
    t0 = time.perf_counter()
    upload = make_input(args.size, args.mosaic)
    print(
        f"input: {args.mosaic}×{args.mosaic} × {args.size}² px RGB JPEG-in-TIFF, {RES} m, EPSG:2154 "
        f"(ready in {time.perf_counter() - t0:.1f} s); cpu count {os.cpu_count()}; load average {load()}"
    )
    for grid in args.grids:
        warm = build(upload, grid, 1)[2]  # warm-up: file cache, PROJ database
        rounds = [measure_round(upload, grid, warm) for _ in range(args.rounds)]
        report(grid, rounds)
    print(f"\nload average after: {load()}")


if __name__ == "__main__":
    main()
