"""GetMap over pyramids on any grid: read the level that fits, mosaic its tiles, reproject with rasterio.

MapProxy serves PM pyramids (its grids have one origin and power-of-two levels); pyramids on the
platform's other grids (``2154_5cm``, ``LAMB93``, ``4326``, UTM grids...) are drawn here, in any
CRS the WMS advertises. The level read is the coarsest one at least as fine as the map asks,
within the pyramid's levels; finer maps are resampled from its bottom level.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from affine import Affine
from PIL import Image
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from gpf_flow import tms as grids
from gpf_flow.raster_style import RasterStyle, apply_style
from gpf_flow.raster_style.ground import cell_metres
from gpf_flow.serve.mbtiles import MBTiles
from gpf_flow.serve.ows import OgcError

MAX_TILES = 400
"""Tiles one layer may read for one map (beyond, a coarser level is read)."""


@dataclass(frozen=True)
class MapRequest:
    """A GetMap request, bbox in x/y (east/north) order."""

    crs: CRS
    bbox: tuple[float, float, float, float]
    width: int
    height: int


def _level_for(pyramid: MBTiles, request: MapRequest, bounds: tuple[float, float, float, float]) -> int:
    """The coarsest stored level at least as fine as the map (in the grid's units)."""
    grid = pyramid.info.grid
    wanted = min((bounds[2] - bounds[0]) / request.width, (bounds[3] - bounds[1]) / request.height)
    info = pyramid.info
    chosen = info.maxzoom
    for z in range(info.minzoom, info.maxzoom + 1):
        if grid.matrix(z).cellSize <= wanted * 1.01:
            chosen = z
            break
    while chosen > info.minzoom:
        found = grids.level(grid, chosen).tile_range(bounds)
        if found is None or (found[2] - found[0] + 1) * (found[3] - found[1] + 1) <= MAX_TILES:
            break
        chosen -= 1
    return chosen


def _layer_image(
    pyramid: MBTiles, request: MapRequest, style: RasterStyle | None = None
) -> np.ndarray | None:
    """The layer drawn on the map's grid: (4, H, W) uint8 RGBA, or None when nothing is there."""
    grid = pyramid.info.grid
    grid_crs = CRS.from_user_input(grid.rasterio_crs.to_wkt())
    try:
        bounds = transform_bounds(request.crs, grid_crs, *request.bbox, densify_pts=21)
    except Exception:  # the map lies where the grid's CRS is undefined
        return None
    if not all(math.isfinite(v) for v in bounds):
        return None
    z = _level_for(pyramid, request, bounds)
    level = grids.level(grid, z)
    found = level.tile_range(bounds)
    if found is None:
        return None
    x0, y0, x1, y1 = found
    mosaic = np.zeros((4, (y1 - y0 + 1) * level.tile, (x1 - x0 + 1) * level.tile), dtype=np.uint8)
    any_tile = False
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            tile = pyramid.image(z, x, y)
            if tile is None:
                continue
            any_tile = True
            r, c = (y - y0) * level.tile, (x - x0) * level.tile
            mosaic[:, r : r + level.tile, c : c + level.tile] = np.moveaxis(tile, -1, 0)
    if not any_tile:
        return None
    src_transform = Affine(
        level.cell, 0, level.left + x0 * level.span, 0, -level.cell, level.top - y0 * level.span
    )
    if style is not None:  # a ROK4 style works on the stored values, before resampling
        mosaic = apply_style(style, mosaic, cell_metres(grid_crs, src_transform, mosaic.shape[1:]))
    w, s, e, n = request.bbox
    dst_transform = Affine((e - w) / request.width, 0, w, 0, -(n - s) / request.height, n)
    out = np.zeros((4, request.height, request.width), dtype=np.uint8)
    reproject(
        mosaic,
        out,
        src_transform=src_transform,
        src_crs=grid_crs,
        dst_transform=dst_transform,
        dst_crs=request.crs,
        resampling=Resampling.bilinear,
    )
    return out


def render_map(
    pyramids: list[MBTiles],
    request: MapRequest,
    media_type: str,
    transparent: bool,
    styles: Sequence[RasterStyle | None] = (),
) -> bytes:
    """The map of ``pyramids`` (first at the bottom, each drawn with its style), encoded as ``media_type``."""
    color = np.zeros((request.height, request.width, 3), dtype=np.float32)  # premultiplied
    alpha = np.zeros((request.height, request.width, 1), dtype=np.float32)
    for k, pyramid in enumerate(pyramids):
        layer = _layer_image(pyramid, request, styles[k] if k < len(styles) else None)
        if layer is None:
            continue
        rgba = np.moveaxis(layer, 0, -1).astype(np.float32)
        a = rgba[..., 3:] / 255.0
        color = rgba[..., :3] * a + color * (1 - a)
        alpha = a + alpha * (1 - a)
    straight = np.where(alpha > 0, color / np.maximum(alpha, 1e-6), 0)
    rgba_out = np.concatenate([straight, alpha * 255.0], axis=-1)
    image = Image.fromarray(np.clip(rgba_out + 0.5, 0, 255).astype(np.uint8), "RGBA")
    buf = io.BytesIO()
    if media_type == "image/jpeg" or not transparent:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        flat = Image.alpha_composite(white, image).convert("RGB")
        if media_type == "image/jpeg":
            flat.save(buf, format="JPEG", quality=90)
        else:
            flat.save(buf, format="PNG")
    elif media_type == "image/png":
        image.save(buf, format="PNG")
    else:
        raise OgcError(
            "InvalidFormat", f"format {media_type} is not offered (image/png, image/jpeg)", "format"
        )
    return buf.getvalue()
