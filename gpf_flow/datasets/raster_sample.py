"""``raster-sample``: four 800x800 RGB GeoTIFF tiles (EPSG:2154, 0.5 m, JPEG) forming a 2x2 mosaic.

The picture is computed from map coordinates, so it runs on seamlessly across tile edges: smooth
colour fields (fields and a valley), a river, a road grid and round ponds, near Annecy. Everything
is a pure function of the coordinates: the same bytes come out on every run.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = "tiles"
TILE_PX = 800
RESOLUTION = 0.5
ORIGIN_X = 940_000.0  # left edge of the mosaic, Lambert-93 metres
ORIGIN_Y = 6_537_000.0  # top edge
GRID = 2


def tile_name(col: int, row: int) -> str:
    """Name built from the Lambert-93 coordinates (metres) of the tile's top-left corner."""
    left = int(ORIGIN_X + col * TILE_PX * RESOLUTION)
    top = int(ORIGIN_Y - row * TILE_PX * RESOLUTION)
    return f"SAMPLE-{left:07d}-{top:07d}-LA93-0M50.tif"


def _picture(x: object, y: object) -> object:
    """RGB uint8 array (3, h, w) for map coordinates ``x``/``y`` (2-D numpy arrays, metres)."""
    import numpy as np

    u = (np.asarray(x) - ORIGIN_X) / (GRID * TILE_PX * RESOLUTION)  # 0..1 across the mosaic
    v = (ORIGIN_Y - np.asarray(y)) / (GRID * TILE_PX * RESOLUTION)
    # Smooth colour field: warm fields to the west, cool forest to the east, gentle waves.
    r = 150 + 70 * np.cos(3.1 * u + 1.3 * v) + 15 * np.sin(17 * u) * np.cos(13 * v)
    g = 120 + 60 * np.sin(2.3 * v + 0.7) + 40 * u
    b = 70 + 50 * np.cos(4.0 * v - 2.0 * u)
    # Field parcels: a checker of slightly different tints.
    parcels = ((np.floor(u * 9) + np.floor(v * 7)) % 3) - 1
    r, g = r + 18 * parcels, g - 12 * parcels
    # A meandering river.
    river_center = 0.55 + 0.12 * np.sin(6.0 * v) + 0.04 * np.sin(19.0 * v)
    river = np.abs(u - river_center) < 0.018
    # Straight roads.
    roads = (np.abs(v - 0.3) < 0.004) | (np.abs(u - 0.2 - 0.15 * v) < 0.003)
    # Round ponds.
    ponds = np.zeros_like(u, dtype=bool)
    for cu, cv, radius in ((0.18, 0.72, 0.06), (0.82, 0.2, 0.08), (0.35, 0.25, 0.035)):
        ponds |= (u - cu) ** 2 + (v - cv) ** 2 < radius**2
    water = river | ponds
    r = np.where(water, 40, np.where(roads, 235, r))
    g = np.where(water, 90 + 20 * np.sin(40 * u), np.where(roads, 230, g))
    b = np.where(water, 170, np.where(roads, 220, b))
    # A red-roofed hamlet: small squares on a regular pattern in one area.
    hamlet = (np.abs(u - 0.7) < 0.1) & (np.abs(v - 0.65) < 0.08)
    roofs = hamlet & ((np.floor(u * 160) % 4) < 2) & ((np.floor(v * 160) % 4) < 2)
    r, g, b = np.where(roofs, 190, r), np.where(roofs, 60, g), np.where(roofs, 50, b)
    return np.clip(np.stack([r, g, b]), 0, 255).astype("uint8")


def write_tiles(folder: Path) -> list[Path]:
    """Write the four tiles into ``folder`` (created); return their paths."""
    import numpy as np
    import rasterio
    from rasterio.transform import Affine

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    pixel_centers = (np.arange(TILE_PX) + 0.5) * RESOLUTION
    for row in range(GRID):
        for col in range(GRID):
            left = ORIGIN_X + col * TILE_PX * RESOLUTION
            top = ORIGIN_Y - row * TILE_PX * RESOLUTION
            xx, yy = np.meshgrid(left + pixel_centers, top - pixel_centers)
            data = _picture(xx, yy)
            path = folder / tile_name(col, row)
            profile = {
                "driver": "GTiff",
                "width": TILE_PX,
                "height": TILE_PX,
                "count": 3,
                "dtype": "uint8",
                "crs": "EPSG:2154",
                "transform": Affine(RESOLUTION, 0.0, left, 0.0, -RESOLUTION, top),
                "compress": "JPEG",
                "jpeg_quality": 85,
                "photometric": "YCBCR",
                "tiled": True,
                "blockxsize": 256,
                "blockysize": 256,
            }
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(data)
            written.append(path)
    return written
