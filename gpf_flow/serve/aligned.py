"""GetMaps that are exactly one stored tile: answered from the pyramid, without a merge.

A map in the pyramid's CRS whose box is one tile of a stored level, at that tile's size, is that
tile: its bytes when the format is the pyramid's (and the tile's transparency is kept or
irrelevant), else one decode and encode, flattened on white as the other paths do. The tiles
of a masked pyramid are always decoded with their mask as alpha (transparent off the data).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping

from PIL import Image
from pyproj import CRS

from gpf_flow import tms as grids
from gpf_flow.serve.mbtiles import MBTiles
from gpf_flow.serve.ows import OgcError, crs_code, is_north_east, parse_bbox
from gpf_flow.serve.raster_styles import style_requested

TOLERANCE_PX = 0.01
"""How far (in pixels) the box may be from the tile's edges and still be that tile."""
JPEG_QUALITY = 90
"""The quality MapProxy and the own renderer encode maps with."""


@functools.cache
def grid_crs_code(tile_matrix_set: str) -> str | None:
    """The grid's CRS as ``EPSG:n`` (None when it has no EPSG equivalent)."""
    crs = CRS.from_user_input(grids.get(tile_matrix_set).rasterio_crs.to_wkt())
    code = crs.to_epsg(min_confidence=70)
    return f"EPSG:{code}" if code else None


@functools.cache
def _level(tile_matrix_set: str, z: int) -> grids.Level:
    return grids.level(grids.get(tile_matrix_set), z)


def tile_of(
    pyramid: MBTiles, code: str, bbox: tuple[float, float, float, float], width: int, height: int
) -> tuple[int, int, int] | None:
    """``(z, col, row)`` of the stored level's tile that the map is (bbox in x/y order), or None."""
    info = pyramid.info
    if code != grid_crs_code(info.tile_matrix_set):
        return None
    for z in range(info.minzoom, info.maxzoom + 1):
        level = _level(info.tile_matrix_set, z)
        if (width, height) != (level.tile, level.tile):
            continue
        slack = TOLERANCE_PX * level.cell
        if abs(bbox[2] - bbox[0] - level.span) > slack or abs(bbox[3] - bbox[1] - level.span) > slack:
            continue
        col = round((bbox[0] - level.left) / level.span)
        row = round((level.top - bbox[3]) / level.span)
        on_edges = (
            abs(level.left + col * level.span - bbox[0]) <= slack
            and abs(level.top - row * level.span - bbox[3]) <= slack
        )
        if on_edges and 0 <= col < level.width and 0 <= row < level.height:
            return z, col, row
        return None
    return None


def target(pyramid: MBTiles, params: Mapping[str, str]) -> tuple[int, int, int] | None:
    """``(z, col, row)`` of the stored level's tile that a GetMap (upper-case keys) is, or None.

    Arithmetic only (no tile read): cheap enough for the event loop."""
    if params.get("BGCOLOR") or style_requested(params):  # a styled map is never the stored tile
        return None
    if params.get("FORMAT", "").split(";")[0].strip().lower() not in ("image/png", "image/jpeg"):
        return None
    version = params.get("VERSION", "1.3.0")
    name = params.get("CRS" if version == "1.3.0" else "SRS")
    try:
        if not name:
            return None
        code = crs_code(name)
        if code != grid_crs_code(pyramid.info.tile_matrix_set):
            return None
        bbox = parse_bbox(params.get("BBOX", ""))
        width, height = int(params.get("WIDTH", "")), int(params.get("HEIGHT", ""))
    except (ValueError, OgcError):  # the full path reports it
        return None
    if version == "1.3.0" and is_north_east(code):
        bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
    return tile_of(pyramid, code, bbox, width, height)


def answer(
    pyramid: MBTiles, tile: tuple[int, int, int], params: Mapping[str, str]
) -> tuple[bytes, str] | None:
    """The body and media type of a GetMap that is ``tile`` (see :func:`target`); None when the
    pyramid has no tile there (the full path draws the empty map)."""
    media = params.get("FORMAT", "").split(";")[0].strip().lower()
    transparent = params.get("TRANSPARENT", "false").lower() == "true"
    if pyramid.info.masked:  # the tile's mask is its alpha: decode it with the tile
        pixels = pyramid.image(*tile)
        if pixels is None:
            return None
        return _encode(Image.fromarray(pixels, "RGBA"), media, transparent), media
    data = pyramid.tile(*tile)
    if data is None:
        return None
    if media == pyramid.info.format and (media == "image/jpeg" or transparent):
        return data, media
    return _encode(Image.open(io.BytesIO(data)).convert("RGBA"), media, transparent), media


def _encode(image: Image.Image, media: str, transparent: bool) -> bytes:
    """An RGBA tile encoded as the map's format, flattened on white unless a transparent PNG."""
    buf = io.BytesIO()
    if media == "image/png" and transparent:
        image.save(buf, format="PNG")
        return buf.getvalue()
    flat = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image).convert("RGB")
    if media == "image/jpeg":
        flat.save(buf, format="JPEG", quality=JPEG_QUALITY)
    else:
        flat.save(buf, format="PNG")
    return buf.getvalue()
