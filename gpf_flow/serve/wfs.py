"""WFS 2.0.0 for WFS offerings: GetCapabilities, DescribeFeatureType, GetFeature (KVP).

Feature types are named ``{prefix}:{public_name}`` with the layer name as prefix (as GeoServer
workspaces on the Géoplateforme). GetFeature supports ``typeNames``, ``bbox`` with a CRS suffix,
``count``/``startIndex``, ``resultType=hits``, ``srsName`` and ``resourceId``; output as GeoJSON
or GML 3.2 (written by GDAL's GML driver through pyogrio).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import shapely
from lxml import etree
from pyogrio import raw
from starlette.requests import Request
from starlette.responses import Response

from gpf_flow.serve.ows import (
    XML,
    OgcError,
    answer_kvp,
    check_service,
    crs_code,
    is_north_east,
    ows_exception,
    parse_bbox,
    render,
    require,
)
from gpf_flow.serve.published import WFS, PublishedIndex, PublishedLayer
from gpf_flow.serve.vector_data import Features, Relation, VectorSources, transform_bounds, transformer

OUTPUT_CRS = ("EPSG:4326", "EPSG:3857", "EPSG:2154")
GML32 = "application/gml+xml; version=3.2"
JSON_FORMATS = {"application/json", "json", "geojson", "application/geo+json"}
GML_FORMATS = {GML32, "gml32", "text/xml; subtype=gml/3.2", "application/gml+xml", "text/xml"}
WFS_NS = "http://www.opengis.net/wfs/2.0"
GML_NS = "http://www.opengis.net/gml/3.2"
DEFAULT_COUNT = 10_000

_XSD_TYPES = {
    "int32": "int",
    "int64": "long",
    "int16": "short",
    "float64": "double",
    "float32": "float",
    "bool": "boolean",
    "datetime64[ms]": "dateTime",
    "datetime64": "dateTime",
}
_XSD_GEOMETRY = {
    "Point": "PointPropertyType",
    "MultiPoint": "MultiPointPropertyType",
    "LineString": "CurvePropertyType",
    "MultiLineString": "MultiCurvePropertyType",
    "Polygon": "SurfacePropertyType",
    "MultiPolygon": "MultiSurfacePropertyType",
}


def prefix_of(layer: PublishedLayer) -> str:
    """The XML prefix of a layer's feature types (its layer name made an NCName)."""
    text = re.sub(r"[^A-Za-z0-9_.-]", "_", layer.layer_name)
    return text if re.match(r"[A-Za-z_]", text) else "_" + text


def namespace_of(layer: PublishedLayer) -> str:
    """The XML namespace of a layer's feature types."""
    return f"urn:gpf-flow:wfs:{prefix_of(layer)}"


