"""Tiles of a pyramid at any level of its grid: stored ones, and finer ones resampled from the bottom.

A WMTS matrix set lists every level of its grid, and clients (GDAL's WMTS driver, QGIS) ask for the
finest levels at full resolution; below the pyramid's bottom level the server answers a tile
resampled (bicubic) from the bottom level's tiles, as ROK4 does for levels it does not store.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from gpf_flow import tms as grids
from gpf_flow.serve.mbtiles import MBTiles

MAX_SOURCE_TILES = 16
JPEG_QUALITY = 85


def tile_at(pyramid: MBTiles, z: int, x: int, y: int) -> bytes | None:
    """The tile ``z/x/y`` (row from the top): stored, or resampled below the bottom level; None if empty."""
    grid = pyramid.info.grid
    if not grid.minzoom <= z <= grid.maxzoom:
        return None
    if z <= pyramid.info.maxzoom:
        return pyramid.tile(z, x, y)
    fine, bottom = grids.level(grid, z), grids.level(grid, pyramid.info.maxzoom)
    if not (0 <= x < fine.width and 0 <= y < fine.height):
        return None
    # The tile's window in bottom-level pixels.
    px0 = (fine.left + x * fine.span - bottom.left) / bottom.cell
    py0 = (bottom.top - (fine.top - y * fine.span)) / bottom.cell
    size = fine.span / bottom.cell
    tx0, ty0 = math.floor(px0 / bottom.tile), math.floor(py0 / bottom.tile)
    tx1 = math.floor((px0 + size - 1e-9) / bottom.tile)
    ty1 = math.floor((py0 + size - 1e-9) / bottom.tile)
    if (tx1 - tx0 + 1) * (ty1 - ty0 + 1) > MAX_SOURCE_TILES:
        return None
    canvas = np.zeros(((ty1 - ty0 + 1) * bottom.tile, (tx1 - tx0 + 1) * bottom.tile, 4), dtype=np.uint8)
    found = False
    for ty in range(ty0, ty1 + 1):
        for tx in range(tx0, tx1 + 1):
            tile = pyramid.image(pyramid.info.maxzoom, tx, ty)
            if tile is None:
                continue
            found = True
            r, c = (ty - ty0) * bottom.tile, (tx - tx0) * bottom.tile
            canvas[r : r + bottom.tile, c : c + bottom.tile] = tile
    if not found:
        return None
    left, top = px0 - tx0 * bottom.tile, py0 - ty0 * bottom.tile
    image = Image.fromarray(canvas).resize(
        (fine.tile, fine.tile), Image.Resampling.BICUBIC, box=(left, top, left + size, top + size)
    )
    if not np.asarray(image)[..., 3].any():
        return None
    buf = io.BytesIO()
    if pyramid.info.format == "image/jpeg":
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        Image.alpha_composite(white, image).convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buf, format="PNG")
    return buf.getvalue()
