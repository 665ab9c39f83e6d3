"""Reading VECTOR-DB stored data for the WMS-VECTOR and WFS services.

:class:`VectorSource` is what the services need from a VECTOR-DB: its tables (columns, types,
extent) and features selected by a :class:`~gpf_flow.serve.vector_query.Query` (filter tree,
sort, paging, property selection, output CRS) and counted. :class:`GeoPackageSource` implements it
on the embedded store's ``vector.gpkg`` with SQLite SQL and parameters; a PostGIS source
implements the same protocol on a schema (``to_sql`` with its own :class:`SqlDialect`).
:class:`VectorSources` maps published configurations to their sources and relations.

:class:`~gpf_flow.serve.vector_postgis.PostGISSource` is the PostGIS one (its own
:class:`SqlDialect`, ``ST_Transform``, connections from a bounded pool, a statement timeout
raising :class:`QueryTimeout`); :func:`source_of` chooses it for stored data kept in PostgreSQL.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread
import numpy as np
import shapely
from pyproj import Transformer

from gpf_flow.serve.ows import crs_code
from gpf_flow.serve.published import PublishedLayer, UsedData
from gpf_flow.serve.vector_query import (
    BBox,
    Box,
    Query,
    SqlFilter,
    order_by,
    properties_of,
    to_sql,
)

QUERY_TIMEOUT = 30.0
"""Seconds a query may run before it is interrupted (the ``statement_timeout`` of a source)."""
QUERY_THREADS = 4
"""Vector requests running at once per server process; others wait without holding a thread."""

T = TypeVar("T")
_limiter: anyio.CapacityLimiter | None = None


async def run_bounded(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking vector request in its own bounded thread pool.

    Heavy WFS/WMS-VECTOR queries then never take the threads that the API and the other
    services run in (the default pool), and at most :data:`QUERY_THREADS` run at once.
    """
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(QUERY_THREADS)
    return await anyio.to_thread.run_sync(func, *args, limiter=_limiter)


class QueryError(ValueError):
    """A query the layer cannot answer (unknown property, literal of the wrong type)."""


class QueryTimeout(RuntimeError):
    """A query interrupted after the source's timeout."""


@dataclass(frozen=True)
class Column:
    """An attribute column and its type.

    ``type`` is ``integer``, ``real``, ``string``, ``boolean``, ``date``, ``datetime`` or ``binary``.
    """

    name: str
    type: str


@dataclass(frozen=True)
class Table:
    """One table (or view) of a VECTOR-DB, as its source describes it."""

    name: str
    fid_column: str
    geometry_column: str
    geometry_type: str
    """``Point``, ``MultiPolygon``… or ``Geometry`` when mixed."""
    crs: str
    """``EPSG:n`` of the stored geometries."""
    columns: tuple[Column, ...]
    count: int
    bounds: Box
    """In :attr:`crs`; ``(0, 0, 0, 0)`` when the table is empty."""

    def column(self, name: str) -> Column:
        """The column of a property name (case-insensitive); ``QueryError`` listing them if none."""
        for col in self.columns:
            if col.name.lower() == name.lower():
                return col
        known = ", ".join(c.name for c in self.columns)
        raise QueryError(f"{self.name} has no property {name!r} (its properties: {known})")


@dataclass
class Features:
    """Features read from a table: ids, shapely geometries and attribute columns."""

    fids: np.ndarray
    geometries: np.ndarray
    columns: dict[str, np.ndarray]
    crs: str | None = None
    """``EPSG:n`` of :attr:`geometries`."""

    def __len__(self) -> int:
        return len(self.fids)

    @classmethod
    def empty(cls, names: Sequence[str] = ()) -> Features:
        """No feature."""
        return cls(
            np.array([], dtype=np.int64),
            np.array([], dtype=object),
            {n: np.array([], dtype=object) for n in names},
        )

    def subset(self, index: slice | np.ndarray) -> Features:
        """The features selected by a slice, a boolean mask or positions."""
        return Features(
            self.fids[index],
            self.geometries[index],
            {k: v[index] for k, v in self.columns.items()},
            self.crs,
        )

    def properties(self, i: int) -> dict[str, Any]:
        """Attributes of feature ``i`` as JSON-ready values."""
        out: dict[str, Any] = {}
        for name, values in self.columns.items():
            value = values[i]
            value = value.item() if hasattr(value, "item") else value
            if isinstance(value, float) and math.isnan(value):
                value = None
            out[name] = value
        return out