class WfsService:
    """``/wfs``: the feature types of every published WFS offering."""

    def __init__(self, index: PublishedIndex, sources: VectorSources) -> None:
        self.index = index
        self.sources = sources

    async def handle(self, request: Request) -> Response:
        """``/wfs``: KVP requests; errors as OWS exception reports."""
        return await answer_kvp(request, self._dispatch, ows_exception)

    def _dispatch(self, request: Request, params: Mapping[str, str]) -> Response:
        check_service(params, "WFS")
        req = require(params, "REQUEST").lower()
        if req == "getcapabilities":
            return self._capabilities(request)
        version = params.get("VERSION", "2.0.0")
        if version != "2.0.0":
            raise OgcError("InvalidParameterValue", f"only WFS 2.0.0 is served, not {version}", "version")
        if req == "describefeaturetype":
            return self._describe(params)
        if req == "getfeature":
            return self._get_feature(params)
        raise OgcError("OperationNotSupported", f"request {req!r} is not supported", "request")

    # -- feature types -------------------------------------------------------------------------
    def _types(self) -> dict[str, tuple[PublishedLayer, Relation]]:
        """Every published feature type by qualified name."""
        out: dict[str, tuple[PublishedLayer, Relation]] = {}
        for _, layer in sorted(self.index.snapshot().layers(WFS).items()):
            for rel in self.sources.relations(layer):
                out[f"{prefix_of(layer)}:{rel.public_name}"] = (layer, rel)
        return out

    def _resolve(self, names: str, types: Mapping[str, tuple[PublishedLayer, Relation]]) -> list[str]:
        found = []
        for raw_name in (n.strip() for n in names.strip("()").split(",") if n.strip()):
            if raw_name in types:
                found.append(raw_name)
                continue
            # An unprefixed name is accepted when it is unique.
            local = [q for q in types if q.split(":", 1)[1] == raw_name] if ":" not in raw_name else []
            if len(local) != 1:
                hint = (
                    f"it is ambiguous: use one of {', '.join(sorted(local))}"
                    if local
                    else "GetCapabilities lists the published ones"
                )
                raise OgcError(
                    "InvalidParameterValue", f"unknown feature type {raw_name!r} ({hint})", "typeNames"
                )
            found.append(local[0])
        return found

    # -- GetCapabilities -----------------------------------------------------------------------
    def _capabilities(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        found = sorted(self._types().items())
        types = [
            {"name": name, "layer": layer, "rel": rel, "bounds": rel.wgs84_bounds}
            for name, (layer, rel) in found
        ]
        namespaces = {prefix_of(layer): namespace_of(layer) for _, (layer, _) in found}
        return render(
            "wfs_capabilities.xml.j2",
            base=base,
            types=types,
            namespaces=namespaces,
            crs_list=OUTPUT_CRS,
            formats=[GML32, "application/json"],
        )

    # -- DescribeFeatureType -------------------------------------------------------------------
    def _describe(self, params: Mapping[str, str]) -> Response:
        types = self._types()
        names = params.get("TYPENAMES") or params.get("TYPENAME") or ",".join(types)
        chosen = self._resolve(names, types) if names else []
        if not chosen:
            raise OgcError("InvalidParameterValue", "no feature type to describe", "typeNames")
        layer = types[chosen[0]][0]
        items = []
        for name in chosen:
            rel = types[name][1]
            fields = [
                (f, _XSD_TYPES.get(d, "string"))
                for f, d in zip(rel.fields, rel.dtypes, strict=True)
                if f.lower() != "fid"
            ]
            items.append(
                {
                    "name": rel.public_name,
                    "fields": fields,
                    "geometry": _XSD_GEOMETRY.get(rel.geometry_type, "GeometryPropertyType"),
                }
            )
        return render(
            "wfs_describe.xsd.j2",
            media_type="application/gml+xml; version=3.2",
            items=items,
            namespace=namespace_of(layer),
            prefix=prefix_of(layer),
        )

    # -- GetFeature ------------------------------------------------------------------------------
    def _get_feature(self, params: Mapping[str, str]) -> Response:
        types = self._types()
        names = params.get("TYPENAMES") or params.get("TYPENAME") or ""
        resource_ids = [r.strip() for r in params.get("RESOURCEID", "").split(",") if r.strip()]
        if not names and resource_ids:
            names = ",".join({r.rsplit(".", 1)[0] for r in resource_ids})
        if not names:
            raise OgcError("MissingParameterValue", "parameter typeNames is missing", "typeNames")
        chosen = self._resolve(names, types)
        count = _int(params, "COUNT", params.get("MAXFEATURES", str(DEFAULT_COUNT)))
        start = _int(params, "STARTINDEX", "0")
        hits = params.get("RESULTTYPE", "results").lower() == "hits"
        srs_name = params.get("SRSNAME")
        out_crs = (
            crs_code(srs_name, error_code="InvalidParameterValue", locator="srsName") if srs_name else None
        )
        if out_crs is not None and out_crs not in OUTPUT_CRS and out_crs != "CRS:84":
            raise OgcError(
                "InvalidParameterValue",
                f"srsName {out_crs} is not offered (use one of {', '.join(OUTPUT_CRS)})",
                "srsName",
            )
        fmt = params.get("OUTPUTFORMAT", GML32).strip()
        as_json = fmt.lower() in JSON_FORMATS
        if not as_json and fmt not in GML_FORMATS and not fmt.lower().startswith("application/gml+xml"):
            raise OgcError(
                "InvalidParameterValue",
                f"outputFormat {fmt!r} is not offered (use application/json or {GML32})",
                "outputFormat",
            )

        selected: list[tuple[str, Relation, Features]] = []
        matched = 0
        remaining_skip, remaining = start, count
        for name in chosen:
            rel = types[name][1]
            feats = self._select(rel, params.get("BBOX"), resource_ids, name)
            matched += len(feats)
            if hits:
                continue
            lo = min(remaining_skip, len(feats))
            remaining_skip -= lo
            hi = min(len(feats), lo + remaining)
            remaining -= hi - lo
            selected.append((name, rel, feats.subset(slice(lo, hi))))
        if hits:
            return _hits(matched)
        if as_json:
            return _geojson(selected, matched, out_crs)
        return _gml(selected, matched, out_crs, types)

    def _select(self, rel: Relation, bbox_text: str | None, resource_ids: list[str], qname: str) -> Features:
        bbox = None
        if bbox_text:
            parts = [p.strip() for p in bbox_text.split(",")]
            crs = rel.crs
            coords = parse_bbox(",".join(parts[:4]))
            if len(parts) > 4:
                suffix = ",".join(parts[4:])
                crs = crs_code(suffix)
                official_axes = suffix.lower().startswith(("urn:", "http"))
                if official_axes and is_north_east(crs):
                    coords = (coords[1], coords[0], coords[3], coords[2])
                if crs == "CRS:84":
                    crs = "EPSG:4326"
            bbox = transform_bounds(coords, crs, rel.crs)
        feats = self.sources.read(rel, bbox)
        keep = np.ones(len(feats), dtype=bool)
        if bbox is not None and len(feats):
            keep &= shapely.intersects(feats.geometries, shapely.box(*bbox))
        if resource_ids:
            wanted = {
                int(r.rsplit(".", 1)[1])
                for r in resource_ids
                if r.rsplit(".", 1)[0] in (qname, rel.public_name)
            }
            keep &= np.isin(feats.fids, list(wanted))
        return feats.subset(keep)


def _int(params: Mapping[str, str], name: str, default: str) -> int:
    text = params.get(name, default)
    try:
        value = int(text)
    except ValueError as exc:
        raise OgcError(
            "InvalidParameterValue", f"{name} must be an integer, not {text!r}", name.lower()
        ) from exc
    if value < 0:
        raise OgcError("InvalidParameterValue", f"{name} must not be negative", name.lower())
    return value


def _reproject(geoms: np.ndarray, src: str, dst: str | None) -> np.ndarray:
    if dst is None or dst == src or len(geoms) == 0:
        return geoms
    target = "EPSG:4326" if dst == "CRS:84" else dst
    return shapely.transform(geoms, transformer(src, target).transform, interleaved=False)


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hits(matched: int) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<wfs:FeatureCollection xmlns:wfs="{WFS_NS}" xmlns:gml="{GML_NS}" '
        f'timeStamp="{_timestamp()}" numberMatched="{matched}" numberReturned="0"/>\n'
    )
    return Response(body, media_type=XML)


