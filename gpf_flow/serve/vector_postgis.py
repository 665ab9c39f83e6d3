"""VECTOR-DB stored data kept in PostgreSQL/PostGIS, read for the WFS and WMS-VECTOR services.

:class:`PostGISSource` implements :class:`~gpf_flow.serve.vector_data.VectorSource` on one stored
data's schema: tables and views from the catalog with their real column types, filters translated
by :func:`~gpf_flow.serve.vector_query.to_sql` with a PostgreSQL dialect (driver identifiers and
``%s`` parameters, never values written into the SQL), bounding boxes tested with ``&&`` on the
GIST index then ``ST_Intersects``, geometries reprojected by ``ST_Transform`` and every statement
bounded by ``statement_timeout``. Connections come from the database's pool (bounded, reused
across requests; see :meth:`~gpf_flow.postgis.database.Database.pooled`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import shapely
from psycopg import sql

from gpf_flow.postgis.database import Database, RelationInfo, database_for, extent_of, relations_of
from gpf_flow.serve.vector_data import (
    GEOMETRY_NAMES,
    QUERY_TIMEOUT,
    Column,
    Features,
    QueryError,
    QueryTimeout,
    Table,
    box_in_table_crs,
    reproject,
)
from gpf_flow.serve.vector_query import BBox, Query, SqlFilter, order_by, properties_of, to_sql

VIEW_FID = "gpf_fid"
"""The row number given as feature id to a view that has no key column of its own."""
_KEY_COLUMNS = ("ogc_fid", "fid", "gid", "id")

_databases: dict[Path, Database] = {}
_databases_lock = threading.Lock()


def database_of(home: Path) -> Database:
    """The home's database, opened once per server process (starting the embedded cluster)."""
    with _databases_lock:
        db = _databases.get(home)
        if db is None:
            db = _databases[home] = database_for(home)
        return db


def column_type(pg_type: str) -> str:
    """The service type (``integer``, ``real``, ``boolean``, ``date``, ``datetime``, ``binary``,
    ``string``) of a PostgreSQL ``format_type``."""
    base = pg_type.split("(", 1)[0].strip().lower()
    if base in ("smallint", "integer", "bigint", "int", "int2", "int4", "int8", "serial", "bigserial"):
        return "integer"
    if base in ("real", "double precision", "numeric", "decimal", "float4", "float8"):
        return "real"
    if base == "boolean":
        return "boolean"
    if base == "date":
        return "date"
    if base.startswith("timestamp"):
        return "datetime"
    if base == "bytea":
        return "binary"
    return "string"


class _PgDialect:
    """PostgreSQL SQL for one table, quoted with the driver's identifiers."""

    placeholder = "%s"

    def __init__(self, table: Table, srid: int, conn: psycopg.Connection) -> None:
        self.table = table
        self.srid = srid
        self.conn = conn

    def ident(self, name: str) -> str:
        return sql.Identifier(name).as_string(self.conn)

    def column(self, prop: str) -> str:
        return self.ident(self.table.column(prop).name)

    def column_type(self, prop: str) -> str:
        return self.table.column(prop).type

    def fid(self) -> str:
        return self.ident(self.table.fid_column)

    def bbox(self, box: BBox, params: list[Any]) -> str:
        native = box_in_table_crs(box.box, box.crs, self.table)
        if native is None:
            return "1=0"
        geom = self.ident(self.table.geometry_column)
        envelope = "ST_MakeEnvelope(%s, %s, %s, %s, %s)"
        params.extend([*native, self.srid])
        if box.envelope:
            return f"{geom} && {envelope}"
        params.extend([*native, self.srid])
        return f"({geom} && {envelope} AND ST_Intersects({geom}, {envelope}))"

    def ilike(self, column: str, placeholder: str) -> str:
        return f"{column} ILIKE {placeholder} ESCAPE '\\'"


