"""Mapbox Vector Tiles straight from PostGIS: ``ST_AsMVTGeom`` + ``ST_AsMVT`` per table and tile."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from gpf_flow.postgis.database import RelationInfo

EXTENT = 4096
BUFFER = 64
# Types ST_AsMVT encodes natively; anything else is sent as text.
_NATIVE = (
    "integer",
    "bigint",
    "smallint",
    "real",
    "double precision",
    "boolean",
    "text",
    "character varying",
)


@dataclass(frozen=True)
class MvtTable:
    """One table of the pyramid: its relation, kept attributes and levels."""

    schema: str
    relation: RelationInfo
    attributes: tuple[str, ...]
    top: int
    bottom: int

    def query(self) -> sql.Composed:
        """The tile query; parameters ``z, x, y`` (twice each: envelope, then geometry)."""
        rel = self.relation
        assert rel.geometry_column is not None
        types = rel.attributes
        columns: list[sql.Composable] = []
        for name in self.attributes:
            base = types[name].split("(")[0]
            ident = sql.Identifier(name)
            columns.append(ident if base in _NATIVE else sql.SQL("{}::text AS {}").format(ident, ident))
        fid = rel.primary_key[0] if len(rel.primary_key) == 1 else None
        if fid and types.get(fid, "").split("(")[0] in ("integer", "bigint", "smallint"):
            columns.append(sql.SQL("{} AS gpf_fid").format(sql.Identifier(fid)))
            fid_name: sql.Composable = sql.Literal("gpf_fid")
        else:
            fid_name = sql.SQL("NULL")
        geom = sql.Identifier(rel.geometry_column)
        srid = sql.Literal(rel.srid or 4326)
        envelope = sql.SQL("ST_Transform(ST_TileEnvelope(%s, %s, %s, margin => {}), {})").format(
            sql.Literal(BUFFER / EXTENT), srid
        )
        return sql.SQL(
            "SELECT ST_AsMVT(q, {layer}, {extent}, 'mvt_geom', {fid}) FROM ("
            "SELECT {columns}ST_AsMVTGeom(ST_Transform({geom}, 3857), ST_TileEnvelope(%s, %s, %s), "
            "{extent}, {buffer}, true) AS mvt_geom FROM {table} WHERE {geom} && {envelope}"
            ") q WHERE q.mvt_geom IS NOT NULL"
        ).format(
            layer=sql.Literal(rel.name),
            extent=sql.Literal(EXTENT),
            buffer=sql.Literal(BUFFER),
            fid=fid_name,
            columns=sql.SQL("").join(sql.SQL("{}, ").format(c) for c in columns),
            geom=geom,
            table=sql.Identifier(self.schema, rel.name),
            envelope=envelope,
        )


def tile(conn: psycopg.Connection, query: sql.Composed, z: int, x: int, y: int) -> bytes:
    """One table's MVT layer for tile ``z/x/y`` (XYZ rows); empty bytes when nothing touches it."""
    row = conn.execute(query, [z, x, y, z, x, y]).fetchone()
    return bytes(row[0]) if row and row[0] is not None else b""


def lonlat_bounds(
    conn: psycopg.Connection, schema: str, rel: RelationInfo
) -> tuple[float, float, float, float] | None:
    """``ST_Extent`` of the table in EPSG:4326, or ``None`` when it holds no geometry."""
    assert rel.geometry_column is not None
    row = conn.execute(
        sql.SQL(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(ST_Transform({}, 4326)) AS e FROM {}) s"
        ).format(sql.Identifier(rel.geometry_column), sql.Identifier(schema, rel.name))
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
