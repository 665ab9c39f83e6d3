"""Processing "Calcul ou mise à jour de pyramide raster par moissonnage WMS": a pyramid from a WMS.

For each harvest level (``harvest_levels``, finest first), the WMS (``harvest_url``,
``harvest_layers``) is asked for the tiles of that level over ``harvest_area`` (WKT, lon/lat), in
blocks of up to 8×8 tiles, in the grid's CRS and at the level's resolution; each block becomes a
GeoTIFF. The levels from a harvest level up to the next one are then built from those images by
the raster pyramid builder, and the parts are merged into ``pyramid.mbtiles``.

Requests time out after :data:`TIMEOUT_S` and are retried :data:`ATTEMPTS` times; a WMS that
answers an error, an exception report or something that is not an image fails the processing
with what it said.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import rasterio
import shapely
from affine import Affine
from lxml import etree
from PIL import Image, UnidentifiedImageError
from pyproj import CRS
from rasterio.enums import ColorInterp
from rasterio.warp import transform_bounds

from gpf_flow import tms as grids
from gpf_flow.processings import raster_pyramid
from gpf_flow.processings.base import InputData, ProcessingContext, ProcessingFailed, ProcessingResult
from gpf_flow.processings.disk_errors import write_failure
from gpf_flow.processings.mbtiles import MBTilesReader, MBTilesWriter
from gpf_flow.processings.raster_params import parse_params

BLOCK_TILES = 8
TIMEOUT_S = 30.0
ATTEMPTS = 3
MAX_REQUESTS = 2000


def _levels(params: Mapping[str, Any]) -> list[int]:
    raw = params.get("harvest_levels") or []
    if isinstance(raw, str):
        raw = [v for v in raw.replace(";", ",").split(",") if v.strip()]
    try:
        levels = sorted({int(str(v).strip()) for v in raw}, reverse=True)
    except ValueError:
        raise ProcessingFailed(f"parameter 'harvest_levels' must list level numbers, got {raw!r}") from None
    if not levels:
        raise ProcessingFailed("parameter 'harvest_levels' is missing: list the levels to ask the WMS for")
    return levels


def _require(params: Mapping[str, Any], name: str) -> str:
    value = str(params.get(name) or "").strip()
    if not value:
        raise ProcessingFailed(f"parameter {name!r} is missing")
    return value


def _describe(response: httpx.Response) -> str:
    """What an error answer says: an OGC exception report's messages, else its first characters."""
    if "xml" in response.headers.get("content-type", ""):
        try:
            root = etree.fromstring(response.content)
        except etree.XMLSyntaxError:
            pass
        else:
            found = [
                " ".join(filter(None, [el.get("code") or el.get("exceptionCode"), (el.text or "").strip()]))
                for el in root.iter("{*}ServiceException", "{*}ExceptionText", "{*}Exception")
            ]
            if any(found):
                return "; ".join(f for f in found if f)
    return response.text[:300].strip().replace("\n", " ")


def _get(client: httpx.Client, url: str, query: dict[str, str], ctx: ProcessingContext) -> bytes:
    """One GetMap, retried; the image bytes or a failure saying what the WMS answered."""
    problem = ""
    for attempt in range(ATTEMPTS):
        ctx.check_abort()
        try:
            response = client.get(url, params=query)
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            kind = response.headers.get("content-type", "")
            if response.status_code == 200 and kind.startswith("image/"):
                return response.content
            problem = f"HTTP {response.status_code} {kind}: {_describe(response)}"
            if response.status_code < 500 and response.status_code != 429:
                break  # the request itself is wrong: retrying will not help
        time.sleep(0.5 * 2**attempt)
    raise ProcessingFailed(f"the WMS at {url} did not answer an image: {problem}")