def _plain(value: Any) -> Any:
    """A JSON-ready attribute value (numeric as float, dates as ISO text)."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, memoryview | bytes):
        return bytes(value).hex()
    return value


@dataclass
class PostGISSource:
    """The tables and views of one VECTOR-DB stored data's schema."""

    database: Database
    schema: str
    timeout: float = QUERY_TIMEOUT
    _tables: list[Table] | None = field(default=None, repr=False)
    _sources: dict[str, str] = field(default_factory=dict, repr=False)
    _srids: dict[str, int] = field(default_factory=dict, repr=False)

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection]:
        """A connection of the database's pool, its transaction bounded by the statement timeout."""
        with self.database.pooled() as conn:
            conn.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(self.timeout * 1000))])
            yield conn

    def tables(self) -> list[Table]:
        if self._tables is None:
            with self._connect() as conn:
                self._tables = [
                    self._table(conn, rel) for rel in relations_of(conn, self.schema) if rel.geometry_column
                ]
        return list(self._tables)

    def _table(self, conn: psycopg.Connection, rel: RelationInfo) -> Table:
        geom = str(rel.geometry_column)
        names = [c.name for c in rel.columns]
        if len(rel.primary_key) == 1:
            fid = rel.primary_key[0]
        else:
            fid = next((k for k in _KEY_COLUMNS if k in names), VIEW_FID)
        relation = sql.Identifier(self.schema, rel.name).as_string(conn)
        if fid == VIEW_FID:  # a view without a key: number its rows
            relation = f"(SELECT row_number() OVER () AS {VIEW_FID}, * FROM {relation}) AS v"
        self._sources[rel.name] = relation
        self._srids[rel.name] = int(rel.srid or 4326)
        count_row = conn.execute(f"SELECT count(*) FROM {relation}").fetchone()
        b = extent_of(conn, self.schema, rel.name) or (0.0, 0.0, 0.0, 0.0)
        columns = tuple(Column(c.name, column_type(c.type)) for c in rel.columns if c.name not in (geom, fid))
        return Table(
            name=rel.name,
            fid_column=fid,
            geometry_column=geom,
            geometry_type=GEOMETRY_NAMES.get(str(rel.geometry_type or "").upper(), "Geometry"),
            crs=f"EPSG:{self._srids[rel.name]}",
            columns=columns,
            count=int(count_row[0]) if count_row else 0,
            bounds=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
        )

    def _where(self, table: Table, query: Query, dialect: _PgDialect) -> SqlFilter:
        for prop in properties_of(query.filter):
            table.column(prop)
        try:
            return to_sql(query.filter, dialect)
        except ValueError as exc:
            raise QueryError(str(exc)) from None

    def _rows(self, conn: psycopg.Connection, statement: str, params: Sequence[Any]) -> list[Any]:
        try:
            return conn.execute(statement, params).fetchall()
        except psycopg.errors.QueryCanceled:
            raise QueryTimeout(f"the query ran longer than {self.timeout:g} s") from None

    def query(self, table: Table, query: Query) -> Features:
        if query.limit == 0:
            return Features.empty()
        self.tables()
        names = (
            [table.column(p).name for p in query.properties]
            if query.properties is not None
            else [c.name for c in table.columns]
        )
        for key in query.sort:
            table.column(key.prop)
        target = "EPSG:4326" if query.crs == "CRS:84" else query.crs or table.crs
        with self._connect() as conn:
            dialect = _PgDialect(table, self._srids[table.name], conn)
            where = self._where(table, query, dialect)
            geom = dialect.ident(table.geometry_column)
            params: list[Any] = []
            if target != table.crs and target.upper().startswith("EPSG:"):
                geometry = f"ST_AsBinary(ST_Transform({geom}, %s))"
                params.append(int(target.split(":", 1)[1]))
                done = target
            else:
                geometry, done = f"ST_AsBinary({geom})", table.crs
            select = ", ".join([dialect.fid(), geometry, *(dialect.ident(n) for n in names)])
            statement = (
                f"SELECT {select} FROM {self._sources[table.name]} WHERE {where.where}"
                f" ORDER BY {order_by(query.sort, dialect)} LIMIT %s OFFSET %s"
            )
            rows = self._rows(conn, statement, [*params, *where.params, query.limit, query.offset])
        fids = np.array([int(r[0]) for r in rows], dtype=np.int64)
        wkb = [bytes(r[1]) if r[1] is not None else None for r in rows]
        geoms = np.array(shapely.from_wkb(wkb, on_invalid="ignore"), dtype=object).reshape(len(rows))
        columns = {}
        for k, name in enumerate(names):
            array = np.empty(len(rows), dtype=object)
            array[:] = [_plain(r[k + 2]) for r in rows]
            columns[name] = array
        return Features(fids, reproject(geoms, done, target), columns, target)

    def count(self, table: Table, query: Query) -> int:
        self.tables()
        with self._connect() as conn:
            where = self._where(table, query, _PgDialect(table, self._srids[table.name], conn))
            statement = f"SELECT count(*) FROM {self._sources[table.name]} WHERE {where.where}"
            rows = self._rows(conn, statement, where.params)
        return int(rows[0][0])
