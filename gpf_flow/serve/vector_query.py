"""Queries on vector layers: a small typed filter tree, its in-memory evaluator and SQL translator.

The tree is what the OGC readers (FES 2.0 / OGC Filter 1.x, SLD rules) produce and what every
:class:`~gpf_flow.serve.vector_data.VectorSource` consumes: the GeoPackage source translates it
into SQLite SQL with parameters, a PostGIS source into PostgreSQL SQL the same way (only the
:class:`SqlDialect` differs), and SLD rules evaluate it on a feature's properties.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import shapely

Value = str | int | float | bool
CompareOp = Literal["=", "<>", "<", "<=", ">", ">="]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Compare:
    """``prop op value``; strings compare case-insensitively when ``match_case`` is false."""

    prop: str
    op: CompareOp
    value: Value
    match_case: bool = True


@dataclass(frozen=True)
class Like:
    """``prop LIKE pattern`` with SQL wildcards (``%``, ``_``) and ``\\`` as escape character."""

    prop: str
    pattern: str
    match_case: bool = True


@dataclass(frozen=True)
class IsNull:
    """``prop IS NULL``."""

    prop: str


@dataclass(frozen=True)
class Between:
    """``lower <= prop <= upper``."""

    prop: str
    lower: Value
    upper: Value


@dataclass(frozen=True)
class BBox:
    """The geometry intersects a box given in ``crs`` (x/y order, ``EPSG:n``).

    ``envelope`` says that the geometry's envelope meeting the box is enough (PostGIS ``&&``):
    what a map drawing needs, cheaper than the exact test WFS filters use.
    """

    box: Box
    crs: str
    envelope: bool = False


@dataclass(frozen=True)
class Ids:
    """The features with these ids (the layer's FID column)."""

    fids: tuple[int, ...]


@dataclass(frozen=True)
class And:
    """Every part holds."""

    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    """At least one part holds."""

    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    """The part does not hold."""

    part: Expr


Expr = Compare | Like | IsNull | Between | BBox | Ids | And | Or | Not


@dataclass(frozen=True)
class SortKey:
    """One ``sortBy`` key."""

    prop: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    """What to read from one layer.

    ``properties`` None means every column; ``crs`` None means the layer's own CRS.
    """

    filter: Expr | None = None
    sort: tuple[SortKey, ...] = ()
    offset: int = 0
    limit: int | None = None
    properties: tuple[str, ...] | None = None
    crs: str | None = None


def conjunction(*parts: Expr | None) -> Expr | None:
    """The ``And`` of the parts that are not None (None when none is left)."""
    kept = tuple(p for p in parts if p is not None)
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else And(kept)


def properties_of(expr: Expr | None) -> set[str]:
    """Every property name an expression refers to."""
    if expr is None:
        return set()
    if isinstance(expr, Compare | Like | IsNull | Between):
        return {expr.prop}
    if isinstance(expr, And | Or):
        return set().union(*(properties_of(p) for p in expr.parts))
    if isinstance(expr, Not):
        return properties_of(expr.part)
    return set()


# -- in memory -----------------------------------------------------------------------------------
def like_regex(pattern: str, match_case: bool) -> re.Pattern[str]:
    """The regular expression of a SQL ``LIKE`` pattern (``\\`` escapes)."""
    out, escaped = [], False
    for ch in pattern:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), 0 if match_case else re.IGNORECASE | re.DOTALL)


def _coerce(value: Any, literal: Value) -> tuple[Any, Any]:
    """Both sides in one comparable type (numbers when both read as numbers)."""
    if isinstance(literal, bool) or isinstance(value, bool):
        if isinstance(literal, str):
            return bool(value), literal.strip().lower() in ("true", "1", "t")
        return bool(value), bool(literal)
    try:
        return float(value), float(literal)
    except (TypeError, ValueError):
        return str(value), str(literal)


def _compare(value: Any, op: CompareOp, literal: Value, match_case: bool) -> bool:
    if value is None:
        return False
    a, b = _coerce(value, literal)
    if isinstance(a, str) and not match_case:
        a, b = a.lower(), str(b).lower()
    return bool(
        {
            "=": a == b,
            "<>": a != b,
            "<": a < b,
            "<=": a <= b,
            ">": a > b,
            ">=": a >= b,
        }[op]
    )


