"""WFS 1.0.0, 1.1.0 and 2.0.0 for WFS offerings: GetCapabilities, DescribeFeatureType, GetFeature (KVP).

Feature types are named ``{prefix}:{public_name}`` with the layer name as prefix (as GeoServer
workspaces on the Géoplateforme). GetFeature reads ``typeNames``/``typeName``, ``bbox`` (with a
CRS suffix, in the axis order of the version), ``filter`` (FES 2.0 / OGC Filter 1.x),
``resourceId``/``featureId``, ``sortBy``, ``count``/``maxFeatures`` and ``startIndex``,
``propertyName``, ``resultType=hits``, ``srsName``; it answers GeoJSON or GML (GML 2 for 1.0.0,
GML 3.1.1 for 1.1.0, GML 3.2 for 2.0.0 by default; geometries encoded by GDAL's GML driver).
Queries go through :class:`~gpf_flow.serve.vector_data.VectorSource`.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import numpy as np
import shapely
from lxml import etree
from pyogrio import raw
from starlette.requests import Request
from starlette.responses import Response

from gpf_flow.serve.fes import FilterError, fid_of, parse_filter, parse_sort
from gpf_flow.serve.ows import (
    XML,
    OgcError,
    check_service,
    crs_code,
    is_north_east,
    kvp,
    parse_bbox,
    parse_crs,
    render,
    require,
)
from gpf_flow.serve.published import WFS, PublishedIndex, PublishedLayer
from gpf_flow.serve.vector_data import (
    Features,
    QueryError,
    QueryTimeout,
    Relation,
    VectorSources,
    run_bounded,
)
from gpf_flow.serve.vector_query import BBox, Expr, Ids, Query, conjunction

VERSIONS = ("2.0.0", "1.1.0", "1.0.0")
OUTPUT_CRS = ("EPSG:4326", "EPSG:3857", "EPSG:2154")
MAX_COUNT = 10_000
"""The most features one GetFeature returns (``CountDefault``); more are reached by paging."""

GML32 = "application/gml+xml; version=3.2"
GML31 = "text/xml; subtype=gml/3.1.1"
GML2 = "text/xml; subtype=gml/2.1.2"
JSON_FORMATS = {"application/json", "json", "geojson", "application/geo+json"}
WFS_NS = {"2.0.0": "http://www.opengis.net/wfs/2.0", "1.1.0": "http://www.opengis.net/wfs"}
GML_NS_32 = "http://www.opengis.net/gml/3.2"
GML_NS = "http://www.opengis.net/gml"


@dataclass(frozen=True)
class GmlFlavour:
    """One GML version: its GDAL ``FORMAT``, namespace, media type and schema names."""

    gdal: str
    namespace: str
    media_type: str
    schema: str
    base_type: str
    substitution: str
    geometry_types: Mapping[str, str]


_GML3_GEOMETRY = {
    "Point": "PointPropertyType",
    "MultiPoint": "MultiPointPropertyType",
    "LineString": "CurvePropertyType",
    "MultiLineString": "MultiCurvePropertyType",
    "Polygon": "SurfacePropertyType",
    "MultiPolygon": "MultiSurfacePropertyType",
}
FLAVOURS = {
    "GML2": GmlFlavour(
        "GML2",
        GML_NS,
        GML2,
        "http://schemas.opengis.net/gml/2.1.2/feature.xsd",
        "AbstractFeatureType",
        "_Feature",
        {t: f"{t}PropertyType" for t in _GML3_GEOMETRY},
    ),
    "GML3": GmlFlavour(
        "GML3",
        GML_NS,
        GML31,
        "http://schemas.opengis.net/gml/3.1.1/base/gml.xsd",
        "AbstractFeatureType",
        "_Feature",
        _GML3_GEOMETRY,
    ),
    "GML3.2": GmlFlavour(
        "GML3.2",
        GML_NS_32,
        GML32,
        "http://schemas.opengis.net/gml/3.2.1/gml.xsd",
        "AbstractFeatureType",
        "AbstractFeature",
        _GML3_GEOMETRY,
    ),
}
DEFAULT_FLAVOUR = {"2.0.0": "GML3.2", "1.1.0": "GML3", "1.0.0": "GML2"}
_FORMAT_ALIASES = {
    "gml2": "GML2",
    "text/xml;subtype=gml/2.1.2": "GML2",
    "application/vnd.ogc.gml": "GML2",
    "gml3": "GML3",
    "text/xml;subtype=gml/3.1.1": "GML3",
    "application/vnd.ogc.gml/3.1.1": "GML3",
    "gml32": "GML3.2",
    "application/gmlxml;version=3.2": "GML3.2",
    "text/xml;subtype=gml/3.2": "GML3.2",
    "application/gmlxml": "GML3.2",
}
_XSD_TYPES = {
    "integer": "int",
    "bigint": "long",
    "real": "double",
    "boolean": "boolean",
    "date": "date",
    "datetime": "dateTime",
    "binary": "base64Binary",
}


def prefix_of(layer: PublishedLayer) -> str:
    """The XML prefix of a layer's feature types (its layer name made an NCName)."""
    text = re.sub(r"[^A-Za-z0-9_.-]", "_", layer.layer_name)
    return text if re.match(r"[A-Za-z_]", text) else "_" + text


