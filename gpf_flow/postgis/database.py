"""The PostGIS database of a home: one schema per VECTOR-DB stored data, and reading it back.

This is the small API the processings and the services use::

    db = database_for(home)                        # embedded cluster (started if needed) or DSN
    with db.connect("sd_…") as conn: ...           # psycopg connection, search_path = schema, public
    db.relations("sd_…")                           # tables and views: columns, types, geometry
    db.extent("sd_…", "canton")                    # (minx, miny, maxx, maxy) in the table's SRS
    db.query("sd_…", sql.SQL("SELECT … WHERE x = %s"), [value])  # parameterised, rows as dicts
    with db.pooled() as conn: ...                  # a connection of the process's bounded pool

Short connections (``connect``) serve the processings; the services, which query on every
request, borrow from a pool (``pooled``: psycopg_pool, at most :data:`POOL_SIZE` connections,
checked before use, closed by :func:`shutdown` before the cluster stops).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from gpf_flow.postgis.cluster import EmbeddedCluster, PostgresUnavailable
from gpf_flow.postgis.settings import PostgresChoice, resolve_postgres

SCHEMA_PREFIX = "sd_"
POOL_SIZE = 4
"""Pooled connections per database and process: as many as vector requests run at once."""
POOL_WAIT = 30.0
"""Seconds a request waits for a pooled connection before failing."""
_pools: list[ConnectionPool] = []
_pools_lock = threading.Lock()


def schema_name(stored_data_id: str) -> str:
    """The schema holding one stored data's tables (``sd_`` and the id without dashes)."""
    return SCHEMA_PREFIX + stored_data_id.replace("-", "").lower()


def stored_data_schema(entity: Mapping[str, Any]) -> str | None:
    """The schema of a VECTOR-DB stored data kept in PostGIS (``type_infos.database``), else ``None``."""
    infos = entity.get("type_infos") or {}
    if infos.get("database") != "postgis" or not entity.get("_id"):
        return None
    return schema_name(str(entity["_id"]))


@dataclass(frozen=True)
class Column:
    """One column as the API shows it: name and PostgreSQL type (``format_type``)."""

    name: str
    type: str


@dataclass(frozen=True)
class RelationInfo:
    """A table or view of a schema, with its geometry column if it has one."""

    name: str
    type: str
    """``TABLE`` or ``VIEW``."""
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    geometry_column: str | None = None
    geometry_type: str | None = None
    srid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def attributes(self) -> dict[str, str]:
        """``{column: type}`` as ``type_infos.relations[].attributes`` shows them."""
        return {c.name: c.type for c in self.columns}