class VectorSource(Protocol):
    """The tables of one VECTOR-DB stored data and the features they hold."""

    def tables(self) -> list[Table]:
        """Every table and view with a geometry column."""
        ...

    def query(self, table: Table, query: Query) -> Features:
        """Features matching ``query`` (geometries in ``query.crs`` or the table's CRS).

        Raises ``QueryError`` for a query the table cannot answer, ``QueryTimeout``.
        """
        ...

    def count(self, table: Table, query: Query) -> int:
        """How many features match ``query.filter`` (paging ignored)."""
        ...


@functools.lru_cache(maxsize=64)
def transformer(src: str, dst: str) -> Transformer:
    """A cached lon/lat-ordered (``always_xy``) transformer."""
    return Transformer.from_crs(src, dst, always_xy=True)


def transform_bounds(
    bounds: Sequence[float], src: str, dst: str, densify: int = 21
) -> tuple[float, float, float, float]:
    """Bounds from one CRS to another (x/y order on both sides)."""
    if src == dst:
        x0, y0, x1, y1 = bounds
        return float(x0), float(y0), float(x1), float(y1)
    bx0, by0, bx1, by1 = (float(v) for v in bounds)
    x0, y0, x1, y1 = transformer(src, dst).transform_bounds(bx0, by0, bx1, by1, densify_pts=densify)
    return float(x0), float(y0), float(x1), float(y1)