def namespace_of(layer: PublishedLayer) -> str:
    """The XML namespace of a layer's feature types."""
    return f"urn:gpf-flow:wfs:{prefix_of(layer)}"


def _exception(error: OgcError, version: str) -> Response:
    return render("wfs_exception.xml.j2", status=error.status, error=error, version=version)


def _version_of(params: Mapping[str, str], request: str) -> str:
    asked = params.get("VERSION", "").strip()
    if request == "getcapabilities":
        if asked in VERSIONS:
            return asked
        accepted = [v.strip() for v in params.get("ACCEPTVERSIONS", "").split(",") if v.strip()]
        for version in accepted:
            if version in VERSIONS:
                return version
        if accepted:
            raise OgcError(
                "VersionNegotiationFailed",
                f"none of the versions {', '.join(accepted)} is served (use {', '.join(VERSIONS)})",
                "acceptversions",
            )
        return VERSIONS[0]
    if not asked:
        return VERSIONS[0]
    if asked not in VERSIONS:
        raise OgcError(
            "InvalidParameterValue", f"WFS {asked} is not served (use {', '.join(VERSIONS)})", "version"
        )
    return asked


class WfsService:
    """``/wfs``: the feature types of every published WFS offering."""

    def __init__(self, index: PublishedIndex, sources: VectorSources) -> None:
        self.index = index
        self.sources = sources

    async def handle(self, request: Request) -> Response:
        """``/wfs``: KVP requests, answered in the vector services' bounded thread pool."""
        return await run_bounded(self._answer, request, kvp(request))

    def _answer(self, request: Request, params: Mapping[str, str]) -> Response:
        asked = params.get("VERSION", "").strip()
        version = asked if asked in VERSIONS else VERSIONS[0]
        try:
            check_service(params, "WFS")
            req = require(params, "REQUEST").lower()
            version = _version_of(params, req)
            try:
                return self._dispatch(request, req, version, params)
            except FilterError as exc:
                raise OgcError("InvalidParameterValue", str(exc), "filter") from None
            except QueryError as exc:
                raise OgcError("InvalidParameterValue", str(exc)) from None
            except QueryTimeout as exc:
                raise OgcError(
                    "OperationProcessingFailed",
                    f"{exc}: narrow the request (BBOX, FILTER or COUNT)",
                    status=503,
                ) from None
        except OgcError as error:
            return _exception(error, version)

    def _dispatch(self, request: Request, req: str, version: str, params: Mapping[str, str]) -> Response:
        if req == "getcapabilities":
            return self._capabilities(request, version)
        if req == "describefeaturetype":
            return self._describe(request, params, version)
        if req == "getfeature":
            return self._get_feature(params, version)
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
        for raw_name in (n.strip() for n in names.replace("(", "").replace(")", "").split(",")):
            if not raw_name:
                continue
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
    def _capabilities(self, request: Request, version: str) -> Response:
        base = str(request.base_url).rstrip("/")
        found = sorted(self._types().items())
        types = [
            {"name": name, "layer": layer, "rel": rel, "bounds": rel.wgs84_bounds}
            for name, (layer, rel) in found
        ]
        namespaces = {prefix_of(layer): namespace_of(layer) for _, (layer, _) in found}
        template = {
            "2.0.0": "wfs_capabilities.xml.j2",
            "1.1.0": "wfs_capabilities_110.xml.j2",
            "1.0.0": "wfs_capabilities_100.xml.j2",
        }[version]
        formats = [FLAVOURS[DEFAULT_FLAVOUR[version]].media_type, "application/json"]
        formats += [f.media_type for f in FLAVOURS.values() if f.media_type not in formats]
        return render(
            template,
            base=base,
            types=types,
            namespaces=namespaces,
            crs_list=OUTPUT_CRS,
            formats=formats,
            max_count=MAX_COUNT,
        )

    # -- DescribeFeatureType -------------------------------------------------------------------
    def _describe(self, request: Request, params: Mapping[str, str], version: str) -> Response:
        types = self._types()
        names = params.get("TYPENAMES") or params.get("TYPENAME") or ",".join(types)
        chosen = self._resolve(names, types) if names else []
        if not chosen:
            raise OgcError("InvalidParameterValue", "no feature type to describe", "typeNames")
        by_prefix: dict[str, list[str]] = {}
        for name in chosen:
            by_prefix.setdefault(prefix_of(types[name][0]), []).append(name)
        if len(by_prefix) > 1:
            # One schema per target namespace: a schema importing each layer's own (as GeoServer).
            base = str(request.base_url).rstrip("/")
            imports = [
                (namespace_of(types[group[0]][0]), f"{base}/wfs?" + urlencode(
                    {"SERVICE": "WFS", "VERSION": version, "REQUEST": "DescribeFeatureType",
                     "TYPENAME": ",".join(group)}
                ))
                for group in by_prefix.values()
            ]  # fmt: skip
            return render("wfs_describe_imports.xsd.j2", media_type="text/xml", imports=imports)
        layer = types[chosen[0]][0]
        flavour = FLAVOURS[DEFAULT_FLAVOUR[version]]
        items = []
        for name in chosen:
            table = types[name][1].table
            items.append(
                {
                    "name": types[name][1].public_name,
                    "fields": [(c.name, _XSD_TYPES.get(c.type, "string")) for c in table.columns],
                    "geometry_name": table.geometry_column,
                    "geometry": flavour.geometry_types.get(table.geometry_type, "GeometryPropertyType"),
                }
            )
        media = "text/xml" if version == "1.0.0" else flavour.media_type
        return render(
            "wfs_describe.xsd.j2",
            media_type=media,
            items=items,
            namespace=namespace_of(layer),
            prefix=prefix_of(layer),
            gml_ns=flavour.namespace,
            gml_schema=flavour.schema,
            base_type=flavour.base_type,
            substitution=flavour.substitution,
        )

    # -- GetFeature ------------------------------------------------------------------------------
    def _get_feature(self, params: Mapping[str, str], version: str) -> Response:
        types = self._types()
        names = params.get("TYPENAMES") or params.get("TYPENAME") or ""
        id_text = params.get("RESOURCEID") or params.get("FEATUREID") or ""
        id_names = [r.strip().rsplit(".", 1)[0] for r in id_text.split(",") if r.strip()]
        if not names and id_names:
            names = ",".join(dict.fromkeys(id_names))
        if not names:
            raise OgcError("MissingParameterValue", "parameter typeNames is missing", "typeNames")
        chosen = self._resolve(names, types)
        ids = self._ids(id_text, chosen, types)

        count_name = "COUNT" if "COUNT" in params else "MAXFEATURES"
        count = min(_int(params, count_name, str(MAX_COUNT)), MAX_COUNT)
        start = _int(params, "STARTINDEX", "0")
        hits = params.get("RESULTTYPE", "results").lower() == "hits"
        sort = parse_sort(params.get("SORTBY", ""))
        properties = _properties(params.get("PROPERTYNAME", ""))
        srs_text = params.get("SRSNAME", "").strip()
        out_crs = _output_crs(srs_text) if srs_text else None
        flavour, as_json = _format(params.get("OUTPUTFORMAT", ""), version)
        filters = _filters(params, len(chosen))

        queries: list[tuple[str, Relation, Query]] = []
        for k, name in enumerate(chosen):
            rel = types[name][1]
            official = version != "1.0.0"
            bbox = _bbox(params.get("BBOX", ""), rel.crs, official)
            text = filters[k]
            parsed = parse_filter(text, rel.crs, official_axes=official) if text else None
            props = None
            if properties is not None:
                props = tuple(
                    p
                    for p in properties
                    if p.lower() not in (rel.table.geometry_column.lower(), "geometryproperty")
                )
            crs = out_crs or ("EPSG:4326" if as_json else rel.crs)
            query = Query(conjunction(bbox, parsed, ids.get(name)), sort, 0, None, props, crs)
            queries.append((name, rel, query))

        matched = 0
        pages: list[tuple[str, Relation, Features]] = []
        skip, remaining = start, count
        for name, rel, query in queries:
            n = rel.count(query)
            matched += n
            if hits:
                continue
            offset = min(skip, n)
            skip -= offset
            take = min(remaining, n - offset)
            remaining -= take
            if take > 0:
                page = Query(query.filter, query.sort, offset, take, query.properties, query.crs)
                pages.append((name, rel, rel.query(page)))
        if hits:
            return _hits(matched, version)
        if as_json:
            return _geojson(pages, matched, out_crs or "EPSG:4326")
        found = [(types[name][0], rel, feats) for name, rel, feats in pages]
        return gml_collection(found, matched, version, flavour, _axes(srs_text, version))

    def _ids(
        self, text: str, chosen: list[str], types: Mapping[str, tuple[PublishedLayer, Relation]]
    ) -> dict[str, Expr]:
        """``resourceId``/``featureId`` values (``type.fid``) as an ``Ids`` filter per feature type."""
        if not text.strip():
            return {}
        wanted: dict[str, list[int]] = {name: [] for name in chosen}
        for item in (r.strip() for r in text.split(",")):
            if not item:
                continue
            if "." not in item:
                raise OgcError(
                    "InvalidParameterValue",
                    f"resource id {item!r} is not of the form <type>.<number>",
                    "resourceId",
                )
            type_name = self._resolve(item.rsplit(".", 1)[0], types)[0]
            if type_name in wanted:
                wanted[type_name].append(fid_of(item))
        return {name: Ids(tuple(fids)) for name, fids in wanted.items()}


