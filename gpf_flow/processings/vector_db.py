"""Processing "Intégration de données vecteur livrées en base": VECTOR upload → VECTOR-DB.

With PostgreSQL/PostGIS (the home's embedded cluster or a configured server) every stored data
is one schema, filled as ``ogr2ogr`` fills PostgreSQL (see :mod:`gpf_flow.postgis.integrate`):
SQL scripts run in it, layers become laundered tables with ``ogc_fid`` and ``wkb_geometry``, and
an update appends to the tables already there. Without PostgreSQL the layers go into one
GeoPackage (``vector.gpkg``) with the same table and column names; SQL scripts then fail with
what to install.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pyogrio import read_info
from pyogrio.errors import DataLayerError, DataSourceError
from pyogrio.raw import read, write
from pyproj import CRS, Transformer
from shapely.geometry import box, mapping
from shapely.ops import unary_union

from gpf_flow.postgis import integrate
from gpf_flow.postgis.cluster import PostgresNotInstalled, PostgresUnavailable
from gpf_flow.postgis.database import Database, database_for, schema_name
from gpf_flow.postgis.naming import FID_COLUMN, GEOMETRY_COLUMN, column_names, launder
from gpf_flow.postgis.settings import resolve_postgres
from gpf_flow.postgis.sources import (
    SourceError,
    SourceLayer,
    SqlScript,
    field_types,
    find_sources,
    multi_type,
)
from gpf_flow.processings.base import ProcessingContext, ProcessingFailed, ProcessingResult

OUTPUT_NAME = "vector.gpkg"
BATCH = 50_000


def find_layers(folders: list[Path]) -> list[SourceLayer]:
    """The layers of every vector file under the folders, sorted by path."""
    return [src for src in _sources(folders) if isinstance(src, SourceLayer)]


def _sources(folders: list[Path]) -> list[SourceLayer | SqlScript]:
    try:
        return find_sources(folders)
    except SourceError as exc:
        raise ProcessingFailed(str(exc)) from None


def _unique(name: str, taken: set[str]) -> str:
    candidate, i = name, 1
    while candidate in taken:
        candidate = f"{name}_{i}"
        i += 1
    taken.add(candidate)
    return candidate


def table_name(layer: str, taken: set[str]) -> str:
    """The laundered table name (as ogr2ogr gives it), unique within the output."""
    return _unique(launder(layer), taken)


def _attribute_types(info: Mapping[str, Any]) -> dict[str, str]:
    """PostgreSQL type names of a layer's fields, as ogr2ogr creates them."""
    return dict(zip((str(f) for f in info["fields"]), field_types(info), strict=True))


def _srs_name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def integrate_layer(
    ctx: ProcessingContext, src: SourceLayer, table: str, target: Path, declared: str | None
) -> dict[str, Any]:
    """Copy one layer into the GeoPackage, batch by batch; returns its ``relations`` entry."""
    started = time.monotonic()
    info = read_info(src.path, layer=src.layer, force_feature_count=True, **src.options)
    total = int(info["features"])
    if total == 0:
        raise ProcessingFailed(
            f"{src.label}: layer {src.layer!r} is empty (no feature); remove it or fill it"
        )
    crs_text = info["crs"]
    spatial = info["geometry_type"] is not None
    if crs_text is None and spatial:
        if not declared:
            raise ProcessingFailed(f"{src.label}: input has no CRS and the upload declares no srs")
        ctx.log(f"WARNING {src.label}: input has no CRS, using the upload's declared srs {declared}")
        crs_text = declared
    crs = CRS.from_user_input(crs_text) if crs_text else None
    geometry_type = multi_type(info["geometry_type"], src)
    columns = column_names([str(name) for name in info["fields"]])
    written = 0
    while written < total:
        ctx.check_abort()
        meta, _, geometry, field_data = read(
            src.path, layer=src.layer, skip_features=written, max_features=BATCH, **src.options
        )
        n = len(geometry) if geometry is not None else (len(field_data[0]) if len(field_data) else 0)
        if n == 0:
            break
        write(
            target,
            geometry,
            field_data,
            columns,
            driver="GPKG",
            layer=table,
            crs=crs.to_wkt() if crs else None,
            geometry_type=geometry_type,
            promote_to_multi=geometry_type is not None,
            append=written > 0,
            layer_options={"FID": FID_COLUMN, "GEOMETRY_NAME": GEOMETRY_COLUMN, "SPATIAL_INDEX": "YES"},
        )
        written += n
    out = read_info(target, layer=table, force_total_bounds=True)
    if int(out["features"]) != total:  # never report success for data that did not arrive
        raise ProcessingFailed(
            f"{src.label}: {out['features']} of {total} features were integrated; the layer is damaged"
        )
    if columns and not [f for f in out["fields"] if str(f).lower() != FID_COLUMN]:
        raise ProcessingFailed(f"{src.label}: every attribute ({', '.join(columns)}) was lost")
    bounds = [float(v) for v in out["total_bounds"]] if geometry_type is not None else None
    ctx.log(
        f"{src.label} → table {table}: {out['features']} features, {out['geometry_type']}, "
        f"{_srs_name(crs) if crs else 'no geometry'}, {len(columns)} columns, "
        f"{time.monotonic() - started:.2f} s"
    )
    return {
        "name": table,
        "type": "TABLE",
        "attributes": _attribute_types(out),
        "geometry_type": out["geometry_type"],
        "srs": _srs_name(crs) if crs else None,
        "count": int(out["features"]),
        "extent": bounds,
        "primary_key": [FID_COLUMN],
        "geometry_column": GEOMETRY_COLUMN if geometry_type is not None else None,
    }


