"""Loading a VECTOR upload into the GeoPackage store with the rules of the PostGIS store.

Each layer goes into the table of its laundered name (:mod:`gpf_flow.postgis.naming`): a new
table gets ``ogc_fid``, the laundered columns typed as GDAL reads them, a ``wkb_geometry``
column promoted to multi and a spatial index; an existing table (an earlier delivery into the
same stored data) is appended to, columns matched by name and geometries put in the table's own
geometry column, reprojected and promoted (or single-part multis demoted) to its type.

Rows stream from ``pyogrio.raw.open_arrow`` to ``pyogrio.raw.write_arrow`` in Arrow batches: one
GDAL write session per layer, so GDAL builds the spatial index of a new table once at the end
(not batch by batch), and memory stays flat in the input size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geoarrow.pyarrow as ga
import numpy as np
import pyarrow as pa
import shapely
from pyogrio import list_layers, read_info
from pyogrio.errors import DataLayerError, DataSourceError
from pyogrio.raw import open_arrow, write_arrow
from pyproj import CRS, Transformer

from gpf_flow.postgis.integrate import IntegrationError, check_append, describe_source
from gpf_flow.postgis.naming import FID_COLUMN, GEOMETRY_COLUMN
from gpf_flow.postgis.sources import SourceLayer, field_types, multi_type
from gpf_flow.processings.disk_errors import disk_full

BATCH = 4_096
_MULTI = {
    "MultiPoint": (ga.multipoint(), shapely.multipoints, 0),
    "MultiLineString": (ga.multilinestring(), shapely.multilinestrings, 1),
    "MultiPolygon": (ga.multipolygon(), shapely.multipolygons, 3),
}
_SINGLE = {"Point", "LineString", "Polygon"}
_MULTI_ID = {0: 4, 1: 5, 3: 6}
"""Shapely's type id of the multi type of each single one (Point, LineString, Polygon)."""
_WKB_ID = {0: 1, 1: 2, 3: 3}
"""WKB type code of shapely's single type ids (Point, LineString, Polygon); multi = code + 3."""
_ARROW_TYPES = {
    "OFTInteger": pa.int32(),
    "OFTInteger64": pa.int64(),
    "OFTReal": pa.float64(),
    "OFTString": pa.string(),
    "OFTDate": pa.date32(),
    "OFTTime": pa.time32("ms"),
    "OFTDateTime": pa.timestamp("ms"),
    "OFTBinary": pa.binary(),
}
_ARROW_SUBTYPES = {"OFSTBoolean": pa.bool_(), "OFSTInt16": pa.int16(), "OFSTFloat32": pa.float32()}


@dataclass(frozen=True)
class Target:
    """The table a layer goes into: its columns (name → Arrow type), geometry column, type and CRS."""

    name: str
    columns: dict[str, pa.DataType]
    geometry_column: str | None
    geometry_type: str | None
    crs: str | None
    count: int
    created: bool


def _existing(gpkg: Path, table: str) -> Target | None:
    if not gpkg.is_file() or table not in {str(row[0]) for row in list_layers(gpkg)}:
        return None
    info = read_info(gpkg, layer=table, force_feature_count=True)
    subtypes = info.get("ogr_subtypes") or ["OFSTNone"] * len(info["fields"])
    columns = {
        str(name): _ARROW_SUBTYPES.get(str(sub)) or _ARROW_TYPES.get(str(ogr), pa.string())
        for name, ogr, sub in zip(info["fields"], info["ogr_types"], subtypes, strict=True)
    }
    return Target(
        name=table,
        columns=columns,
        geometry_column=(info["geometry_name"] or None) if info["geometry_type"] else None,
        geometry_type=info["geometry_type"],
        crs=info["crs"],
        count=int(info["features"]),
        created=False,
    )


