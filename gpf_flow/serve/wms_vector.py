"""WMS 1.3.0 (and 1.1.1) for WMS-VECTOR offerings: capabilities, GetMap, GetFeatureInfo.

A layer is one configuration (its ``layer_name``); it draws each relation of its used data with
the static SLD the relation names (``relations[].style``) or a default style per geometry type.
GetFeatureInfo answers when the configuration allows it (``type_infos.getfeatureinfo``; vector
layers are queryable unless it is false, as GeoServer's are).
"""

from __future__ import annotations

import io
import json
import logging
import math
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from PIL import Image
from starlette.requests import Request
from starlette.responses import Response

from gpf_flow.errors import NotFoundError
from gpf_flow.serve.ows import (
    SUPPORTED_CRS,
    OgcError,
    answer_kvp,
    check_service,
    crs_code,
    is_north_east,
    parse_bbox,
    render,
    require,
    templates,
    wms_exception,
)
from gpf_flow.serve.published import WMS_VECTOR, PublishedIndex, PublishedLayer
from gpf_flow.serve.sld import Style, default_style, parse_sld
from gpf_flow.serve.vector_data import Relation, VectorSources, transform_bounds, transformer, union_bounds
from gpf_flow.serve.vector_render import StyledFeatures, scale_denominator
from gpf_flow.serve.vector_render import render as render_map
from gpf_flow.store.base import LocalCapabilities

log = logging.getLogger("gpf_flow.serve")

MAX_SIZE = 4096
FORMATS = ("image/png", "image/jpeg")
INFO_FORMATS = ("application/json", "text/plain", "text/html")


def static_file(store: LocalCapabilities, static_id: str) -> Path | None:
    """The file of a static (an SLD); None if there is no such static."""
    try:
        return store.static_file(static_id)
    except NotFoundError:
        return None


def queryable(layer: PublishedLayer) -> bool:
    """Whether GetFeatureInfo answers on this layer."""
    value = layer.type_infos.get("getfeatureinfo")
    return True if value is None else bool(value)


