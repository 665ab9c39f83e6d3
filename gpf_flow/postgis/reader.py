"""Reading a stored data's relations in the shapes pyogrio gives (for the vector services).

:func:`layer_info` is ``pyogrio.read_info``'s subset (fields, dtypes, geometry type, CRS, count,
bounds); :func:`read_features` is ``pyogrio.raw.read`` with ``return_fids`` (bbox filter through
the GIST index, paging in primary-key order, a column subset). Both run parameterised queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from psycopg import sql

from gpf_flow.postgis.database import Database, RelationInfo, extent_of, relations_of

STATEMENT_TIMEOUT_MS = 60_000
"""A service query running longer is cancelled (the server's other requests never wait on it)."""
_DTYPES = {
    "smallint": "int16",
    "integer": "int32",
    "bigint": "int64",
    "real": "float32",
    "double precision": "float64",
    "numeric": "float64",
    "boolean": "bool",
    "date": "datetime64[D]",
}


def dtype_of(pg_type: str) -> str:
    """The numpy dtype name pyogrio would give a column of this PostgreSQL type."""
    base = pg_type.split("(")[0].strip()
    if base.startswith("timestamp"):
        return "datetime64[ms]"
    return _DTYPES.get(base, "object")


def relation(db: Database, schema: str, name: str) -> RelationInfo | None:
    """One relation of the schema, by name (case-insensitive)."""
    return next((r for r in db.relations(schema) if r.name.lower() == name.lower()), None)


def layer_info(db: Database, schema: str, name: str) -> dict[str, Any]:
    """``pyogrio.read_info``-like metadata of one relation."""
    with db.connect() as conn:
        rel = next((r for r in relations_of(conn, schema) if r.name == name), None)
        if rel is None:
            raise KeyError(name)
        count = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
        ).fetchone()
        bounds = extent_of(conn, schema, name)
    fields = [c for c in rel.columns if c.name != rel.geometry_column and c.name not in rel.primary_key]
    return {
        "fields": np.array([c.name for c in fields], dtype=object),
        "dtypes": np.array([dtype_of(c.type) for c in fields], dtype=object),
        "geometry_type": rel.geometry_type,
        "crs": f"EPSG:{rel.srid}" if rel.srid else None,
        "features": int(count[0]) if count else 0,
        "total_bounds": bounds or (0.0, 0.0, 0.0, 0.0),
        "fid_column": rel.primary_key[0] if len(rel.primary_key) == 1 else None,
        "geometry_name": rel.geometry_column,
    }


def read_features(
    db: Database,
    schema: str,
    name: str,
    bbox: tuple[float, float, float, float] | None = None,
    *,
    skip: int = 0,
    limit: int | None = None,
    columns: Sequence[str] | None = None,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, list[np.ndarray]]:
    """``(meta, fids, wkb, values)`` like ``pyogrio.raw.read(..., return_fids=True)``.

    Reads the catalog only (no count or extent) and runs under :data:`STATEMENT_TIMEOUT_MS`.
    """
    rel = relation(db, schema, name)
    if rel is None:
        raise KeyError(name)
    attrs = [c for c in rel.columns if c.name != rel.geometry_column and c.name not in rel.primary_key]
    fields = [c.name for c in attrs]
    wanted = fields if columns is None else [c for c in columns if c in fields]
    geom = rel.geometry_column
    fid = rel.primary_key[0] if len(rel.primary_key) == 1 else None
    crs = f"EPSG:{rel.srid}" if rel.srid else None
    select: list[sql.Composable] = [sql.Identifier(fid) if fid else sql.SQL("NULL")]
    select.append(sql.SQL("ST_AsBinary({})").format(sql.Identifier(geom)) if geom else sql.SQL("NULL"))
    select += [sql.Identifier(c) for c in wanted]
    where: sql.Composable = sql.SQL("")
    params: list[Any] = []
    if bbox is not None and geom:
        where = sql.SQL(" WHERE {} && ST_MakeEnvelope(%s, %s, %s, %s, %s)").format(sql.Identifier(geom))
        params += [*bbox, rel.srid or 0]
    order = sql.SQL(" ORDER BY {}").format(sql.Identifier(fid)) if fid else sql.SQL("")
    query = sql.SQL("SELECT {} FROM {}{}{} LIMIT %s OFFSET %s").format(
        sql.SQL(", ").join(select), sql.Identifier(schema, name), where, order
    )
    params += [limit, skip]
    with db.connect() as conn:
        conn.execute("SELECT set_config('statement_timeout', %s, true)", [str(STATEMENT_TIMEOUT_MS)])
        rows = conn.execute(query, params).fetchall()
    n = len(rows)
    fids = np.array([r[0] if r[0] is not None else skip + i + 1 for i, r in enumerate(rows)], dtype=np.int64)
    wkb = np.array([bytes(r[1]) if r[1] is not None else None for r in rows], dtype=object)
    dtypes = {c.name: dtype_of(c.type) for c in attrs}
    values: list[np.ndarray] = []
    for k, column in enumerate(wanted):
        data = [r[k + 2] for r in rows]
        kind = dtypes[column]
        if kind.startswith(("int", "float")) and all(v is not None for v in data):
            values.append(np.array(data, dtype=kind))
        elif kind.startswith(("int", "float")):
            values.append(np.array([np.nan if v is None else v for v in data], dtype="float64"))
        else:
            values.append(np.array(data, dtype=object) if n else np.array([], dtype=object))
    meta = {
        "fields": np.array(wanted, dtype=object),
        "crs": crs,
        "geometry_type": rel.geometry_type,
    }
    return meta, fids, wkb, values