def _extent_4326(relations: list[dict[str, Any]]) -> dict[str, Any] | None:
    shapes = []
    for rel in relations:
        if rel["extent"] is None or any(not np.isfinite(v) for v in rel["extent"]):
            continue
        to_4326 = Transformer.from_crs(rel["srs"], "EPSG:4326", always_xy=True)
        minx, miny, maxx, maxy = rel["extent"]
        shapes.append(box(*to_4326.transform_bounds(minx, miny, maxx, maxy, densify_pts=21)))
    if not shapes:
        return None
    return dict(mapping(unary_union(shapes)))


def _plain(problem: PostgresUnavailable) -> str:
    """One line: what is missing, then how to fix it."""
    return f"{problem.message} ({problem.hint})" if problem.hint else problem.message


def _database(ctx: ProcessingContext, scripts: list[SqlScript]) -> Database | None:
    """The PostGIS database to load into, or ``None`` for the GeoPackage store (said in the log)."""
    choice = resolve_postgres()
    problem: PostgresUnavailable
    if choice.kind == "off":
        problem = PostgresUnavailable(f"PostgreSQL is turned off ({choice.source})")
    elif ctx.home is None and choice.kind != "dsn":
        problem = PostgresUnavailable("no store home to run PostgreSQL in")
    else:
        try:
            return database_for(ctx.home or Path("."))
        except PostgresNotInstalled as exc:
            problem = exc
        except PostgresUnavailable as exc:
            # Installed but failing: say so rather than silently storing elsewhere.
            raise ProcessingFailed(f"PostgreSQL: {_plain(exc)}") from None
    if scripts:
        names = ", ".join(s.label for s in scripts)
        raise ProcessingFailed(
            f"{names}: SQL files need PostgreSQL with PostGIS, which is not available: {_plain(problem)}"
        )
    if choice.kind != "off":
        ctx.log(f"INFO {_plain(problem)}; the VECTOR-DB is kept in a GeoPackage ({OUTPUT_NAME})")
    return None


def _run_postgis(
    ctx: ProcessingContext, db: Database, sources: list[SourceLayer | SqlScript], declared: str | None
) -> ProcessingResult:
    started = time.monotonic()
    sd_id = str((ctx.output_entity or {}).get("_id") or uuid.uuid4())
    schema = schema_name(sd_id)
    appending = db.schema_exists(schema)
    db.create_schema(schema)
    ctx.log(
        f"INFO {'updating' if appending else 'loading into'} schema {schema} of {db.choice.masked()}"
        if db.cluster is None
        else f"INFO {'updating' if appending else 'loading into'} schema {schema} (cluster {db.cluster.data})"
    )
    try:
        with db.connect(autocommit=True) as conn:
            for src in sources:
                ctx.check_abort()
                if isinstance(src, SqlScript):
                    integrate.run_script(conn, schema, src)
                    ctx.log(f"{src.label}: executed in schema {schema}")
                else:
                    integrate.load_layer(conn, schema, src, declared, ctx.log, ctx.check_abort)
            relations = integrate.describe(conn, schema)
    except integrate.IntegrationError as exc:
        if not appending:
            db.drop_schema(schema)
        raise ProcessingFailed(str(exc)) from None
    except BaseException:
        if not appending:
            db.drop_schema(schema)
        raise
    srs_values = {rel["srs"] for rel in relations if rel["srs"]}
    ctx.log(f"schema {schema}: {len(relations)} relation(s) in {time.monotonic() - started:.2f} s")
    return ProcessingResult(
        type_infos={"relations": relations, "database": "postgis"},
        srs=srs_values.pop() if len(srs_values) == 1 else None,
        extent=_extent_4326(relations),
    )


def run(ctx: ProcessingContext) -> ProcessingResult:
    """Integrate the VECTOR upload(s) into PostGIS, or into one GeoPackage without PostgreSQL."""
    started = time.monotonic()
    sources = _sources([u.path for u in ctx.uploads])
    if not sources:
        raise ProcessingFailed(
            "no vector file found in the upload (expected .sql, .shp, .gpkg, .csv or .geojson files)"
        )
    ctx.log(f"found {len(sources)} source(s): {', '.join(src.label for src in sources)}")
    declared = next((str(u.entity["srs"]) for u in ctx.uploads if u.entity.get("srs")), None)
    db = _database(ctx, [s for s in sources if isinstance(s, SqlScript)])
    if db is not None:
        return _run_postgis(ctx, db, sources, declared)
    layers = [s for s in sources if isinstance(s, SourceLayer)]
    tmp = ctx.output_dir / ("partial-" + OUTPUT_NAME)
    tmp.unlink(missing_ok=True)
    taken: set[str] = set()
    relations = []
    try:
        for src in layers:
            ctx.check_abort()
            try:
                relations.append(integrate_layer(ctx, src, table_name(src.layer, taken), tmp, declared))
            except (DataSourceError, DataLayerError) as exc:
                raise ProcessingFailed(f"{src.label}: cannot read or write the layer ({exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(ctx.output_dir / OUTPUT_NAME)
    srs_values = {rel["srs"] for rel in relations if rel["srs"]}
    ctx.log(f"wrote {OUTPUT_NAME}: {len(relations)} table(s) in {time.monotonic() - started:.2f} s")
    return ProcessingResult(
        type_infos={"relations": relations, "file": OUTPUT_NAME},
        srs=srs_values.pop() if len(srs_values) == 1 else None,
        extent=_extent_4326(relations),
    )