def _geometry_converter(
    source_crs: str | None, target: Target, label: str
) -> Callable[[pa.Array], pa.Array] | None:
    """What turns a batch's WKB into the target column's (``None``: nothing to do)."""
    kind = (target.geometry_type or "").replace(" Z", "").replace(" M", "")
    reproject = bool(source_crs and target.crs and not CRS.from_user_input(source_crs).equals(target.crs))
    if not reproject and kind not in _MULTI and kind not in _SINGLE:
        return None
    transformer = (
        Transformer.from_crs(source_crs, target.crs, always_xy=True) if reproject and source_crs else None
    )

    def convert(wkb: pa.Array) -> pa.Array:
        geoms = shapely.from_wkb(np.asarray(wkb.to_numpy(zero_copy_only=False), dtype=object))
        if transformer is not None:
            geoms = shapely.transform(geoms, transformer.transform, interleaved=False)
        if kind in _MULTI:
            _, build, single_id = _MULTI[kind]
            types = shapely.get_type_id(geoms)  # -1 for a missing geometry
            wrong = (types >= 0) & (types != single_id) & (types != _MULTI_ID[single_id])
            if wrong.any():
                found = shapely.get_type_id(geoms[wrong][0])
                raise IntegrationError(
                    f"{label}: a geometry does not fit a {kind} table "
                    f"(a {shapely.GeometryType(found).name.title()})"
                )
            single = types == single_id
            geoms[single] = build(geoms[single][:, None])
        elif kind in _SINGLE:
            one = shapely.get_num_geometries(geoms) == 1
            multi = one & np.isin(shapely.get_type_id(geoms), (4, 5, 6))
            geoms[multi] = shapely.get_geometry(geoms[multi], 0)
        return pa.array(shapely.to_wkb(geoms), pa.binary())

    if reproject or kind not in _MULTI:
        return convert
    arrow_type, _, single_id = _MULTI[kind]
    fits = {_WKB_ID[single_id], _WKB_ID[single_id] + 3}

    def promote(wkb: pa.Array) -> pa.Array:
        """Promotion in C (geoarrow) when every geometry is XY of the table's family, else shapely."""
        wrapped = ga.wkb().wrap_array(wkb)
        found = ga.unique_geometry_types(wrapped).to_pylist()
        if all(t["geometry_type"] in fits and t["dimensions"] == 1 for t in found):
            return ga.as_wkb(ga.as_geoarrow(wrapped, arrow_type)).storage
        return convert(wkb)

    return promote


def _batches(
    reader: pa.RecordBatchReader,
    keep: list[tuple[str, str]],
    target: Target,
    geometry: str | None,
    convert: Callable[[pa.Array], pa.Array] | None,
    check_abort: Callable[[], None],
    errors: list[BaseException],
) -> Iterator[pa.RecordBatch]:
    """The source batches with the target's column names and types, and its geometry.

    An error (bad value, abort) is kept in ``errors`` and ends the stream: GDAL would only see a
    broken stream, the caller raises it once the write has stopped.
    """
    try:
        for batch in reader:
            check_abort()
            arrays, names = [], []
            for source, column in keep:
                values = batch.column(source)
                wanted = target.columns.get(column)
                if wanted is not None and values.type != wanted:
                    try:
                        values = values.cast(wanted)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                        raise IntegrationError(
                            f"column {column}: values do not fit the table's type ({exc})"
                        ) from None
                arrays.append(values)
                names.append(column)
            if geometry is not None and target.geometry_column is not None:
                wkb = batch.column(geometry)
                if isinstance(wkb, pa.ExtensionArray):
                    wkb = wkb.storage
                arrays.append(convert(wkb) if convert is not None else wkb)
                names.append(target.geometry_column)
            yield pa.RecordBatch.from_arrays(arrays, names=names)
    except BaseException as exc:
        errors.append(exc)