class VectorWms:
    """``/wms-v``."""

    def __init__(self, index: PublishedIndex, sources: VectorSources, store: LocalCapabilities) -> None:
        self.index = index
        self.sources = sources
        self.store = store
        self._styles: dict[tuple[str, float], Style] = {}
        self._lock = threading.Lock()

    async def handle(self, request: Request) -> Response:
        """``/wms-v``: KVP requests; errors as WMS exception reports."""
        return await answer_kvp(request, self._dispatch, wms_exception)

    def _dispatch(self, request: Request, params: Mapping[str, str]) -> Response:
        check_service(params, "WMS")
        req = require(params, "REQUEST").lower()
        if req == "getcapabilities":
            return self._capabilities(request)
        if req == "getmap":
            return self._get_map(params)
        if req == "getfeatureinfo":
            return self._feature_info(params)
        raise OgcError("OperationNotSupported", f"request {req!r} is not supported", "request")

    # -- helpers -----------------------------------------------------------------------------
    def _layers(self) -> dict[str, PublishedLayer]:
        return self.index.snapshot().layers(WMS_VECTOR)

    def _style(self, rel: Relation) -> Style:
        if not rel.style:
            return default_style(rel.geometry_type)
        path = static_file(self.store, rel.style)
        if path is None:
            return default_style(rel.geometry_type)
        key = (str(path), path.stat().st_mtime)
        with self._lock:
            style = self._styles.get(key)
        if style is None:
            try:
                style = parse_sld(path.read_bytes(), name=rel.style)
            except ValueError as exc:
                log.warning(
                    "%s: drawing %s with the default style; fix the static's SLD", exc, rel.public_name
                )
                style = default_style(rel.geometry_type)
            with self._lock:
                self._styles[key] = style
        return style

    def _map_request(self, params: Mapping[str, str], layer_key: str) -> dict[str, Any]:
        """Checks the common GetMap/GetFeatureInfo parameters; returns the parsed request."""
        version = params.get("VERSION", "1.3.0")
        names = [n for n in require(params, layer_key).split(",") if n]
        published = self._layers()
        for name in names:
            if name not in published:
                raise OgcError("LayerNotDefined", f"no published WMS-VECTOR layer named {name!r}", "layers")
        crs_text = require(params, "CRS" if version == "1.3.0" else "SRS")
        code = crs_code(crs_text)
        if code not in SUPPORTED_CRS:
            raise OgcError(
                "InvalidCRS", f"CRS {crs_text} is not offered (use one of {', '.join(SUPPORTED_CRS)})"
            )
        bbox = parse_bbox(require(params, "BBOX"))
        if version == "1.3.0" and is_north_east(code):
            bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
        data_crs = "EPSG:4326" if code == "CRS:84" else code
        try:
            width, height = int(require(params, "WIDTH")), int(require(params, "HEIGHT"))
        except ValueError as exc:
            raise OgcError("InvalidParameterValue", "WIDTH and HEIGHT must be integers") from exc
        if not (0 < width <= MAX_SIZE and 0 < height <= MAX_SIZE):
            raise OgcError("InvalidParameterValue", f"WIDTH and HEIGHT must be within 1..{MAX_SIZE}")
        return {
            "layers": [published[n] for n in names],
            "crs": data_crs,
            "bbox": bbox,
            "size": (width, height),
        }

    def _features(self, rel: Relation, crs: str, bbox: tuple[float, float, float, float]) -> tuple[Any, Any]:
        """Features of ``rel`` in ``bbox`` (map CRS), geometries reprojected to the map CRS."""
        # Clip the map to the data's extent first: a world map does not transform into Lambert-93.
        ext = transform_bounds(rel.bounds, rel.crs, crs)
        clip = (max(bbox[0], ext[0]), max(bbox[1], ext[1]), min(bbox[2], ext[2]), min(bbox[3], ext[3]))
        if not (clip[0] <= clip[2] and clip[1] <= clip[3]) or not all(math.isfinite(v) for v in clip):
            feats = self.sources.read(rel, bbox=None, limit=0)
            return feats, feats.geometries
        feats = self.sources.read(rel, transform_bounds(clip, crs, rel.crs))
        geoms = feats.geometries
        if rel.crs != crs and len(geoms):
            geoms = shapely.transform(geoms, transformer(rel.crs, crs).transform, interleaved=False)
        return feats, geoms

    # -- GetCapabilities -----------------------------------------------------------------------
    def _capabilities(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        items = []
        for _name, layer in sorted(self._layers().items()):
            rels = self.sources.relations(layer)
            if not rels:
                continue
            ll = union_bounds([r.wgs84_bounds for r in rels], (-180.0, -90.0, 180.0, 90.0))
            bboxes = []
            for code in SUPPORTED_CRS:
                if code == "CRS:84":
                    bboxes.append((code, ll))
                    continue
                b = transform_bounds(ll, "EPSG:4326", code)
                if is_north_east(code):
                    b = (b[1], b[0], b[3], b[2])
                bboxes.append((code, b))
            styles = sorted({self._style(r).name for r in rels})
            items.append(
                {"layer": layer, "ll": ll, "bboxes": bboxes, "styles": styles, "queryable": queryable(layer)}
            )
        return render(
            "wms_vector_capabilities.xml.j2",
            base=base,
            items=items,
            crs_list=SUPPORTED_CRS,
            formats=FORMATS,
            info_formats=INFO_FORMATS,
        )

    # -- GetMap ----------------------------------------------------------------------------------
    def _get_map(self, params: Mapping[str, str]) -> Response:
        req = self._map_request(params, "LAYERS")
        fmt = require(params, "FORMAT").lower()
        if fmt not in FORMATS:
            raise OgcError(
                "InvalidFormat", f"FORMAT {fmt} is not offered (use image/png or image/jpeg)", "format"
            )
        styles = [s for s in params.get("STYLES", "").split(",")]
        for s in styles:
            if s and s.lower() not in ("default", ""):
                known = {self._style(r).name for lay in req["layers"] for r in self.sources.relations(lay)}
                if s not in known:
                    offered = ", ".join(sorted(known | {"default"}))
                    raise OgcError("StyleNotDefined", f"unknown style {s!r} (use one of {offered})", "styles")
        crs, bbox, (width, height) = req["crs"], req["bbox"], req["size"]
        meters = 111319.49 if crs == "EPSG:4326" else 1.0
        scale = scale_denominator(bbox, width, meters)
        drawn = []
        for layer in req["layers"]:
            for rel in self.sources.relations(layer):
                feats, geoms = self._features(rel, crs, bbox)
                props = [feats.properties(i) for i in range(len(feats))]
                drawn.append(StyledFeatures(list(geoms), props, self._style(rel)))
        image = render_map(drawn, bbox, width, height, scale)
        return _encode(image, fmt, params)

    # -- GetFeatureInfo -----------------------------------------------------------------------
    def _feature_info(self, params: Mapping[str, str]) -> Response:
        req = self._map_request(params, "QUERY_LAYERS")
        for layer in req["layers"]:
            if not queryable(layer):
                raise OgcError(
                    "LayerNotQueryable", f"layer {layer.layer_name!r} is not queryable", "query_layers"
                )
        version = params.get("VERSION", "1.3.0")
        try:
            i = float(require(params, "I" if version == "1.3.0" else "X"))
            j = float(require(params, "J" if version == "1.3.0" else "Y"))
        except ValueError as exc:
            raise OgcError("InvalidPoint", "I and J must be numbers") from exc
        info_format = params.get("INFO_FORMAT", "text/plain").lower()
        if info_format not in INFO_FORMATS:
            raise OgcError(
                "InvalidFormat",
                f"INFO_FORMAT {info_format} is not offered (use one of {', '.join(INFO_FORMATS)})",
                "info_format",
            )
        max_count = int(params.get("FEATURE_COUNT", "1") or 1)
        crs, (x0, y0, x1, y1), (width, height) = req["crs"], req["bbox"], req["size"]
        if not (0 <= i < width and 0 <= j < height):
            raise OgcError("InvalidPoint", f"point ({i}, {j}) is outside the {width}x{height} map")
        res = (x1 - x0) / width
        x, y = x0 + (i + 0.5) * res, y1 - (j + 0.5) * (y1 - y0) / height
        tol = 3 * res
        point = shapely.Point(x, y)
        found: list[dict[str, Any]] = []
        for layer in req["layers"]:
            for rel in self.sources.relations(layer):
                feats, geoms = self._features(rel, crs, (x - tol, y - tol, x + tol, y + tol))
                if not len(feats):
                    continue
                near = np.nonzero(shapely.dwithin(np.asarray(geoms, dtype=object), point, tol))[0]
                for k in near:
                    geom = shapely.transform(
                        feats.geometries[k], transformer(rel.crs, "EPSG:4326").transform, interleaved=False
                    )
                    found.append(
                        {
                            "layer": layer.layer_name,
                            "relation": rel.public_name,
                            "id": f"{rel.public_name}.{int(feats.fids[k])}",
                            "properties": feats.properties(int(k)),
                            "geometry": geom,
                        }
                    )
        found = found[:max_count]
        if info_format == "application/json":
            doc = {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": f["id"],
                        "geometry": json.loads(shapely.to_geojson(f["geometry"])),
                        "properties": f["properties"],
                    }
                    for f in found
                ],
            }
            return Response(json.dumps(doc, default=str), media_type="application/json")
        template = "wms_featureinfo.html.j2" if info_format == "text/html" else "wms_featureinfo.txt.j2"
        text = templates().get_template(template).render(features=found)
        return Response(text, media_type=f"{info_format}; charset=utf-8")


def _encode(image: Image.Image, fmt: str, params: Mapping[str, str]) -> Response:
    transparent = params.get("TRANSPARENT", "FALSE").upper() == "TRUE"
    bg_text = params.get("BGCOLOR", "0xFFFFFF")
    try:
        bg_value = int(bg_text.replace("#", "0x"), 16)
    except ValueError as exc:
        raise OgcError("InvalidParameterValue", f"bad BGCOLOR {bg_text!r}", "bgcolor") from exc
    background = ((bg_value >> 16) & 255, (bg_value >> 8) & 255, bg_value & 255, 255)
    buf = io.BytesIO()
    if fmt == "image/png" and transparent:
        image.save(buf, "PNG", compress_level=1)
    else:
        flat = Image.alpha_composite(Image.new("RGBA", image.size, background), image).convert("RGB")
        if fmt == "image/png":
            flat.save(buf, "PNG", compress_level=1)
        else:
            flat.save(buf, "JPEG", quality=85)
    return Response(buf.getvalue(), media_type=fmt)
