"""A level that is not a 2×2 step of the level below (LAMB93's coarse levels), made from that level.

Rendering such a level from the source reads the whole mosaic at full resolution for a handful of
tiles (LAMB93's levels 0–4: a third of a build's time). When the level below is small (at most
:data:`MAX_BELOW_TILES` tiles), its tiles (with their masks, when the pyramid records them) are
decoded, mosaicked and resampled onto the level's grid instead, as ROK4 builds a level from the
one below: colours are the alpha-weighted average of the data below (GDAL's ``average`` warp with
an alpha band), and a pixel holds data when any pixel below it does (``max`` of the alpha), as in
:meth:`raster_image.Picture.halved`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from affine import Affine
from morecantile import TileMatrixSet
from rasterio.enums import Resampling
from rasterio.warp import reproject

from gpf_flow import tms as grids
from gpf_flow.processings.mbtiles import MBTilesWriter, TileImage
from gpf_flow.processings.raster_image import Picture
from gpf_flow.processings.raster_mask import decode_tile

MAX_BELOW_TILES = 256
"""Largest level below (in tiles, 16 MB of pixels each 64) that a coarse level is made from."""

Emit = Callable[[int, int, int, TileImage], bool]
"""Receives (zoom, column, row from the top, image); returns whether a tile was written."""


def _mosaic(
    tiles: dict[tuple[int, int], tuple[bytes, bytes | None]], channels: int
) -> tuple[np.ndarray[Any, Any], tuple[int, int]]:
    """The decoded tiles as one ``(C, H, W)`` array, and its first tile's (column, row)."""
    mode = "LA" if channels == 2 else "RGBA"
    xs, ys = [x for x, _ in tiles], [y for _, y in tiles]
    x0, y0 = min(xs), min(ys)
    size = 256
    out = np.zeros((channels, (max(ys) - y0 + 1) * size, (max(xs) - x0 + 1) * size), dtype=np.uint8)
    for (x, y), (data, mask) in tiles.items():
        image = decode_tile(data, mask, mode)
        out[:, (y - y0) * size : (y - y0 + 1) * size, (x - x0) * size : (x - x0 + 1) * size] = np.moveaxis(
            image, -1, 0
        )
    return out, (x0, y0)


def from_level_below(tms: TileMatrixSet, zoom: int, writer: MBTilesWriter, channels: int, emit: Emit) -> bool:
    """Make level ``zoom`` from level ``zoom + 1`` already written; False when that level is too big."""
    if writer.counts().get(zoom + 1, 0) > MAX_BELOW_TILES:
        return False
    below = {(x, y): (data, mask) for x, y, data, mask in writer.tiles(zoom + 1)}
    if not below:
        return True
    source, (sx, sy) = _mosaic(below, channels)
    fine, coarse = grids.level(tms, zoom + 1), grids.level(tms, zoom)
    left, top = fine.left + sx * fine.span, fine.top - sy * fine.span
    src_transform = Affine(fine.cell, 0, left, 0, -fine.cell, top)
    bounds = (left, top - source.shape[1] * fine.cell, left + source.shape[2] * fine.cell, top)
    found = coarse.tile_range(bounds)
    if found is None:
        return True
    x0, y0, x1, y1 = found
    dst_transform = Affine(
        coarse.cell, 0, coarse.left + x0 * coarse.span, 0, -coarse.cell, coarse.top - y0 * coarse.span
    )
    shape = (channels, (y1 - y0 + 1) * coarse.tile, (x1 - x0 + 1) * coarse.tile)
    colour = np.zeros(shape, dtype=np.uint8)
    alpha = np.zeros(shape[1:], dtype=np.uint8)
    crs = tms.rasterio_crs
    common = {"src_transform": src_transform, "src_crs": crs, "dst_transform": dst_transform, "dst_crs": crs}
    reproject(source, colour, src_alpha=channels, dst_alpha=channels, resampling=Resampling.average, **common)
    reproject(source[-1], alpha, resampling=Resampling.max, **common)
    colour[-1] = alpha
    size = coarse.tile
    for ty in range(y1 - y0 + 1):
        for tx in range(x1 - x0 + 1):
            bands = colour[:, ty * size : (ty + 1) * size, tx * size : (tx + 1) * size]
            if bands[-1].any():
                emit(zoom, x0 + tx, y0 + ty, Picture.from_bands(bands).array())
    return True