def union_bounds(
    boxes: Sequence[Sequence[float]], empty: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """The box covering every ``(minx, miny, maxx, maxy)`` of ``boxes``; ``empty`` when there is none."""
    if not boxes:
        return empty
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def box_in_table_crs(box: Box, crs: str, table: Table) -> Box | None:
    """A query box in the table's CRS, clipped to the table's extent first (a world-wide box
    does not transform into a national CRS); None when it misses the table."""
    crs = "EPSG:4326" if crs == "CRS:84" else crs
    ext = transform_bounds(table.bounds, table.crs, crs) if crs != table.crs else table.bounds
    clip = (max(box[0], ext[0]), max(box[1], ext[1]), min(box[2], ext[2]), min(box[3], ext[3]))
    if not (clip[0] <= clip[2] and clip[1] <= clip[3]) or not all(math.isfinite(v) for v in clip):
        return None
    return transform_bounds(clip, crs, table.crs)


def reproject(geoms: np.ndarray, src: str, dst: str | None) -> np.ndarray:
    """Geometries from ``src`` to ``dst`` (unchanged when ``dst`` is None or the same)."""
    target = "EPSG:4326" if dst == "CRS:84" else dst
    if target is None or target == src or len(geoms) == 0:
        return geoms
    return np.asarray(shapely.transform(geoms, transformer(src, target).transform, interleaved=False))


# -- GeoPackage ----------------------------------------------------------------------------------
# GeoPackage geometry blobs: "GP", version, flags, srs_id, then an envelope whose size the flags
# give, then standard WKB (GeoPackage 1.3, §2.1.3).
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def gpkg_wkb(blob: bytes | None) -> bytes | None:
    """The WKB of a GeoPackage geometry blob (None for NULL or empty geometries)."""
    if not blob or len(blob) < 8 or blob[:2] != b"GP":
        return None
    flags = blob[3]
    if flags & 0b10000:  # empty geometry
        return None
    return bytes(blob[8 + _ENVELOPE_BYTES.get((flags >> 1) & 0b111, 0) :])


def _gpkg_intersects(blob: bytes | None, x0: float, y0: float, x1: float, y1: float) -> int:
    wkb = gpkg_wkb(blob)
    if wkb is None:
        return 0
    return int(shapely.intersects(shapely.from_wkb(wkb), shapely.box(x0, y0, x1, y1)))


_GPKG_TYPES = {
    "INTEGER": "integer",
    "INT": "integer",
    "MEDIUMINT": "integer",
    "SMALLINT": "integer",
    "TINYINT": "integer",
    "BIGINT": "integer",
    "REAL": "real",
    "DOUBLE": "real",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "DATETIME": "datetime",
    "BLOB": "binary",
}


def _column_type(declared: str) -> str:
    base = declared.upper().split("(", 1)[0].strip()
    return _GPKG_TYPES.get(base, "string")


def _quote(name: str) -> str:
    # Only ever called with names read from the database's own schema, never with user text.
    return '"' + name.replace('"', '""') + '"'


class _GpkgDialect:
    """SQLite SQL for one table of a GeoPackage."""

    placeholder = "?"

    def __init__(self, table: Table, rtree: str | None) -> None:
        self.table = table
        self.rtree = rtree

    def column(self, prop: str) -> str:
        return _quote(self.table.column(prop).name)

    def column_type(self, prop: str) -> str:
        return self.table.column(prop).type

    def fid(self) -> str:
        return _quote(self.table.fid_column)

    def bbox(self, box: BBox, params: list[Any]) -> str:
        native = box_in_table_crs(box.box, box.crs, self.table)
        if native is None:
            return "1=0"
        geom = _quote(self.table.geometry_column)
        exact = f"gpf_intersects({geom}, ?, ?, ?, ?)"
        if self.rtree is None:
            params.extend(native)
            return exact
        x0, y0, x1, y1 = native
        params.extend([x0, x1, y0, y1])
        envelope = (
            f"{self.fid()} IN (SELECT id FROM {_quote(self.rtree)} "
            "WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)"
        )
        if box.envelope:
            return envelope
        params.extend(native)
        return f"({envelope} AND {exact})"

    def ilike(self, column: str, placeholder: str) -> str:
        return f"lower({column}) LIKE lower({placeholder}) ESCAPE '\\'"


@dataclass
class GeoPackageSource:
    """A VECTOR-DB stored as a GeoPackage (the embedded store's ``vector.gpkg``)."""

    path: Path
    timeout: float = QUERY_TIMEOUT
    _tables: list[Table] | None = field(default=None, repr=False)
    _rtrees: dict[str, str | None] = field(default_factory=dict, repr=False)

    @contextlib.contextmanager
    def _connect(self, deadline: float | None = None) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        try:
            conn.create_function("gpf_intersects", 5, _gpkg_intersects, deterministic=True)
            # LIKE is case-sensitive as in PostgreSQL; matchCase=false goes through lower().
            conn.execute("PRAGMA case_sensitive_like = ON")
            if deadline is not None:
                conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            yield conn
        finally:
            conn.close()

    def tables(self) -> list[Table]:
        if self._tables is None:
            self._tables = self._read_tables()
        return list(self._tables)

    def _read_tables(self) -> list[Table]:
        out = []
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT c.table_name, g.column_name, g.geometry_type_name, s.organization,"
                " s.organization_coordsys_id, c.min_x, c.min_y, c.max_x, c.max_y"
                " FROM gpkg_contents c JOIN gpkg_geometry_columns g ON g.table_name = c.table_name"
                " LEFT JOIN gpkg_spatial_ref_sys s ON s.srs_id = g.srs_id"
                " WHERE c.data_type = 'features' ORDER BY c.table_name"
            ).fetchall()
            tables = {
                str(r[0]).lower()
                for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
            }
            for name, geom, gtype, org, code, *extent in rows:
                info = conn.execute(f"PRAGMA table_info({_quote(name)})").fetchall()
                pk = next((str(c[1]) for c in info if c[5]), None)
                columns = tuple(
                    Column(str(c[1]), _column_type(str(c[2]))) for c in info if str(c[1]) not in (pk, geom)
                )
                rtree = f"rtree_{name}_{geom}"
                self._rtrees[name] = rtree if rtree.lower() in tables else None
                count = int(conn.execute(f"SELECT COUNT(*) FROM {_quote(name)}").fetchone()[0])
                bounds = self._bounds(conn, name, geom, extent)
                crs = f"EPSG:{code}" if str(org or "").upper() == "EPSG" and code else "EPSG:4326"
                gt = str(gtype or "GEOMETRY").upper()
                out.append(
                    Table(
                        name=str(name),
                        fid_column=pk or "rowid",
                        geometry_column=str(geom),
                        geometry_type=GEOMETRY_NAMES.get(gt, "Geometry"),
                        crs=crs_code(crs),
                        columns=columns,
                        count=count,
                        bounds=bounds,
                    )
                )
        return out

    def _bounds(self, conn: sqlite3.Connection, name: str, geom: str, extent: Sequence[Any]) -> Box:
        rtree = self._rtrees.get(name)
        if rtree is not None:
            row = conn.execute(
                f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {_quote(rtree)}"
            ).fetchone()
            if row and row[0] is not None:
                return float(row[0]), float(row[1]), float(row[2]), float(row[3])
        if all(v is not None for v in extent):
            return float(extent[0]), float(extent[1]), float(extent[2]), float(extent[3])
        wkb = [gpkg_wkb(r[0]) for r in conn.execute(f"SELECT {_quote(geom)} FROM {_quote(name)}")]
        geoms = shapely.from_wkb([w for w in wkb if w is not None])
        if not len(geoms):
            return 0.0, 0.0, 0.0, 0.0
        x0, y0, x1, y1 = shapely.total_bounds(geoms)
        return float(x0), float(y0), float(x1), float(y1)

    def _where(self, table: Table, query: Query) -> SqlFilter:
        for prop in properties_of(query.filter):
            table.column(prop)
        try:
            return to_sql(query.filter, _GpkgDialect(table, self._rtrees.get(table.name)))
        except ValueError as exc:
            raise QueryError(str(exc)) from None

    def _run(self, sql: str, params: Sequence[Any]) -> list[Any]:
        deadline = time.monotonic() + self.timeout
        with self._connect(deadline) as conn:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    raise QueryTimeout(f"the query ran longer than {self.timeout:g} s") from None
                raise

    def query(self, table: Table, query: Query) -> Features:
        if query.limit == 0:
            return Features.empty()
        names = (
            [table.column(p).name for p in query.properties]
            if query.properties is not None
            else [c.name for c in table.columns]
        )
        kinds = {c.name: c.type for c in table.columns}
        where = self._where(table, query)
        dialect = _GpkgDialect(table, None)
        for key in query.sort:
            table.column(key.prop)
        select = ", ".join(_quote(n) for n in [table.fid_column, table.geometry_column, *names])
        sql = (
            f"SELECT {select} FROM {_quote(table.name)} WHERE {where.where}"
            f" ORDER BY {order_by(query.sort, dialect)} LIMIT ? OFFSET ?"
        )
        limit = -1 if query.limit is None else query.limit
        rows = self._run(sql, [*where.params, limit, query.offset])
        fids = np.array([int(r[0]) for r in rows], dtype=np.int64)
        wkb = [gpkg_wkb(r[1]) for r in rows]
        geoms = np.array(shapely.from_wkb(wkb, on_invalid="ignore"), dtype=object).reshape(len(rows))
        columns = {}
        for k, name in enumerate(names):
            values = [r[k + 2] for r in rows]
            if kinds[name] == "boolean":
                values = [None if v is None else bool(v) for v in values]
            array = np.empty(len(values), dtype=object)
            array[:] = values
            columns[name] = array
        crs = "EPSG:4326" if query.crs == "CRS:84" else query.crs or table.crs
        return Features(fids, reproject(geoms, table.crs, crs), columns, crs)

    def count(self, table: Table, query: Query) -> int:
        where = self._where(table, query)
        rows = self._run(f"SELECT COUNT(*) FROM {_quote(table.name)} WHERE {where.where}", where.params)
        return int(rows[0][0])


