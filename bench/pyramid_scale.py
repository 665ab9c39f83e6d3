"""Raster pyramid at scale: time, CPU and peak memory (summed over the process tree) vs mosaic size.

Builds the PM/JPEG/cubic pyramid of mosaics of 1, 4, 16 (and 36 with ``--large``) synthetic 4000²
tiles (textured, JPEG-in-TIFF, 0.5 m, Lambert-93; generated once under
``$TMPDIR/gpf-bench-pyramid``) through the real processing with 2 workers (render threads), each
build in a fresh Python process whose tree is sampled in /proc every 20 ms for the summed resident
memory. Prints per size: tiles, seconds, tiles/s, CPU ms per tile,
peak summed RSS; then the least-squares lines (seconds and peak RSS vs tiles) and their projection
to 1000 km² at 0.5 m (goals: ≤ 10 min on 2 cores, < 1 GiB).

    .venv/bin/python bench/pyramid_scale.py [--large] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "processings"))
from processings_memory import PeakMemory  # noqa: E402
from pyramid import RES, build, load, make_input  # noqa: E402

SIZE = 4000
KM2_PER_TILE = (SIZE * RES / 1000) ** 2
"""Ground area of one input tile (4 km² at 0.5 m)."""
TARGET_KM2 = 1000.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(n: int, workers: int) -> dict[str, float]:
    """Build the n×n mosaic's pyramid in a fresh process; wall, CPU, tiles and peak summed RSS."""
    upload = make_input(SIZE, n)
    cpu0 = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--one", str(upload), "--workers", str(workers)],
        stdout=subprocess.PIPE,
        text=True,
    )
    sampler = PeakMemory(proc.pid)
    out, _ = proc.communicate()
    peak = sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"build of {n}×{n} failed (exit {proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result.update(cpu=_children_cpu() - cpu0, peak=peak, process_wall=time.perf_counter() - started)
    return result


def _one(upload: Path, workers: int) -> None:
    """Child mode: one build, its figures as one JSON line."""
    wall, _, tiles = build(upload, "PM", workers)
    print(json.dumps({"wall": wall, "tiles": sum(tiles.values())}))


def _fit(x: list[float], y: list[float]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line."""
    slope, intercept = np.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 1)
    return float(intercept), float(slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--large", action="store_true", help="add the 36-tile (6×6) mosaic")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.one, args.workers)
        return
    sides = [1, 2, 4] + ([6] if args.large else [])
    t0 = time.perf_counter()
    for n in sides:
        make_input(SIZE, n)
    print(f"inputs ready in {time.perf_counter() - t0:.0f} s; cpu count {os.cpu_count()}; load {load()}")
    measure(1, args.workers)  # warm-up (file cache, PROJ database)
    rows = []
    for n in sides:
        r = measure(n, args.workers)
        rows.append((n * n, r))
        print(
            f"{n * n:>3} tiles of 4000² ({n * n * KM2_PER_TILE:.0f} km²): {r['tiles']:.0f} pyramid tiles in "
            f"{r['wall']:.1f} s = {r['tiles'] / r['wall']:.0f} tiles/s, "
            f"CPU {r['cpu'] / r['tiles'] * 1000:.2f} ms per tile, "
            f"peak RSS summed over the processes {r['peak'] / 2**20:.0f} MiB; load {load()}",
            flush=True,
        )
    tiles = [r["tiles"] for _, r in rows]
    a_t, b_t = _fit(tiles, [r["wall"] for _, r in rows])
    a_m, b_m = _fit(tiles, [r["peak"] / 2**20 for _, r in rows])
    a_c, b_c = _fit(tiles, [r["cpu"] for _, r in rows])
    per_km2 = rows[-1][1]["tiles"] / (rows[-1][0] * KM2_PER_TILE)
    target = per_km2 * TARGET_KM2
    print(
        f"fit: seconds = {a_t:.2f} + {b_t * 1000:.2f} ms × tiles; CPU seconds = {a_c:.2f} + "
        f"{b_c * 1000:.2f} ms × tiles; peak MiB = {a_m:.0f} + {b_m * 1000:.3f} × tiles/1000"
    )
    (t1, r1), (t2, r2) = (rows[-2][1]["tiles"], rows[-2][1]), (rows[-1][1]["tiles"], rows[-1][1])
    marginal_mb = (r2["peak"] - r1["peak"]) / 2**20 / (t2 - t1)
    print(
        f"projection to {TARGET_KM2:.0f} km² at {RES} m ({target:.0f} tiles, {per_km2:.1f} per km²) with "
        f"{args.workers} workers: wall {(a_t + b_t * target) / 60:.1f} min from the wall line (as loaded "
        f"as this run), {(a_c + b_c * target) / args.workers / 60:.1f} min from the CPU line if the "
        f"{args.workers} cores were the build's alone (goal ≤ 10)"
    )
    print(
        f"peak memory: {max(r['peak'] for _, r in rows) / 2**30:.2f} GiB measured at most; the block caches "
        f"fill by the second size, so the line ({(a_m + b_m * target) / 1024:.2f} GiB) overstates; the "
        f"slope between the two largest sizes ({marginal_mb * 1000:.1f} MiB per 1000 tiles) projects "
        f"{(r2['peak'] / 2**20 + marginal_mb * (target - t2)) / 1024:.2f} GiB (goal < 1)"
    )
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