def load_layer(
    gpkg: Path,
    src: SourceLayer,
    declared: str | None,
    log: Callable[[str], None],
    check_abort: Callable[[], None],
) -> str:
    """Load one layer into the GeoPackage (create its table or append to it); returns the table name."""
    shape = describe_source(src, declared, log)
    info, total, spatial, crs_text, table = shape.info, shape.total, shape.spatial, shape.crs, shape.table
    fields, names = shape.fields, shape.names
    target = _existing(gpkg, table)
    if target is None:
        target = Target(
            name=table,
            columns={},  # a new table takes the source's Arrow types (as GDAL reads them)
            geometry_column=GEOMETRY_COLUMN if spatial else None,
            geometry_type=multi_type(info["geometry_type"], src),
            crs=CRS.from_user_input(crs_text).to_wkt() if crs_text else None,
            count=0,
            created=True,
        )
        keep = list(zip(fields, names, strict=True))
    else:
        known = {c.lower(): c for c in target.columns}
        check_append(src, shape, known, target.geometry_column is not None, log)
        keep = [(f, known[n]) for f, n in zip(fields, names, strict=True) if n in known]
    convert = _geometry_converter(crs_text, target, src.label) if spatial else None
    errors: list[BaseException] = []
    try:
        with open_arrow(src.path, layer=src.layer, batch_size=BATCH, use_pyarrow=True, **src.options) as (
            meta,
            reader,
        ):
            geometry = (meta["geometry_name"] or "wkb_geometry") if spatial else None
            batches = _batches(reader, keep, target, geometry, convert, check_abort, errors)
            first = next(batches, None)
            if first is not None:
                stream = pa.RecordBatchReader.from_batches(first.schema, _chain(first, batches))
                _write(gpkg, stream, target)
    except (DataSourceError, DataLayerError) as exc:
        full = disk_full(exc, gpkg)
        if full is not None:
            raise full from None
        if not errors:
            raise IntegrationError(f"{src.label}: cannot read or write the layer ({exc})") from None
    if errors:
        error = errors[0]
        if isinstance(error, IntegrationError) and not str(error).startswith(src.label):
            raise IntegrationError(f"{src.label}: {error}") from None
        raise error
    written = int(read_info(gpkg, layer=table, force_feature_count=True)["features"]) - target.count
    if written != total:  # never report success for data that did not arrive
        raise IntegrationError(
            f"{src.label}: {written} of {total} features were integrated; the layer is damaged"
        )
    log(f"{src.label} → table {table} ({'created' if target.created else 'appended'}): {written} features")
    return table


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _write(gpkg: Path, stream: pa.RecordBatchReader, target: Target) -> None:
    options: dict[str, Any] = {}
    if target.created:
        options["layer_options"] = {
            "FID": FID_COLUMN,
            "GEOMETRY_NAME": GEOMETRY_COLUMN,
            "SPATIAL_INDEX": "YES",
        }
    write_arrow(
        stream,
        gpkg,
        layer=target.name,
        driver="GPKG",
        geometry_name=target.geometry_column,
        geometry_type=target.geometry_type if target.geometry_column else None,
        crs=target.crs,
        append=not target.created,
        **options,
    )


def _srs_name(crs_text: str) -> str:
    crs = CRS.from_user_input(crs_text)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def describe(gpkg: Path) -> list[dict[str, Any]]:
    """``type_infos.relations`` of the GeoPackage: every table with its columns, count and extent."""
    out = []
    for row in list_layers(gpkg):
        name = str(row[0])
        info = read_info(gpkg, layer=name, force_feature_count=True, force_total_bounds=True)
        spatial = info["geometry_type"] is not None
        box = info["total_bounds"] if spatial else None
        bounds = [float(v) for v in box] if box is not None else None
        out.append(
            {
                "name": name,
                "type": "TABLE",
                "attributes": dict(zip((str(f) for f in info["fields"]), field_types(info), strict=True)),
                "geometry_type": info["geometry_type"],
                "srs": _srs_name(info["crs"]) if info["crs"] else None,
                "count": int(info["features"]),
                "extent": bounds,
                "primary_key": [info["fid_column"] or FID_COLUMN],
                "geometry_column": (info["geometry_name"] or None) if spatial else None,
            }
        )
    return sorted(out, key=lambda rel: rel["name"])