def _int(params: Mapping[str, str], name: str, default: str) -> int:
    text = params.get(name, default).strip() or default
    try:
        value = int(text)
    except ValueError as exc:
        raise OgcError(
            "InvalidParameterValue", f"{name} must be an integer, not {text!r}", name.lower()
        ) from exc
    if value < 0:
        raise OgcError("InvalidParameterValue", f"{name} must not be negative", name.lower())
    return value


def _output_crs(text: str) -> str:
    try:
        code = crs_code(text)
    except OgcError:
        code = text
    if code == "CRS:84":
        return "EPSG:4326"
    if code not in OUTPUT_CRS:
        raise OgcError(
            "InvalidParameterValue",
            f"srsName {text} is not offered (use one of {', '.join(OUTPUT_CRS)})",
            "srsName",
        )
    return code


def _axes(srs_text: str, version: str) -> str:
    """GDAL's ``SRSNAME_FORMAT``: URN/URL names (and 1.1/2.0's default) in the official axis order."""
    if version == "1.0.0":
        return "SHORT"
    text = srs_text.lower()
    if text.startswith("http"):
        return "OGC_URL"
    if text and not text.startswith("urn:"):
        return "SHORT"
    return "OGC_URN"


def _format(text: str, version: str) -> tuple[GmlFlavour, bool]:
    key = text.strip().lower().replace(" ", "").replace("+", "")
    if not key or key == "text/xml":
        return FLAVOURS[DEFAULT_FLAVOUR[version]], False
    if text.strip().lower() in JSON_FORMATS:
        return FLAVOURS[DEFAULT_FLAVOUR[version]], True
    if key in _FORMAT_ALIASES:
        return FLAVOURS[_FORMAT_ALIASES[key]], False
    offered = ", ".join(["application/json", *(f.media_type for f in FLAVOURS.values())])
    raise OgcError(
        "InvalidParameterValue", f"outputFormat {text!r} is not offered (use {offered})", "outputFormat"
    )