def evaluate(
    expr: Expr,
    props: Mapping[str, Any],
    *,
    fid: int | None = None,
    geometry: shapely.Geometry | None = None,
    to_crs: Callable[[BBox], shapely.Geometry] | None = None,
) -> bool:
    """Whether a feature matches; property names are looked up case-insensitively.

    ``to_crs`` turns a :class:`BBox` into a polygon in the geometry's CRS (spatial tests are
    false without it); nulls never match a comparison, as in SQL.
    """
    lowered = {str(k).lower(): v for k, v in props.items()}

    def walk(e: Expr) -> bool:
        if isinstance(e, Compare):
            return _compare(lowered.get(e.prop.lower()), e.op, e.value, e.match_case)
        if isinstance(e, Like):
            value = lowered.get(e.prop.lower())
            return value is not None and like_regex(e.pattern, e.match_case).fullmatch(str(value)) is not None
        if isinstance(e, IsNull):
            return lowered.get(e.prop.lower()) is None
        if isinstance(e, Between):
            value = lowered.get(e.prop.lower())
            return _compare(value, ">=", e.lower, True) and _compare(value, "<=", e.upper, True)
        if isinstance(e, BBox):
            if geometry is None or to_crs is None:
                return False
            target = shapely.envelope(geometry) if e.envelope else geometry
            return bool(shapely.intersects(target, to_crs(e)))
        if isinstance(e, Ids):
            return fid is not None and fid in e.fids
        if isinstance(e, And):
            return all(walk(p) for p in e.parts)
        if isinstance(e, Or):
            return any(walk(p) for p in e.parts)
        return not walk(e.part)

    return walk(expr)


# -- SQL -----------------------------------------------------------------------------------------
class SqlDialect(Protocol):
    """What differs between SQL databases when a filter is translated."""

    placeholder: str
    """The driver's parameter marker (``?`` for sqlite3, ``%s`` for psycopg)."""

    def column(self, prop: str) -> str:
        """The quoted column of a property (the caller has checked it exists)."""
        ...

    def column_type(self, prop: str) -> str:
        """``integer``, ``real``, ``boolean``, ``string``, ``date`` or ``datetime``."""
        ...

    def fid(self) -> str:
        """The quoted FID column."""
        ...

    def bbox(self, box: BBox, params: list[Any]) -> str:
        """SQL testing that the geometry intersects the box (appending its parameters)."""
        ...

    def ilike(self, column: str, placeholder: str) -> str:
        """A case-insensitive ``LIKE`` (``ESCAPE '\\'``)."""
        ...


@dataclass
class SqlFilter:
    """A ``WHERE`` clause and its parameters."""

    where: str
    params: list[Any] = field(default_factory=list)


def typed_literal(value: Value, column_type: str, prop: str) -> Value:
    """A literal converted to a column's type; ``ValueError`` naming the property if it cannot be."""
    if column_type in ("integer", "real"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ValueError(f"{prop} is a number: {value!r} cannot be compared with it") from None
        return int(number) if column_type == "integer" and number.is_integer() else number
    if column_type == "boolean":
        text = str(value).strip().lower()
        if text in ("true", "1", "t"):
            return True
        if text in ("false", "0", "f"):
            return False
        raise ValueError(f"{prop} is a boolean: {value!r} is neither true nor false")
    return str(value)


def to_sql(expr: Expr | None, dialect: SqlDialect) -> SqlFilter:
    """The parameterised ``WHERE`` clause of an expression (``1=1`` for None)."""
    params: list[Any] = []
    ph = dialect.placeholder

    def lit(prop: str, value: Value) -> str:
        params.append(typed_literal(value, dialect.column_type(prop), prop))
        return ph

    def walk(e: Expr) -> str:
        if isinstance(e, Compare):
            col = dialect.column(e.prop)
            if not e.match_case and dialect.column_type(e.prop) == "string":
                params.append(str(e.value))
                return f"lower({col}) {e.op} lower({ph})"
            return f"{col} {e.op} {lit(e.prop, e.value)}"
        if isinstance(e, Like):
            col = dialect.column(e.prop)
            params.append(e.pattern)
            if e.match_case:
                return f"CAST({col} AS TEXT) LIKE {ph} ESCAPE '\\'"
            return dialect.ilike(f"CAST({col} AS TEXT)", ph)
        if isinstance(e, IsNull):
            return f"{dialect.column(e.prop)} IS NULL"
        if isinstance(e, Between):
            col = dialect.column(e.prop)
            return f"{col} BETWEEN {lit(e.prop, e.lower)} AND {lit(e.prop, e.upper)}"
        if isinstance(e, BBox):
            return dialect.bbox(e, params)
        if isinstance(e, Ids):
            if not e.fids:
                return "1=0"
            params.extend(e.fids)
            return f"{dialect.fid()} IN ({', '.join([ph] * len(e.fids))})"
        if isinstance(e, And):
            return "(" + " AND ".join(walk(p) for p in e.parts) + ")" if e.parts else "1=1"
        if isinstance(e, Or):
            return "(" + " OR ".join(walk(p) for p in e.parts) + ")" if e.parts else "1=0"
        return f"NOT ({walk(e.part)})"

    return SqlFilter("1=1" if expr is None else walk(expr), params)


def order_by(sort: Sequence[SortKey], dialect: SqlDialect) -> str:
    """``ORDER BY`` keys, then the FID so that pages are stable."""
    keys = [f"{dialect.column(k.prop)} {'DESC' if k.descending else 'ASC'}" for k in sort]
    return ", ".join([*keys, dialect.fid()])
