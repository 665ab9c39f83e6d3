"""Processing "Intégration de données vecteur livrées en base": VECTOR upload → VECTOR-DB.

With PostgreSQL/PostGIS (the home's embedded cluster or a configured server) every stored data
is one schema, filled as ``ogr2ogr`` fills PostgreSQL (see :mod:`gpf_flow.postgis.integrate`):
SQL scripts run in it, layers become laundered tables with ``ogc_fid`` and ``wkb_geometry``, and
an update appends to the tables already there. Without PostgreSQL the layers go into one
GeoPackage (``vector.gpkg``) with the same table and column names and the same append rules
(see :mod:`gpf_flow.processings.vector_gpkg`); SQL scripts then fail with what to install.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import Transformer
from shapely.geometry import box, mapping
from shapely.ops import unary_union

from gpf_flow.postgis import integrate
from gpf_flow.postgis.cluster import PostgresNotInstalled, PostgresUnavailable
from gpf_flow.postgis.database import Database, database_for, schema_name
from gpf_flow.postgis.settings import resolve_postgres
from gpf_flow.postgis.sources import SourceError, SourceLayer, SqlScript, find_sources
from gpf_flow.processings import vector_gpkg
from gpf_flow.processings.base import ProcessingContext, ProcessingFailed, ProcessingResult

OUTPUT_NAME = "vector.gpkg"


def find_layers(folders: list[Path]) -> list[SourceLayer]:
    """The layers of every vector file under the folders, sorted by path."""
    return [src for src in _sources(folders) if isinstance(src, SourceLayer)]


def _sources(folders: list[Path]) -> list[SourceLayer | SqlScript]:
    try:
        return find_sources(folders)
    except SourceError as exc:
        raise ProcessingFailed(str(exc)) from None


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
        # One transaction for the whole delivery: a failing file or layer leaves the stored
        # data as it was (each file and layer is a savepoint inside it).
        with db.connect(autocommit=True) as conn, conn.transaction():
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
    return _run_geopackage(ctx, [s for s in sources if isinstance(s, SourceLayer)], declared)


def _run_geopackage(
    ctx: ProcessingContext, layers: list[SourceLayer], declared: str | None
) -> ProcessingResult:
    """Load the layers into ``vector.gpkg``: a copy of the stored data's one when updating it
    (appended to, as in PostGIS), which replaces it only once every layer is in."""
    started = time.monotonic()
    final = ctx.output_dir / OUTPUT_NAME
    tmp = ctx.output_dir / ("partial-" + OUTPUT_NAME)
    tmp.unlink(missing_ok=True)
    appending = final.is_file()
    if appending:
        shutil.copyfile(final, tmp)
        ctx.log(f"INFO updating {OUTPUT_NAME}: layers are appended to its tables")
    try:
        for src in layers:
            ctx.check_abort()
            vector_gpkg.load_layer(tmp, src, declared, ctx.log, ctx.check_abort)
        relations = vector_gpkg.describe(tmp)
    except integrate.IntegrationError as exc:
        tmp.unlink(missing_ok=True)
        raise ProcessingFailed(str(exc)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(final)
    srs_values = {rel["srs"] for rel in relations if rel["srs"]}
    ctx.log(f"wrote {OUTPUT_NAME}: {len(relations)} table(s) in {time.monotonic() - started:.2f} s")
    return ProcessingResult(
        type_infos={"relations": relations, "file": OUTPUT_NAME},
        srs=srs_values.pop() if len(srs_values) == 1 else None,
        extent=_extent_4326(relations),
    )