def _properties(text: str) -> tuple[str, ...] | None:
    names = [n.strip().rsplit(":", 1)[-1] for n in text.replace("(", "").replace(")", "").split(",")]
    names = [n for n in names if n]
    if not names or "*" in names:
        return None
    return tuple(names)


def _filters(params: Mapping[str, str], n: int) -> list[str | None]:
    """One filter per feature type: ``(f1)(f2)`` lists, or one filter for all."""
    # OWSLib 0.35 sends a GET filter of WFS 2.0 as ``query``.
    text = (params.get("FILTER") or "").strip()
    if not text and params.get("QUERY", "").lstrip().startswith("<"):
        text = params["QUERY"].strip()
    if not text:
        return [None] * n
    if text.startswith("("):
        parts = [p.strip() for p in re.split(r"\)\s*\(", text[1:-1] if text.endswith(")") else text[1:])]
        if len(parts) != n:
            raise OgcError("InvalidParameterValue", f"{len(parts)} filters for {n} feature types", "filter")
        return list(parts)
    return [text] * n


def _bbox(text: str, default_crs: str, official_axes: bool) -> BBox | None:
    if not text.strip():
        return None
    parts = [p.strip() for p in text.split(",")]
    coords = parse_bbox(",".join(parts[:4]))
    crs, suffix = default_crs, ""
    if len(parts) > 4:
        suffix = ",".join(parts[4:])
        crs = crs_code(suffix)
        if crs != "CRS:84":
            parse_crs(crs)  # an EPSG code PROJ does not know is the client's error
    # WFS 1.1/2.0: URN/URL CRS names (and the default CRS, advertised as a URN) use official axes.
    if official_axes and (not suffix or suffix.lower().startswith(("urn:", "http"))) and is_north_east(crs):
        coords = (coords[1], coords[0], coords[3], coords[2])
    return BBox(coords, "EPSG:4326" if crs == "CRS:84" else crs)


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hits(matched: int, version: str) -> Response:
    if version == "2.0.0":
        attrs = f'numberMatched="{matched}" numberReturned="0"'
        ns = f'xmlns:wfs="{WFS_NS[version]}" xmlns:gml="{GML_NS_32}"'
    else:
        attrs = f'numberOfFeatures="{matched}"'
        ns = f'xmlns:wfs="{WFS_NS["1.1.0"]}" xmlns:gml="{GML_NS}"'
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<wfs:FeatureCollection {ns} timeStamp="{_timestamp()}" {attrs}/>\n'
    )
    return Response(body, media_type=XML)


