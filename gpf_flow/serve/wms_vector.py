"""WMS 1.3.0 and 1.1.1 for WMS-VECTOR offerings: capabilities, GetMap, GetFeatureInfo, GetLegendGraphic.

A layer is one configuration (its ``layer_name``); it draws each relation of its used data with
the static SLD the relation names (``relations[].style``) or a default style per geometry type.
Each version answers its own capabilities and exception reports and reads the BBOX in its own
axis order (1.3.0: the CRS's, so latitude first for EPSG:4326; 1.1.1: always x/y).
GetFeatureInfo answers when the configuration allows it (``type_infos.getfeatureinfo``; vector
layers are queryable unless it is false, as GeoServer's are), as text, HTML, GeoJSON or GML.
"""

from __future__ import annotations

import io
import json
import logging
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
    MAX_MAP_SIZE,
    SUPPORTED_CRS,
    OgcError,
    check_service,
    crs_code,
    is_north_east,
    kvp,
    parse_bbox,
    render,
    require,
    templates,
    wms_exception,
)
from gpf_flow.serve.published import WMS_VECTOR, PublishedIndex, PublishedLayer
from gpf_flow.serve.sld import Style, default_style, parse_sld
from gpf_flow.serve.vector_data import (
    Features,
    QueryError,
    QueryTimeout,
    Relation,
    VectorSources,
    reproject,
    run_bounded,
    transform_bounds,
    union_bounds,
)
from gpf_flow.serve.vector_query import BBox, Query
from gpf_flow.serve.vector_render import StyledFeatures, legend, scale_denominator
from gpf_flow.serve.vector_render import render as render_map
from gpf_flow.serve.wfs import FLAVOURS, gml_collection
from gpf_flow.store.base import LocalCapabilities

log = logging.getLogger("gpf_flow.serve")

MAX_SIZE = MAX_MAP_SIZE  # GPF_FLOW_SERVE_MAX_MAP_SIZE; advertised as MaxWidth/MaxHeight
FORMATS = ("image/png", "image/jpeg")
INFO_FORMATS = (
    "text/plain",
    "application/json",
    "text/html",
    "application/vnd.ogc.gml",
    "application/vnd.ogc.gml/3.1.1",
    "text/xml",
)
MAX_FEATURE_COUNT = 1000
MAX_DRAWN = 200_000
"""The most features of one relation a GetMap draws (in FID order): the drawing stays bounded."""
LEGEND_SIZE = (20, 20)


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


def wms_version(params: Mapping[str, str]) -> str:
    """``1.1.1`` for 1.1.x requests (``VERSION`` or the older ``WMTVER``), else ``1.3.0``."""
    asked = (params.get("VERSION") or params.get("WMTVER") or "1.3.0").strip()
    return "1.1.1" if asked.startswith("1.1") else "1.3.0"


def _exception(error: OgcError, version: str) -> Response:
    if version == "1.1.1":
        return render(
            "wms_vector_exception_111.xml.j2",
            media_type="application/vnd.ogc.se_xml",
            status=error.status,
            error=error,
        )
    return wms_exception(error)