GEOMETRY_NAMES = {
    n.upper(): n
    for n in (
        "Point",
        "LineString",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    )
}
"""Geometry type names as the services write them, by their upper-case spelling in a database."""


# -- published relations ------------------------------------------------------------------------
@dataclass(frozen=True)
class Relation:
    """One table of a VECTOR-DB, as a service publishes it."""

    source: VectorSource = field(compare=False, repr=False)
    table: Table
    public_name: str
    title: str
    abstract: str
    style: str | None = None
    """Id of the static SLD style (WMS-VECTOR)."""
    keywords: tuple[str, ...] = ()

    @property
    def crs(self) -> str:
        """``EPSG:n`` of the stored geometries."""
        return self.table.crs

    @property
    def geometry_type(self) -> str:
        """The table's geometry type."""
        return self.table.geometry_type

    @property
    def bounds(self) -> Box:
        """The table's extent in :attr:`crs`."""
        return self.table.bounds

    @functools.cached_property
    def wgs84_bounds(self) -> tuple[float, float, float, float]:
        """Bounds in lon/lat (computed once: relations are cached per data version)."""
        return transform_bounds(self.bounds, self.crs, "EPSG:4326")

    def query(self, query: Query) -> Features:
        """The relation's features matching ``query``."""
        return self.source.query(self.table, query)

    def count(self, query: Query) -> int:
        """How many features match ``query``."""
        return self.source.count(self.table, query)