class Database:
    """One PostgreSQL database with PostGIS (the home's cluster or a server given by DSN)."""

    def __init__(self, conninfo: str, choice: PostgresChoice, cluster: EmbeddedCluster | None = None) -> None:
        self.conninfo = conninfo
        self.choice = choice
        self.cluster = cluster
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()

    def pool(self) -> ConnectionPool:
        """This process's pool of connections to the database (opened on first use)."""
        with self._pool_lock:
            if self._pool is None or self._pool.closed:
                self._pool = ConnectionPool(
                    self.conninfo,
                    min_size=1,
                    max_size=POOL_SIZE,
                    timeout=POOL_WAIT,
                    check=ConnectionPool.check_connection,  # a connection the server dropped is replaced
                    name="gpf-flow-postgis",
                    open=True,
                )
                with _pools_lock:
                    _pools.append(self._pool)
            return self._pool

    @contextmanager
    def pooled(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction (committed on success, rolled back on error).

        An embedded server found stopped (crash, kill) is started again first; the pool then
        replaces the connections it had to the old server.
        """
        if self.cluster is not None and self.cluster.server_pid() is None:
            self.conninfo = self.cluster.ensure_running()
        with self.pool().connection() as conn:
            yield conn

    @contextmanager
    def connect(self, schema: str | None = None, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A connection whose ``search_path`` is ``schema, public`` (committed on success)."""
        try:
            conn = psycopg.connect(self.conninfo, autocommit=autocommit)
        except psycopg.OperationalError:
            if self.cluster is None:
                raise
            # The embedded server stopped (closed store, crash, kill): start it again.
            self.conninfo = self.cluster.ensure_running()
            conn = psycopg.connect(self.conninfo, autocommit=autocommit)
        with conn:
            if schema:
                conn.execute(
                    sql.SQL("SELECT set_config('search_path', {}, false)").format(
                        sql.Literal(f'"{schema}", public')
                    )
                )
            yield conn

    def create_schema(self, schema: str) -> None:
        """Create the schema if it does not exist."""
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))

    def drop_schema(self, schema: str) -> None:
        """Drop the schema and everything in it."""
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    def schema_exists(self, schema: str) -> bool:
        """True if the schema exists."""
        with self.connect() as conn:
            row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
        return row is not None

    def relations(self, schema: str) -> list[RelationInfo]:
        """Tables and views of the schema, in name order, with column types and geometry."""
        with self.connect() as conn:
            return relations_of(conn, schema)

    def extent(self, schema: str, table: str) -> tuple[float, float, float, float] | None:
        """``ST_Extent`` of the relation's geometry column in its own SRS, ``None`` when empty."""
        with self.connect() as conn:
            return extent_of(conn, schema, table)

    def query(
        self, schema: str, query: sql.SQL | sql.Composed | str, params: Sequence[Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run a parameterised query in the schema; rows as dicts."""
        with self.connect(schema) as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query if not isinstance(query, str) else sql.SQL(query), params)
            return list(cur.fetchall()) if cur.description else []


def relations_of(conn: psycopg.Connection, schema: str) -> list[RelationInfo]:
    """:meth:`Database.relations` on an open connection."""
    rows = conn.execute(
        """
        SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod), a.attnum
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'p', 'm')
        ORDER BY c.relname, a.attnum
        """,
        [schema],
    ).fetchall()
    keys: dict[str, list[str]] = {}
    for name, column in conn.execute(
        """
        SELECT c.relname, a.attname FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
        WHERE n.nspname = %s AND i.indisprimary
        """,
        [schema],
    ).fetchall():
        keys.setdefault(name, []).append(column)
    geoms = {
        (r[0], r[1]): (r[2], r[3])
        for r in conn.execute(
            "SELECT f_table_name, f_geometry_column, type, srid FROM geometry_columns "
            "WHERE f_table_schema = %s",
            [schema],
        ).fetchall()
    }
    out: dict[str, dict[str, Any]] = {}
    for relname, kind, column, typ, _num in rows:
        item = out.setdefault(
            relname, {"type": "VIEW" if kind in ("v", "m") else "TABLE", "columns": [], "geom": None}
        )
        item["columns"].append(Column(column, typ))
        if item["geom"] is None and (relname, column) in geoms:
            item["geom"] = (column, *geoms[(relname, column)])
    result = []
    for relname, item in out.items():
        geom = item["geom"]
        result.append(
            RelationInfo(
                name=relname,
                type=item["type"],
                columns=tuple(item["columns"]),
                primary_key=tuple(keys.get(relname, ())),
                geometry_column=geom[0] if geom else None,
                geometry_type=_pretty_type(geom[1]) if geom else None,
                srid=int(geom[2]) if geom and geom[2] else None,
            )
        )
    return result


_PRETTY = {
    t.upper(): t
    for t in (
        "Point",
        "LineString",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
        "Geometry",
    )
}


def _pretty_type(value: str) -> str:
    return _PRETTY.get(str(value).upper(), str(value))


def extent_of(conn: psycopg.Connection, schema: str, table: str) -> tuple[float, float, float, float] | None:
    """:meth:`Database.extent` on an open connection."""
    info = next((r for r in relations_of(conn, schema) if r.name == table), None)
    if info is None or info.geometry_column is None:
        return None
    row = conn.execute(
        sql.SQL(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent({}) AS e FROM {}) s"
        ).format(sql.Identifier(info.geometry_column), sql.Identifier(schema, table))
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def database_for(home: Path, config_path: str | Path | None = None) -> Database:
    """The home's database: the server of the configured DSN, or the embedded cluster (started).

    Raises :class:`PostgresUnavailable` (with the fix in its hint) when PostgreSQL is turned off,
    missing, or unreachable.
    """
    choice = resolve_postgres(config_path)
    if choice.kind == "off":
        raise PostgresUnavailable(
            f"PostgreSQL is turned off ({choice.source})",
            hint="unset GPF_FLOW_POSTGRES or set it to 'embedded' or to a DSN",
        )
    if choice.kind == "dsn" and choice.dsn:
        try:
            with psycopg.connect(choice.dsn, autocommit=True, connect_timeout=10) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except psycopg.Error as exc:
            raise PostgresUnavailable(
                f"cannot use the PostgreSQL server {choice.masked()} ({choice.source}): {str(exc).strip()}",
                hint="check the DSN, and that PostGIS is installed on that server (CREATE EXTENSION postgis)",
            ) from None
        return Database(choice.dsn, choice)
    cluster = EmbeddedCluster(home)
    return Database(cluster.ensure_running(), choice, cluster)


def postgres_status(home: Path, config_path: str | Path | None = None) -> tuple[str, str]:
    """(what, source) for ``gpf-flow config``: the masked DSN, the embedded cluster, or why not."""
    choice = resolve_postgres(config_path)
    if choice.kind == "dsn":
        return choice.masked(), choice.source
    if choice.kind == "off":
        return "off (VECTOR-DB in GeoPackage files)", choice.source
    try:
        cluster = EmbeddedCluster(home)
    except PostgresUnavailable as exc:
        return f"none: {exc.message} (VECTOR-DB in GeoPackage files; {exc.hint})", choice.source
    state = "running" if cluster.server_pid() else "started on first use"
    return f"embedded cluster {cluster.data} ({state}, PostgreSQL in {cluster.bindir})", choice.source


def close_pools() -> None:
    """Close this process's connection pools (they are reopened on next use)."""
    with _pools_lock:
        pools = list(_pools)
        _pools.clear()
    for pool in pools:
        pool.close()


def shutdown(home: Path) -> None:
    """Stop the home's embedded cluster if it runs and no other process is connected to it.

    This process's pooled connections are closed first (they would keep the cluster busy).
    """
    close_pools()
    if resolve_postgres().kind != "embedded" or not (Path(home) / "postgres" / "data").is_dir():
        return
    try:
        cluster = EmbeddedCluster(home)
    except PostgresUnavailable:
        return
    if cluster.server_pid() is not None and not cluster.busy():
        cluster.stop()


def drop_stored_data(home: Path, entity: Mapping[str, Any]) -> None:
    """Drop the schema of a deleted VECTOR-DB stored data kept in PostGIS (nothing for others)."""
    schema = stored_data_schema(entity)
    if schema is None:
        return
    # A database that is gone or unreachable has nothing left to free.
    with suppress(PostgresUnavailable, psycopg.Error):
        database_for(home).drop_schema(schema)
