"""Processing "Fusion de pyramides raster": several pyramids on one grid merged into a new one.

Inputs are drawn in the order given, each over the previous ones: where they overlap, the later
input wins, except where it is transparent (no data, masks), where the earlier shows through. A
tile only one input has is copied as is; tiles several inputs share are composited, at every
level (each input's upper levels were computed from its own data, so compositing them is what a
rebuild from the merged bottom level gives wherever the inputs are opaque).
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import numpy as np
from morecantile import TileMatrixSet
from PIL import Image
from shapely.geometry import mapping, shape
from shapely.ops import unary_union

from gpf_flow import tms as grids
from gpf_flow.processings.base import ProcessingContext, ProcessingFailed, ProcessingResult
from gpf_flow.processings.disk_errors import write_failure
from gpf_flow.processings.mbtiles import MBTilesReader, MBTilesWriter
from gpf_flow.processings.raster_image import encode_tile
from gpf_flow.processings.raster_mask import MASK_METADATA, decode_tile, encode_mask
from gpf_flow.processings.raster_pyramid import OUTPUT_NAME
from gpf_flow.processings.raster_update import BasePyramid


def _over(top: np.ndarray[Any, Any], below: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    a = top[..., -1:].astype(np.float32) / 255.0
    b = below[..., -1:].astype(np.float32) / 255.0
    alpha = a + b * (1 - a)
    color = top[..., :-1] * a + below[..., :-1] * b * (1 - a)
    color = np.where(alpha > 0, color / np.maximum(alpha, 1e-6), 0)
    return np.clip(np.concatenate([color, alpha * 255.0], axis=-1) + 0.5, 0, 255).astype(np.uint8)


def run(ctx: ProcessingContext) -> ProcessingResult:
    """Merge the input pyramids (later inputs on top) into ``pyramid.mbtiles``."""
    try:
        return _run(ctx)
    except OSError as exc:  # a full disk or a permission: say which file, and why
        raise write_failure(exc) from None


def _run(ctx: ProcessingContext) -> ProcessingResult:
    started = time.monotonic()
    inputs = []
    for data in ctx.stored_data:
        path = data.path / str((data.entity.get("type_infos") or {}).get("file") or OUTPUT_NAME)
        if not path.is_file():
            raise ProcessingFailed(
                f"input stored data {data.entity.get('_id')} holds no pyramid ({path.name})"
            )
        inputs.append((BasePyramid.open(path, data.entity), data.entity))
    if len(inputs) < 2:
        raise ProcessingFailed("the fusion needs at least two input pyramids (inputs.stored_data)")
    first = inputs[0][0]
    for base, entity in inputs[1:]:
        if (base.tile_matrix_set, base.format) != (first.tile_matrix_set, first.format):
            raise ProcessingFailed(
                f"input {entity.get('_id')} is a {base.tile_matrix_set} {base.format} pyramid, the first one "
                f"{first.tile_matrix_set} {first.format}: merge pyramids of the same grid and format"
            )
    grid = grids.get(first.tile_matrix_set)
    compression = "jpg" if first.format == "jpg" else "png"
    names = [str(e.get("name") or e.get("_id")) for _, e in inputs]
    ctx.log(f"fusion of {len(inputs)} pyramids on {first.tile_matrix_set}, later on top: {', '.join(names)}")
    tmp = ctx.output_dir / (OUTPUT_NAME + ".part")
    writer = MBTilesWriter(tmp, grid)
    readers = [MBTilesReader(base.path) for base, _ in inputs]
    try:
        merged = _merge(ctx, grid, readers, writer, compression)
        counts = writer.counts()
        meta = readers[0].metadata()
        if compression == "jpg" and any(reader.has_masks for reader in readers):
            meta[MASK_METADATA] = "true"
        top, bottom = min(b.top for b, _ in inputs), max(b.bottom for b, _ in inputs)
        west = min(b.bbox[0] for b, _ in inputs)
        south = min(b.bbox[1] for b, _ in inputs)
        east = max(b.bbox[2] for b, _ in inputs)
        north = max(b.bbox[3] for b, _ in inputs)
        writer.set_metadata(
            {
                **meta,
                "name": (ctx.output_entity or {}).get("name", "pyramid"),
                "bounds": f"{west},{south},{east},{north}",
                "center": f"{(west + east) / 2},{(south + north) / 2},{top}",
                "minzoom": min(counts),
                "maxzoom": max(counts),
                "description": f"ROK4-PYRAMID-RASTER fusion of {', '.join(names)} by gpf-flow",
            }
        )
        writer.close()
    except BaseException:
        writer.abandon()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        for reader in readers:
            reader.close()
    tmp.replace(ctx.output_dir / OUTPUT_NAME)
    extents = [shape(b.extent) for b, _ in inputs if b.extent]
    extent = dict(json.loads(json.dumps(mapping(unary_union(extents))))) if extents else None
    total = sum(counts.values())
    ctx.log(f"wrote {total} tiles ({merged} composited) in {time.monotonic() - started:.1f} s")
    infos = dict(inputs[0][1].get("type_infos") or {})
    infos.update(
        {
            "levels": [str(z) for z in range(top, bottom + 1)],
            "bottom_level": str(bottom),
            "top_level": str(top),
            "bbox": [west, south, east, north],
            "tiles": {str(z): counts.get(z, 0) for z in range(top, bottom + 1)},
            "file": OUTPUT_NAME,
        }
    )
    srs = inputs[0][1].get("srs") or grid.rasterio_crs.to_string()
    return ProcessingResult(type_infos=infos, srs=str(srs), extent=extent)


def _merge(
    ctx: ProcessingContext,
    grid: TileMatrixSet,
    readers: list[MBTilesReader],
    writer: MBTilesWriter,
    compression: str,
) -> int:
    """Copy or composite every tile; returns how many were composited."""
    owners: dict[tuple[int, int, int], list[int]] = {}
    for i, reader in enumerate(readers):
        for key in reader.keys(grid):
            owners.setdefault(key, []).append(i)
    masked = compression == "jpg" and any(reader.has_masks for reader in readers)
    merged = 0
    for n, ((z, x, y), which) in enumerate(sorted(owners.items())):
        if n % 500 == 0:
            ctx.check_abort()
        found = [(t, readers[i].mask(grid, z, x, y)) for i in which if (t := readers[i].tile(grid, z, x, y))]
        if len(found) == 1:
            writer.put(z, x, y, found[0][0])
            if found[0][1] is not None:
                writer.put_mask(z, x, y, found[0][1])
            continue
        first = Image.open(io.BytesIO(found[0][0]))
        mode = "LA" if first.mode in ("L", "LA") else "RGBA"
        image = decode_tile(*found[0], mode)
        for blob, mask in found[1:]:
            image = _over(decode_tile(blob, mask, mode), image)
        data = encode_tile(image, compression)
        if data is not None:
            writer.put(z, x, y, data)
            if masked and (mask := encode_mask(image)) is not None:
                writer.put_mask(z, x, y, mask)
            merged += 1
    return merged