def _data_file(used: UsedData) -> Path:
    name = (used.stored_data.get("type_infos") or {}).get("file") or "vector.gpkg"
    return used.path / str(name)


def source_of(used: UsedData) -> VectorSource | None:
    """The source of one used stored data (None when its data is missing).

    The one place that knows where a VECTOR-DB lives: a PostGIS-backed stored data gets its
    PostGIS source here.
    """
    if (used.stored_data.get("type_infos") or {}).get("database") == "postgis":
        from gpf_flow.postgis.database import stored_data_schema
        from gpf_flow.serve.vector_postgis import PostGISSource, database_of

        home = used.path.parent.parent  # HOME/stored_data/<id>
        return PostGISSource(database_of(home), str(stored_data_schema(used.stored_data)))
    path = _data_file(used)
    return GeoPackageSource(path) if path.is_file() else None


def _version(used: UsedData) -> Any:
    if (used.stored_data.get("type_infos") or {}).get("database") == "postgis":
        # Every change of a PostGIS stored data (an append, an SQL lot) goes through the store,
        # which rewrites the entity: its JSON is the version.
        return json.dumps(used.stored_data, sort_keys=True, default=str)
    path = _data_file(used)
    return [str(path), path.stat().st_mtime if path.is_file() else None]


class VectorSources:
    """Relations of the published vector offerings, cached per configuration and data version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._relations: dict[str, list[Relation]] = {}

    def relations(self, layer: PublishedLayer) -> list[Relation]:
        """The tables a WFS or WMS-VECTOR configuration publishes, in configuration order.

        Cached per configuration content and data version (services ask on every request).
        """
        versions = [_version(used) for used in layer.used_data]
        key = json.dumps([layer.configuration.get("type_infos"), versions], sort_keys=True, default=str)
        with self._lock:
            cached = self._relations.get(key)
        if cached is None:
            cached = self._relations_of(layer)
            with self._lock:
                if len(self._relations) > 256:
                    self._relations.clear()
                self._relations[key] = cached
        return list(cached)

    def _relations_of(self, layer: PublishedLayer) -> list[Relation]:
        out: list[Relation] = []
        for used in layer.used_data:
            source = source_of(used)
            if source is None:
                continue
            tables = {t.name.lower(): t for t in source.tables()}
            specs: list[Mapping[str, Any]] = used.spec.get("relations") or [
                {"native_name": t.name} for t in tables.values()
            ]
            for spec in specs:
                native = str(spec.get("native_name") or spec.get("name") or "")
                table = tables.get(native.lower())
                if table is None:
                    continue
                keywords = spec.get("keywords") or []
                out.append(
                    Relation(
                        source=source,
                        table=table,
                        public_name=str(spec.get("public_name") or native),
                        title=str(spec.get("title") or spec.get("public_name") or native),
                        abstract=str(spec.get("abstract") or ""),
                        style=str(spec["style"]) if spec.get("style") else None,
                        keywords=tuple(str(k) for k in keywords) if isinstance(keywords, list) else (),
                    )
                )
        return out