def _geojson(pages: list[tuple[str, Relation, Features]], matched: int, crs: str) -> Response:
    parts = []
    for _, rel, feats in pages:
        texts = shapely.to_geojson(feats.geometries)
        for i in range(len(feats)):
            props = json.dumps(feats.properties(i), default=str, ensure_ascii=False)
            geom = texts[i] if texts[i] is not None else "null"
            parts.append(
                f'{{"type":"Feature","id":"{rel.public_name}.{int(feats.fids[i])}",'
                f'"geometry":{geom},"properties":{props}}}'
            )
    head = (
        f'{{"type":"FeatureCollection","numberMatched":{matched},"numberReturned":{len(parts)},'
        f'"timeStamp":"{_timestamp()}","crs":{{"type":"name","properties":{{"name":"{crs}"}}}},"features":['
    )
    return Response(head + ",".join(parts) + "]}", media_type="application/json")


def _text(value: Any) -> str | None:
    """A value as GML writes it (XML Schema lexical forms)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return None if math.isnan(value) else repr(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def _gdal_gml(
    rel: Relation, feats: Features, flavour: GmlFlavour, axes: str, prefix: str, ns: str
) -> list[etree._Element]:
    """The features of one relation encoded by GDAL's GML driver, with their ids and names fixed."""
    names = list(feats.columns)
    fields = []
    for name in names:
        array = np.empty(len(feats), dtype=object)
        array[:] = [_text(v) for v in feats.columns[name]]
        fields.append(array)
    buf = io.BytesIO()
    options = {"FORMAT": flavour.gdal, "XSISCHEMA": "OFF", "TARGET_NAMESPACE": ns, "PREFIX": prefix}
    if flavour.gdal != "GML2":
        options["SRSNAME_FORMAT"] = axes
    geometry_type = rel.geometry_type if rel.geometry_type in _GML3_GEOMETRY else "Unknown"
    raw.write(
        buf,
        np.array(shapely.to_wkb(feats.geometries), dtype=object),
        fields,
        names,
        driver="GML",
        layer=rel.public_name,
        crs=feats.crs or rel.crs,
        geometry_type=geometry_type,
        dataset_options=options,
    )
    text = buf.getvalue()
    if b"xmlns:xsi=" not in text[:2000]:
        # GDAL writes xsi:nil on null values but declares xsi only with its own schema reference.
        text = text.replace(
            f"<{prefix}:FeatureCollection".encode(),
            f'<{prefix}:FeatureCollection xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'.encode(),
            1,
        )
    doc = etree.fromstring(text)
    out = []
    id_attr = "fid" if flavour.gdal == "GML2" else f"{{{flavour.namespace}}}id"
    geometry_tag = f"{{{ns}}}geometryProperty"
    # Feature members are the root's children (boundedBy aside); the geometry is a feature's child.
    members = [m for m in doc.iterchildren() if isinstance(m.tag, str) and m.tag.endswith("featureMember")]
    for i, member in enumerate(members):
        for feature in member:
            for attr in ("fid", f"{{{flavour.namespace}}}id"):
                feature.attrib.pop(attr, None)
            feature.set(id_attr, f"{rel.public_name}.{int(feats.fids[i])}")
            geom = feature.find(geometry_tag)
            if geom is not None:
                geom.tag = f"{{{ns}}}{rel.table.geometry_column}"
            out.append(feature)
    return out