def _harvest_level(
    ctx: ProcessingContext,
    client: httpx.Client,
    z: int,
    area: tuple[float, float, float, float],
    folder: Path,
) -> int:
    params = ctx.parameters
    grid = parse_params(params).tms
    crs = CRS.from_user_input(grid.rasterio_crs.to_wkt())
    epsg = crs.to_epsg(min_confidence=70)
    if epsg is None:
        raise ProcessingFailed(f"the grid's CRS has no EPSG code to ask the WMS for ({crs.name})")
    code = f"EPSG:{epsg}"
    north_first = bool(crs.axis_info) and crs.axis_info[0].direction.lower() in ("north", "south")
    level = grids.level(grid, z)
    found = level.tile_range(transform_bounds("EPSG:4326", crs, *area, densify_pts=21))
    if found is None:
        raise ProcessingFailed(f"harvest_area lies outside the grid at level {z}")
    x0, y0, x1, y1 = found
    blocks = [(bx, by) for by in range(y0, y1 + 1, BLOCK_TILES) for bx in range(x0, x1 + 1, BLOCK_TILES)]
    if len(blocks) > MAX_REQUESTS:
        raise ProcessingFailed(f"harvesting level {z} would need {len(blocks)} WMS requests; lower it")
    folder.mkdir(parents=True)
    url = _require(params, "harvest_url")
    fmt = str(params.get("harvest_format") or "image/png")
    for bx, by in blocks:
        w, h = min(BLOCK_TILES, x1 - bx + 1), min(BLOCK_TILES, y1 - by + 1)
        left, top = level.left + bx * level.span, level.top - by * level.span
        right, bottom = left + w * level.span, top - h * level.span
        bbox = (bottom, left, top, right) if north_first else (left, bottom, right, top)
        query = {
            "SERVICE": "WMS",
            "VERSION": "1.3.0",
            "REQUEST": "GetMap",
            "LAYERS": _require(params, "harvest_layers"),
            "STYLES": "",
            "CRS": code,
            "BBOX": ",".join(repr(v) for v in bbox),
            "WIDTH": str(w * level.tile),
            "HEIGHT": str(h * level.tile),
            "FORMAT": fmt,
            "TRANSPARENT": "TRUE",
        }
        data = _get(client, url, query, ctx)
        try:
            image = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
        except (UnidentifiedImageError, OSError) as exc:
            raise ProcessingFailed(f"the WMS at {url} answered an unreadable image: {exc}") from None
        profile = {"driver": "GTiff", "width": image.shape[1], "height": image.shape[0], "count": 4}
        transform = Affine(level.cell, 0, left, 0, -level.cell, top)
        with rasterio.open(
            folder / f"block_{bx}_{by}.tif", "w", dtype="uint8", crs=crs, transform=transform, **profile
        ) as dst:
            dst.write(np.moveaxis(image, -1, 0))
            dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    ctx.log(f"harvest level {z}: {len(blocks)} GetMap request(s) of up to {BLOCK_TILES}x{BLOCK_TILES} tiles")
    return len(blocks)


def run(ctx: ProcessingContext) -> ProcessingResult:
    """Harvest the WMS at the harvest levels and build the pyramid from the images."""
    try:
        return _run(ctx)
    except OSError as exc:  # a full disk or a permission: say which file, and why
        raise write_failure(exc) from None


def _run(ctx: ProcessingContext) -> ProcessingResult:
    params = dict(ctx.parameters)
    levels = _levels(params)
    try:
        area = shapely.from_wkt(_require(params, "harvest_area")).bounds
    except shapely.errors.GEOSException as exc:
        raise ProcessingFailed(f"parameter 'harvest_area' is not WKT: {exc}") from None
    bottom = int(str(params.get("bottom") or params.get("bottom_level") or levels[0]))
    if levels[0] > bottom:
        raise ProcessingFailed(f"harvest level {levels[0]} is below the pyramid's bottom level {bottom}")
    top = int(str(params.get("top") or params.get("top_level") or 0))
    scratch = ctx.output_dir / ".harvest-work"
    parts: list[tuple[Path, ProcessingResult]] = []
    try:
        with httpx.Client(timeout=TIMEOUT_S, follow_redirects=True) as client:
            for i, z in enumerate(levels):
                folder = scratch / f"level-{z}"
                _harvest_level(ctx, client, z, area, folder)
                # Levels from this harvest level's (the bottom for the first) up to the next one's.
                part_bottom = bottom if i == 0 else z
                part_top = levels[i + 1] + 1 if i + 1 < len(levels) else top
                out = scratch / f"part-{z}"
                out.mkdir()
                part_params = {**params, "bottom_level": part_bottom, "top_level": part_top}
                for key in ("bottom", "top"):
                    part_params.pop(key, None)
                part_ctx = dataclasses.replace(
                    ctx,
                    parameters=part_params,
                    uploads=[InputData(entity={"type": "RASTER"}, path=folder)],
                    stored_data=[],
                    output_dir=out,
                )
                parts.append((out, raster_pyramid.run(part_ctx)))
        return _merge(ctx, parts)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _merge(ctx: ProcessingContext, parts: list[tuple[Path, ProcessingResult]]) -> ProcessingResult:
    first = parts[0][1]
    grid = parse_params(ctx.parameters).tms
    target = ctx.output_dir / raster_pyramid.OUTPUT_NAME
    tmp = target.with_suffix(".part")
    writer = MBTilesWriter(tmp, grid)
    try:
        for folder, _ in parts:
            writer.merge(folder / raster_pyramid.OUTPUT_NAME, ctx.check_abort)
        counts = writer.counts()
        with MBTilesReader(parts[0][0] / raster_pyramid.OUTPUT_NAME) as reader:
            meta = reader.metadata()
        meta.update({"minzoom": str(min(counts)), "maxzoom": str(max(counts))})
        writer.set_metadata(meta)
        writer.close()
    except BaseException:
        writer.abandon()
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)
    infos = dict(first.type_infos)
    top = min(int(r.type_infos["top_level"]) for _, r in parts)
    bottom = max(int(r.type_infos["bottom_level"]) for _, r in parts)
    infos.update(
        {
            "levels": [str(z) for z in range(top, bottom + 1)],
            "top_level": str(top),
            "bottom_level": str(bottom),
            "tiles": {str(z): counts.get(z, 0) for z in range(top, bottom + 1)},
        }
    )
    ctx.log(f"harvested pyramid: {sum(counts.values())} tiles, levels {top}-{bottom}")
    return ProcessingResult(type_infos=infos, srs=first.srs, extent=first.extent)
