"""GetFeatureInfo of the raster WMS: the pyramid's pixel value under the clicked point.

MapProxy reading a cache with ``sources: []`` has nothing to query, so ``/wms-r`` answers
GetFeatureInfo itself for layers whose configuration asks for it (``type_infos.getfeatureinfo``),
reading the pyramid's most detailed level (on its own grid), as ROK4 does for raster layers.
"""

from __future__ import annotations

import html
import io
import json
import math
from collections.abc import Mapping
from typing import Any

from lxml import etree
from PIL import Image

from gpf_flow import tms as grids
from gpf_flow.serve.mbtiles import MBTiles
from gpf_flow.serve.ows import OgcError, crs_code, is_north_east, parse_bbox, require
from gpf_flow.serve.published import PublishedLayer
from gpf_flow.serve.vector_data import transformer

INFO_FORMATS = ("text/plain", "text/html", "application/json", "text/xml")


def queryable(layer: PublishedLayer) -> bool:
    """Raster layers answer GetFeatureInfo only when the configuration asks for it."""
    return bool(layer.type_infos.get("getfeatureinfo"))


def mark_queryable(capabilities: bytes, names: set[str]) -> bytes:
    """Set ``queryable="1"`` on the named layers of MapProxy's capabilities document."""
    root = etree.fromstring(capabilities)
    for layer in root.iter("{*}Layer"):
        name = layer.find("{*}Name")
        if name is not None and name.text in names:
            layer.set("queryable", "1")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def pixel_info(layers: list[tuple[PublishedLayer, MBTiles]], params: Mapping[str, str]) -> tuple[bytes, str]:
    """The body and media type answering one GetFeatureInfo request."""
    version = params.get("VERSION", "1.3.0")
    code = crs_code(require(params, "CRS" if version == "1.3.0" else "SRS"))
    bbox = parse_bbox(require(params, "BBOX"))
    if version == "1.3.0" and is_north_east(code):
        bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
    try:
        width, height = int(require(params, "WIDTH")), int(require(params, "HEIGHT"))
        i = float(require(params, "I" if version == "1.3.0" else "X"))
        j = float(require(params, "J" if version == "1.3.0" else "Y"))
    except ValueError as exc:
        raise OgcError("InvalidParameterValue", "WIDTH, HEIGHT, I and J must be numbers") from exc
    if not (0 <= i < width and 0 <= j < height):
        raise OgcError("InvalidPoint", f"point ({i}, {j}) is outside the {width}x{height} map")
    info_format = params.get("INFO_FORMAT", "text/plain").lower()
    if info_format not in INFO_FORMATS:
        raise OgcError(
            "InvalidFormat",
            f"INFO_FORMAT {info_format} is not offered (use one of {', '.join(INFO_FORMATS)})",
            "info_format",
        )
    x = bbox[0] + (i + 0.5) * (bbox[2] - bbox[0]) / width
    y = bbox[3] - (j + 0.5) * (bbox[3] - bbox[1]) / height
    src = "EPSG:4326" if code == "CRS:84" else code
    found = []
    for layer, pyramid in layers:
        target = pyramid.info.grid.rasterio_crs.to_string()
        gx, gy = transformer(src, target).transform(x, y)
        value = _pixel(pyramid, gx, gy)
        found.append({"layer": layer.layer_name, "values": value})
    return _format(found, info_format)


def _pixel(pyramid: MBTiles, gx: float, gy: float) -> list[int] | None:
    """The bottom level's pixel at ``(gx, gy)`` in the pyramid's grid CRS."""
    level = grids.level(pyramid.info.grid, pyramid.info.maxzoom)
    col, row = math.floor((gx - level.left) / level.span), math.floor((level.top - gy) / level.span)
    data = pyramid.tile(pyramid.info.maxzoom, col, row)
    if data is None:
        return None
    px = min(level.tile - 1, int((gx - level.left - col * level.span) / level.cell))
    py = min(level.tile - 1, int((level.top - gy - row * level.span) / level.cell))
    image = Image.open(io.BytesIO(data))
    value: Any = image.getpixel((px, py))
    values = list(value) if isinstance(value, tuple) else [int(value)]
    if image.mode in ("RGBA", "LA") and values[-1] == 0:
        return None  # transparent: no data there
    return [int(v) for v in values]


def _format(found: list[dict[str, Any]], info_format: str) -> tuple[bytes, str]:
    if info_format == "application/json":
        doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": f} for f in found]}
        return json.dumps(doc).encode(), "application/json"
    if info_format == "text/xml":
        root = etree.Element("FeatureInfoResponse")
        for f in found:
            el = etree.SubElement(root, "Layer", name=f["layer"])
            el.text = " ".join(map(str, f["values"])) if f["values"] is not None else ""
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8")), "text/xml"
    lines = [f"{f['layer']}: {' '.join(map(str, f['values'])) if f['values'] else 'no data'}" for f in found]
    if info_format == "text/html":
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        return f"<!DOCTYPE html><html><body><ul>{items}</ul></body></html>".encode(), "text/html"
    return ("\n".join(lines) + "\n").encode(), "text/plain"