def gml_collection(
    pages: list[tuple[PublishedLayer, Relation, Features]],
    matched: int,
    version: str,
    flavour: GmlFlavour,
    axes: str = "OGC_URN",
) -> Response:
    """A WFS ``FeatureCollection`` of ``version`` holding the features in ``flavour``'s GML."""
    wfs_ns = WFS_NS.get(version, WFS_NS["1.1.0"])
    nsmap: dict[str | None, str] = {"wfs": wfs_ns, "gml": flavour.namespace}
    features: list[etree._Element] = []
    for layer, rel, feats in pages:
        prefix, ns = prefix_of(layer), namespace_of(layer)
        nsmap[prefix] = ns
        if len(feats):
            features.extend(_gdal_gml(rel, feats, flavour, axes, prefix, ns))
    root = etree.Element(f"{{{wfs_ns}}}FeatureCollection", nsmap=nsmap)
    root.set("timeStamp", _timestamp())
    if version == "2.0.0":
        root.set("numberMatched", str(matched))
        root.set("numberReturned", str(len(features)))
        for feature in features:
            etree.SubElement(root, f"{{{wfs_ns}}}member").append(feature)
    else:
        root.set("numberOfFeatures", str(len(features)))
        if flavour.gdal == "GML2":
            _bounded_by(root, [f for _, _, f in pages], flavour)
        for feature in features:
            etree.SubElement(root, f"{{{flavour.namespace}}}featureMember").append(feature)
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(body, media_type=flavour.media_type)


def _bounded_by(root: etree._Element, pages: list[Features], flavour: GmlFlavour) -> None:
    """GML 2's mandatory ``boundedBy`` of a feature collection."""
    geoms = [g for f in pages for g in f.geometries if g is not None]
    bounded = etree.SubElement(root, f"{{{flavour.namespace}}}boundedBy")
    if not geoms:
        etree.SubElement(bounded, f"{{{flavour.namespace}}}null").text = "missing"
        return
    x0, y0, x1, y1 = shapely.total_bounds(np.asarray(geoms, dtype=object))
    crs = next((f.crs for f in pages if f.crs), None)
    box = etree.SubElement(bounded, f"{{{flavour.namespace}}}Box")
    if crs:
        box.set("srsName", crs)
    etree.SubElement(box, f"{{{flavour.namespace}}}coordinates").text = f"{x0},{y0} {x1},{y1}"
