"""The lon/lat bounding box of an upload's data (the API's ``bbox`` of an upload).

Only headers are read (raster bounds, vector layer extents), so closing an upload stays cheap;
files that cannot be read are skipped here: the checks are what report them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gpf_flow.checks.raster_check import RASTER_EXTENSIONS
from gpf_flow.checks.vector_check import VECTOR_EXTENSIONS

Box = tuple[float, float, float, float]


def _lonlat(bounds: Iterable[float], crs: Any) -> Box | None:
    from pyproj import CRS, Transformer

    west, south, east, north = (float(v) for v in bounds)
    if not all(math.isfinite(v) for v in (west, south, east, north)) or west > east or south > north:
        return None
    to_lonlat = Transformer.from_crs(CRS.from_user_input(crs), "EPSG:4326", always_xy=True)
    box = to_lonlat.transform_bounds(west, south, east, north, densify_pts=21)
    return box if all(math.isfinite(v) for v in box) else None


def _raster_box(path: Path, declared: str | None) -> Box | None:
    import rasterio

    with rasterio.open(path) as dataset:
        crs = dataset.crs or declared
        return _lonlat(dataset.bounds, crs) if crs else None


def _vector_boxes(path: Path, declared: str | None) -> list[Box]:
    import pyogrio

    boxes = []
    for name, geometry_type in pyogrio.list_layers(path):
        if geometry_type is None:
            continue
        info = pyogrio.read_info(path, layer=name, force_total_bounds=True)
        crs = info.get("crs") or declared
        box = _lonlat(info["total_bounds"], crs) if crs and info.get("features") else None
        if box is not None:
            boxes.append(box)
    return boxes


def data_bbox(root: Path, declared_srs: str | None = None) -> dict[str, float] | None:
    """``{"west", "south", "east", "north"}`` in degrees covering every raster and vector layer
    under ``root`` (the upload's declared srs stands in for data without one); None if none."""
    boxes: list[Box] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        try:
            if suffix in RASTER_EXTENSIONS:
                box = _raster_box(path, declared_srs)
                boxes += [box] if box is not None else []
            elif suffix in VECTOR_EXTENSIONS:
                boxes += _vector_boxes(path, declared_srs)
        except Exception:  # noqa: BLE001 - unreadable data is the checks' to report, not the close's
            continue
    if not boxes:
        return None
    return {
        "west": min(b[0] for b in boxes),
        "south": min(b[1] for b in boxes),
        "east": max(b[2] for b in boxes),
        "north": max(b[3] for b in boxes),
    }