def _geojson(selected: list[tuple[str, Relation, Features]], matched: int, out_crs: str | None) -> Response:
    parts = []
    returned = 0
    for _, rel, feats in selected:
        # GeoJSON coordinates are lon/lat when no CRS is asked (RFC 7946).
        geoms = _reproject(feats.geometries, rel.crs, out_crs or "EPSG:4326")
        texts = shapely.to_geojson(geoms)
        for i in range(len(feats)):
            props = json.dumps(feats.properties(i), default=str, ensure_ascii=False)
            geom = texts[i] if texts[i] is not None else "null"
            parts.append(
                f'{{"type":"Feature","id":"{rel.public_name}.{int(feats.fids[i])}",'
                f'"geometry":{geom},"properties":{props}}}'
            )
            returned += 1
    crs = out_crs or "EPSG:4326"
    head = (
        f'{{"type":"FeatureCollection","numberMatched":{matched},"numberReturned":{returned},'
        f'"timeStamp":"{_timestamp()}","crs":{{"type":"name","properties":{{"name":"{crs}"}}}},"features":['
    )
    return Response(head + ",".join(parts) + "]}", media_type="application/json")


def _gml(
    selected: list[tuple[str, Relation, Features]],
    matched: int,
    out_crs: str | None,
    types: Mapping[str, tuple[PublishedLayer, Relation]],
) -> Response:
    nsmap: dict[str | None, str] = {"wfs": WFS_NS, "gml": GML_NS}
    members: list[etree._Element] = []
    returned = 0
    for qname, rel, feats in selected:
        layer = types[qname][0]
        prefix, ns = prefix_of(layer), namespace_of(layer)
        nsmap[prefix] = ns
        if not len(feats):
            continue
        crs = out_crs if out_crs not in (None, "CRS:84") else rel.crs
        geoms = _reproject(feats.geometries, rel.crs, crs)
        buf = io.BytesIO()
        names = [n for n in feats.columns if n.lower() != "fid"]
        raw.write(
            buf,
            shapely.to_wkb(geoms),
            [feats.columns[n] for n in names],
            names,
            driver="GML",
            layer=rel.public_name,
            crs=crs,
            geometry_type=rel.geometry_type if rel.geometry_type != "Unknown" else None,
            dataset_options={
                "FORMAT": "GML3.2",
                "XSISCHEMA": "OFF",
                "TARGET_NAMESPACE": ns,
                "PREFIX": prefix,
            },
        )
        doc = etree.fromstring(buf.getvalue())
        for i, member in enumerate(doc.iter(f"{{{ns}}}featureMember")):
            for feature in member:
                feature.set(f"{{{GML_NS}}}id", f"{rel.public_name}.{int(feats.fids[i])}")
                members.append(feature)
                returned += 1
    root = etree.Element(f"{{{WFS_NS}}}FeatureCollection", nsmap=nsmap)
    root.set("timeStamp", _timestamp())
    root.set("numberMatched", str(matched))
    root.set("numberReturned", str(returned))
    for feature in members:
        etree.SubElement(root, f"{{{WFS_NS}}}member").append(feature)
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(body, media_type=GML32)
