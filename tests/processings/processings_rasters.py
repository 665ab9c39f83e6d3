"""Small generated rasters for the processing tests and the bench (not a test module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

# A Lambert-93 point in the Ain (about 46.2° N), as in the project's sample data.
ORIGIN_X = 870_000.0
ORIGIN_Y = 6_570_000.0


def ortho_like(size: int, seed: int) -> np.ndarray:
    """An RGB image with smooth structure plus texture (JPEG cost similar to an orthophoto)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = 110 + 60 * np.sin(xx * 9 + seed) * np.cos(yy * 7) + 30 * np.sin((xx + yy) * 31)
    bands = []
    for shift in (0, 12, -18):
        noise = rng.normal(0, 14, (size, size)).astype(np.float32)
        bands.append(np.clip(base + shift + noise, 1, 254))
    return np.stack(bands).astype(np.uint8)


def write_tiles(
    folder: Path,
    n: int,
    size: int,
    res: float,
    *,
    seed: int = 0,
    crs: str | None = "EPSG:2154",
    origin: tuple[float, float] = (ORIGIN_X, ORIGIN_Y),
) -> list[Path]:
    """Write an n×n grid of adjacent size×size RGB GeoTIFFs (``res`` metres) under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for row in range(n):
        for col in range(n):
            path = folder / f"tile_{row}_{col}.tif"
            transform = from_origin(origin[0] + col * size * res, origin[1] - row * size * res, res, res)
            profile = {
                "driver": "GTiff",
                "width": size,
                "height": size,
                "count": 3,
                "dtype": "uint8",
                "crs": crs,
                "transform": transform,
                "tiled": True,
                "compress": "deflate",
            }
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(ortho_like(size, seed + row * n + col))
            paths.append(path)
    return paths