class VectorWms:
    """``/wms-v``."""

    def __init__(self, index: PublishedIndex, sources: VectorSources, store: LocalCapabilities) -> None:
        self.index = index
        self.sources = sources
        self.store = store
        self._styles: dict[tuple[str, float], Style] = {}
        self._lock = threading.Lock()

    async def handle(self, request: Request) -> Response:
        """``/wms-v``: KVP requests, answered in the vector services' bounded thread pool."""
        return await run_bounded(self._answer, request, kvp(request))

    def _answer(self, request: Request, params: Mapping[str, str]) -> Response:
        version = wms_version(params)
        try:
            try:
                return self._dispatch(request, params, version)
            except QueryError as exc:
                raise OgcError("InvalidParameterValue", str(exc)) from None
            except QueryTimeout as exc:
                raise OgcError(
                    "OperationProcessingFailed", f"{exc}: ask for a smaller map", status=503
                ) from None
        except OgcError as error:
            return _exception(error, version)

    def _dispatch(self, request: Request, params: Mapping[str, str], version: str) -> Response:
        check_service(params, "WMS")
        req = require(params, "REQUEST").lower()
        if req in ("getcapabilities", "capabilities"):
            return self._capabilities(request, version)
        if req in ("getmap", "map"):
            return self._get_map(params, version)
        if req == "getfeatureinfo":
            return self._feature_info(params, version)
        if req == "getlegendgraphic":
            return self._legend(params)
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

    def _map_request(self, params: Mapping[str, str], layer_key: str, version: str) -> dict[str, Any]:
        """Checks the common GetMap/GetFeatureInfo parameters; returns the parsed request."""
        names = [n for n in require(params, layer_key).split(",") if n]
        published = self._layers()
        for name in names:
            if name not in published:
                raise OgcError("LayerNotDefined", f"no published WMS-VECTOR layer named {name!r}", "layers")
        crs_text = require(params, "CRS" if version == "1.3.0" else "SRS")
        code = crs_code(crs_text)
        if code not in SUPPORTED_CRS:
            raise OgcError(
                "InvalidCRS" if version == "1.3.0" else "InvalidSRS",
                f"CRS {crs_text} is not offered (use one of {', '.join(SUPPORTED_CRS)})",
            )
        bbox = parse_bbox(require(params, "BBOX"))
        if version == "1.3.0" and is_north_east(code):
            bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
        data_crs = "EPSG:4326" if code == "CRS:84" else code
        width, height = _size(params, "WIDTH", "HEIGHT", MAX_SIZE)
        return {
            "layers": [published[n] for n in names],
            "crs": data_crs,
            "bbox": bbox,
            "size": (width, height),
        }

    def _features(self, rel: Relation, crs: str, bbox: tuple[float, float, float, float]) -> Features:
        """Features of ``rel`` whose envelope meets ``bbox`` (map CRS), geometries in the map CRS."""
        feats = rel.query(Query(filter=BBox(bbox, crs, envelope=True), crs=crs, limit=MAX_DRAWN + 1))
        if len(feats) > MAX_DRAWN:
            log.warning("%s: drawing the first %d features of the map only", rel.public_name, MAX_DRAWN)
            feats = feats.subset(slice(0, MAX_DRAWN))
        return feats

    # -- GetCapabilities -----------------------------------------------------------------------
    def _capabilities(self, request: Request, version: str) -> Response:
        base = str(request.base_url).rstrip("/")
        crs_list = SUPPORTED_CRS if version == "1.3.0" else tuple(c for c in SUPPORTED_CRS if c != "CRS:84")
        items = []
        for _name, layer in sorted(self._layers().items()):
            rels = self.sources.relations(layer)
            if not rels:
                continue
            ll = union_bounds([r.wgs84_bounds for r in rels], (-180.0, -90.0, 180.0, 90.0))
            bboxes = []
            for code in crs_list:
                if code == "CRS:84":
                    bboxes.append((code, ll))
                    continue
                b = transform_bounds(ll, "EPSG:4326", code)
                if version == "1.3.0" and is_north_east(code):
                    b = (b[1], b[0], b[3], b[2])
                bboxes.append((code, b))
            styles: dict[str, Style] = {}
            for rel in rels:
                styles.setdefault(self._style(rel).name, self._style(rel))
            items.append(
                {
                    "layer": layer,
                    "ll": ll,
                    "bboxes": bboxes,
                    "styles": sorted(styles),
                    "legend": {n: legend_size(s, LEGEND_SIZE) for n, s in styles.items()},
                    "queryable": queryable(layer),
                }
            )
        template = (
            "wms_vector_capabilities.xml.j2" if version == "1.3.0" else "wms_vector_capabilities_111.xml.j2"
        )
        return render(
            template,
            media_type="text/xml; charset=utf-8" if version == "1.3.0" else "application/vnd.ogc.wms_xml",
            base=base,
            items=items,
            crs_list=crs_list,
            formats=FORMATS,
            max_size=MAX_SIZE,
            info_formats=INFO_FORMATS,
        )

    # -- GetMap ----------------------------------------------------------------------------------
    def _get_map(self, params: Mapping[str, str], version: str) -> Response:
        req = self._map_request(params, "LAYERS", version)
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
                feats = self._features(rel, crs, bbox)
                props = [feats.properties(i) for i in range(len(feats))]
                drawn.append(StyledFeatures(list(feats.geometries), props, self._style(rel)))
        image = render_map(drawn, bbox, width, height, scale)
        return _encode(image, fmt, params)

    # -- GetFeatureInfo -----------------------------------------------------------------------
    def _feature_info(self, params: Mapping[str, str], version: str) -> Response:
        req = self._map_request(params, "QUERY_LAYERS", version)
        for layer in req["layers"]:
            if not queryable(layer):
                raise OgcError(
                    "LayerNotQueryable", f"layer {layer.layer_name!r} is not queryable", "query_layers"
                )
        i_name, j_name = ("I", "J") if version == "1.3.0" else ("X", "Y")
        try:
            i, j = float(require(params, i_name)), float(require(params, j_name))
        except ValueError as exc:
            raise OgcError("InvalidPoint", f"{i_name} and {j_name} must be numbers", i_name.lower()) from exc
        info_format = params.get("INFO_FORMAT", "text/plain").strip().lower()
        if info_format not in INFO_FORMATS:
            raise OgcError(
                "InvalidFormat",
                f"INFO_FORMAT {info_format} is not offered (use one of {', '.join(INFO_FORMATS)})",
                "info_format",
            )
        count_text = params.get("FEATURE_COUNT", "1").strip() or "1"
        try:
            max_count = int(count_text)
        except ValueError:
            raise OgcError(
                "InvalidParameterValue",
                f"FEATURE_COUNT must be an integer, not {count_text!r}",
                "feature_count",
            ) from None
        if not 1 <= max_count <= MAX_FEATURE_COUNT:
            raise OgcError(
                "InvalidParameterValue",
                f"FEATURE_COUNT must be within 1..{MAX_FEATURE_COUNT}",
                "feature_count",
            )
        crs, (x0, y0, x1, y1), (width, height) = req["crs"], req["bbox"], req["size"]
        if not (0 <= i < width and 0 <= j < height):
            raise OgcError(
                "InvalidPoint", f"point ({i}, {j}) is outside the {width}x{height} map", i_name.lower()
            )
        res = (x1 - x0) / width
        x, y = x0 + (i + 0.5) * res, y1 - (j + 0.5) * (y1 - y0) / height
        tol = 3 * res
        point = shapely.Point(x, y)
        found: list[tuple[PublishedLayer, Relation, Features]] = []
        remaining = max_count
        for layer in req["layers"]:
            for rel in self.sources.relations(layer):
                if remaining <= 0:
                    break
                feats = self._features(rel, crs, (x - tol, y - tol, x + tol, y + tol))
                if not len(feats):
                    continue
                near = np.nonzero(shapely.dwithin(np.asarray(feats.geometries, dtype=object), point, tol))[0]
                near = near[:remaining]
                if len(near):
                    found.append((layer, rel, feats.subset(near)))
                    remaining -= len(near)
        total = sum(len(f) for _, _, f in found)
        if info_format in ("application/vnd.ogc.gml", "text/xml"):
            return gml_collection(found, total, "1.0.0", FLAVOURS["GML2"], "SHORT")
        if info_format == "application/vnd.ogc.gml/3.1.1":
            return gml_collection(found, total, "1.1.0", FLAVOURS["GML3"], "SHORT")
        rows = [
            {
                "layer": layer.layer_name,
                "relation": rel.public_name,
                "id": f"{rel.public_name}.{int(feats.fids[k])}",
                "properties": feats.properties(k),
                "geometry": geom,
            }
            for layer, rel, feats in found
            for k, geom in enumerate(reproject(feats.geometries, feats.crs or crs, "EPSG:4326"))
        ]
        if info_format == "application/json":
            doc = {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": f["id"],
                        "geometry": json.loads(shapely.to_geojson(f["geometry"])) if f["geometry"] else None,
                        "properties": f["properties"],
                    }
                    for f in rows
                ],
            }
            return Response(json.dumps(doc, default=str), media_type="application/json")
        template = "wms_featureinfo.html.j2" if info_format == "text/html" else "wms_featureinfo.txt.j2"
        text = templates().get_template(template).render(features=rows)
        return Response(text, media_type=f"{info_format}; charset=utf-8")

    # -- GetLegendGraphic -------------------------------------------------------------------
    def _legend(self, params: Mapping[str, str]) -> Response:
        name = require(params, "LAYER")
        layer = self._layers().get(name)
        if layer is None:
            raise OgcError("LayerNotDefined", f"no published WMS-VECTOR layer named {name!r}", "layer")
        fmt = params.get("FORMAT", "image/png").strip().lower()
        if fmt not in FORMATS:
            raise OgcError("InvalidFormat", f"FORMAT {fmt} is not offered (use image/png)", "format")
        styles: dict[str, Style] = {}
        for rel in self.sources.relations(layer):
            styles.setdefault(self._style(rel).name, self._style(rel))
        asked = params.get("STYLE", "").strip()
        if asked and (asked in styles or asked.lower() != "default"):
            if asked not in styles:
                offered = ", ".join(sorted(styles))
                raise OgcError("StyleNotDefined", f"unknown style {asked!r} (use one of {offered})", "style")
            chosen = [styles[asked]]
        else:
            chosen = list(styles.values())
        rules = [rule for style in chosen for rule in style.rules]
        rule_name = params.get("RULE", "").strip()
        if rule_name:
            rules = [r for r in rules if r.name == rule_name]
            if not rules:
                raise OgcError("InvalidParameterValue", f"no rule named {rule_name!r} in the style", "rule")
        size = _size(params, "WIDTH", "HEIGHT", 512, LEGEND_SIZE)
        image = legend(rules, size, labels=not rule_name)
        return _encode(image, fmt, {"TRANSPARENT": params.get("TRANSPARENT", "TRUE")})


def legend_size(style: Style, swatch: tuple[int, int]) -> tuple[int, int]:
    """The size of a style's legend image (as GetLegendGraphic draws it)."""
    return legend(list(style.rules), swatch, labels=True).size


def _size(
    params: Mapping[str, str], w_key: str, h_key: str, most: int, default: tuple[int, int] | None = None
) -> tuple[int, int]:
    try:
        if default is not None:
            width = int(params.get(w_key) or default[0])
            height = int(params.get(h_key) or default[1])
        else:
            width, height = int(require(params, w_key)), int(require(params, h_key))
    except ValueError as exc:
        raise OgcError("InvalidParameterValue", f"{w_key} and {h_key} must be integers") from exc
    if not (0 < width <= most and 0 < height <= most):
        raise OgcError("InvalidParameterValue", f"{w_key} and {h_key} must be within 1..{most}")
    return width, height


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
