"""Processing "Calcul ou mise à jour de pyramide vecteur": VECTOR-DB → MVT ``pyramid.mbtiles``.

For each table of the ``composition`` (default: every table, every attribute, the global levels)
the features are reprojected to Web Mercator once (pyproj + shapely) and put in an STRtree; then
for each level and tile of the table's extent the intersecting features are clipped to the tile
(plus a small buffer), simplified to the tile's resolution and encoded with ``mapbox-vector-tile``
(extent 4096, one MVT layer per table). Tiles go into an MBTiles file (TMS rows, ``format=pbf``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import morecantile
import numpy as np
import shapely
from pyogrio import list_layers
from pyogrio.raw import read
from pyproj import CRS, Transformer
from shapely.geometry import box, mapping

from gpf_flow.postgis import mvt
from gpf_flow.postgis.cluster import PostgresUnavailable
from gpf_flow.postgis.database import Database, database_for, stored_data_schema
from gpf_flow.postgis.naming import GEOMETRY_COLUMN
from gpf_flow.processings.base import ProcessingContext, ProcessingFailed, ProcessingResult
from gpf_flow.processings.mbtiles import MBTilesWriter

OUTPUT_NAME = "pyramid.mbtiles"
EXTENT = 4096
BUFFER_UNITS = 64
TMS_ID = "WebMercatorQuad"


@dataclass
class TableLayer:
    """One table ready for tiling: Web Mercator geometries, kept attributes, levels."""

    name: str
    geometries: np.ndarray[Any, Any]
    properties: list[dict[str, Any]]
    fields: dict[str, str]
    top: int
    bottom: int
    tree: shapely.STRtree
    lonlat_bounds: tuple[float, float, float, float]


def _level(value: Any, name: str) -> int:
    if value is None or value == "":
        raise ProcessingFailed(f'parameter {name!r} is required (a level number such as "14")')
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise ProcessingFailed(f"parameter {name!r} must be a level number, got {value!r}") from None


def _attributes(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [a.strip() for a in value.split(",") if a.strip()]
    return [str(a) for a in value]


def _gpkg(ctx: ProcessingContext) -> Path:
    for data in ctx.stored_data:
        for candidate in [data.path / "vector.gpkg", *sorted(data.path.glob("*.gpkg"))]:
            if candidate.is_file():
                return candidate
    raise ProcessingFailed(
        "the input VECTOR-DB stored data holds no vector.gpkg; run the vector integration first"
    )


def _python(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def load_table(
    gpkg: Path, table: str, attributes: list[str] | None, top: int, bottom: int, ctx: ProcessingContext
) -> TableLayer | None:
    """Read one table, keep the asked attributes and reproject to EPSG:3857."""
    meta, _, geometry, field_data = read(gpkg, layer=table)
    names = [str(n) for n in meta["fields"]]
    # The geometry column may be listed among the attributes (the official composition does).
    wanted = names if attributes is None else [a for a in attributes if a != GEOMETRY_COLUMN]
    missing = [a for a in wanted if a not in names]
    if missing:
        raise ProcessingFailed(
            f"composition: table {table!r} has no attribute(s) {', '.join(missing)}; "
            f"available: {', '.join(names)}"
        )
    idx = [names.index(a) for a in wanted]
    if geometry is None or len(geometry) == 0:
        ctx.log(f"WARNING table {table}: no geometry, skipped")
        return None
    geoms = shapely.from_wkb(geometry)
    to_3857 = Transformer.from_crs(CRS.from_user_input(meta["crs"]), "EPSG:3857", always_xy=True)
    geoms = shapely.transform(geoms, lambda xy: np.column_stack(to_3857.transform(xy[:, 0], xy[:, 1])))
    properties = []
    for row in range(len(geoms)):
        props = {}
        for name, i in zip(wanted, idx, strict=True):
            value = _python(field_data[i][row])
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                props[name] = value if isinstance(value, (int, float, str, bool)) else str(value)
        properties.append(props)
    valid = ~shapely.is_missing(geoms)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms[valid])
    to_lonlat = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    lonlat = to_lonlat.transform_bounds(minx, miny, maxx, maxy)
    fields = {name: str(np.asarray(field_data[i]).dtype.kind) for name, i in zip(wanted, idx, strict=True)}
    kinds = {"i": "Number", "u": "Number", "f": "Number", "b": "Boolean"}
    return TableLayer(
        name=table,
        geometries=geoms,
        properties=properties,
        fields={k: kinds.get(v, "String") for k, v in fields.items()},
        top=top,
        bottom=bottom,
        tree=shapely.STRtree(geoms),
        lonlat_bounds=lonlat,
    )


def tile_layer(layer: TableLayer, bounds: tuple[float, float, float, float]) -> dict[str, Any] | None:
    """The MVT layer dict for one tile, or ``None`` when no feature touches it."""
    left, bottom, right, top = bounds
    margin = (right - left) * BUFFER_UNITS / EXTENT
    clip = (left - margin, bottom - margin, right + margin, top + margin)
    hits = layer.tree.query(box(*clip), predicate="intersects")
    if len(hits) == 0:
        return None
    tolerance = (right - left) / EXTENT / 2
    features = []
    for i in sorted(hits):
        geom = shapely.clip_by_rect(layer.geometries[i], *clip)
        if tolerance > 0:
            geom = shapely.simplify(geom, tolerance, preserve_topology=True)
        if geom.is_empty:
            continue
        features.append({"geometry": geom, "properties": layer.properties[i], "id": int(i) + 1})
    if not features:
        return None
    return {"name": layer.name, "features": features}


def run(ctx: ProcessingContext) -> ProcessingResult:
    """Build a Mapbox Vector Tiles pyramid from a VECTOR-DB stored data."""
    started = time.monotonic()
    params: Mapping[str, Any] = ctx.parameters
    tms = morecantile.tms.get(TMS_ID)
    if str(params.get("tms") or "PM").upper() not in ("PM", TMS_ID.upper()):
        raise ProcessingFailed(
            f"vector pyramids are built on PM (WebMercatorQuad) only, not {params.get('tms')!r}"
        )
    bottom = _level(params.get("bottom_level", params.get("bottom")), "bottom_level")
    top = _level(params.get("top_level", params.get("top", 0)), "top_level")
    if not 0 <= top <= bottom <= tms.maxzoom:
        raise ProcessingFailed(f"levels must satisfy 0 <= top_level <= bottom_level <= {tms.maxzoom}")
    postgis = _postgis_source(ctx)
    if postgis is not None:
        return _run_postgis(ctx, postgis[0], postgis[1], params.get("composition"), top, bottom)
    gpkg = _gpkg(ctx)
    tables = [str(row[0]) for row in list_layers(gpkg)]
    layers: list[TableLayer] = []
    for table, attributes, t_top, t_bottom in _composition(params.get("composition"), tables, top, bottom):
        ctx.check_abort()
        layer = load_table(gpkg, table, attributes, t_top, t_bottom, ctx)
        if layer is not None:
            layers.append(layer)
            ctx.log(f"table {table}: {len(layer.geometries)} features, levels {t_top}-{t_bottom}")
    if not layers:
        raise ProcessingFailed("no table with geometries to tile")

    def level_tiles(z: int) -> dict[tuple[int, int], bytes]:
        tiles: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for layer in layers:
            if not layer.top <= z <= layer.bottom:
                continue
            for tile in tms.tiles(*layer.lonlat_bounds, [z]):
                ctx.check_abort()
                b = tms.xy_bounds(tile)
                content = tile_layer(layer, (b.left, b.bottom, b.right, b.top))
                if content is not None:
                    tiles.setdefault((tile.x, tile.y), []).append(content)
        encoded = {}
        for (x, y), tile_layers in tiles.items():
            ctx.check_abort()
            b = tms.xy_bounds(morecantile.Tile(x, y, z))
            options = {"quantize_bounds": (b.left, b.bottom, b.right, b.top), "extents": EXTENT}
            encoded[(x, y)] = mapbox_vector_tile.encode(tile_layers, default_options=options)
        return encoded

    bbox = (
        min(layer.lonlat_bounds[0] for layer in layers),
        min(layer.lonlat_bounds[1] for layer in layers),
        max(layer.lonlat_bounds[2] for layer in layers),
        max(layer.lonlat_bounds[3] for layer in layers),
    )
    described = [(layer.name, layer.fields, layer.top, layer.bottom) for layer in layers]
    return _write_pyramid(ctx, tms, top, bottom, level_tiles, described, bbox, started)


def _write_pyramid(
    ctx: ProcessingContext,
    tms: morecantile.TileMatrixSet,
    top: int,
    bottom: int,
    level_tiles: Callable[[int], dict[tuple[int, int], bytes]],
    described: list[tuple[str, dict[str, str], int, int]],
    bbox: tuple[float, float, float, float],
    started: float,
) -> ProcessingResult:
    """Write the tiles ``level_tiles`` gives for each level into a ``.part`` MBTiles renamed when
    whole (removed on any failure or abort), with its metadata; the result of both sources."""
    tmp = ctx.output_dir / ("partial-" + OUTPUT_NAME)
    tmp.unlink(missing_ok=True)
    writer = MBTilesWriter(tmp, tms)
    counts: dict[int, int] = {}
    try:
        for z in range(top, bottom + 1):
            t0 = time.monotonic()
            tiles = level_tiles(z)
            for (x, y), data in tiles.items():
                writer.put(z, x, y, data)  # row counted from the top
            counts[z] = len(tiles)
            ctx.log(f"level {z}: {len(tiles)} tiles in {time.monotonic() - t0:.2f} s")
        writer.set_metadata(_metadata(ctx, described, bbox, top, bottom))
        writer.close()
    except BaseException:
        writer.abandon()
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(ctx.output_dir / OUTPUT_NAME)
    ctx.log(f"wrote {sum(counts.values())} tiles into {OUTPUT_NAME} in {time.monotonic() - started:.1f} s")
    return _result(described, bbox, top, bottom, counts)


def _composition(
    value: Any, tables: list[str], top: int, bottom: int
) -> list[tuple[str, list[str] | None, int, int]]:
    """``(table, attributes, top, bottom)`` of each composition entry (default: every table)."""
    composition = value or [{"table": t} for t in tables]
    if isinstance(composition, str):
        try:
            composition = json.loads(composition)
        except ValueError:
            raise ProcessingFailed("parameter 'composition' is not valid JSON") from None
    if not isinstance(composition, list) or not all(isinstance(item, Mapping) for item in composition):
        raise ProcessingFailed(
            "parameter 'composition' must be a list of {table, attributes, bottom_level, top_level}"
        )
    out = []
    for item in composition:
        table = str(item.get("table", "")).lower()
        if table not in tables:
            raise ProcessingFailed(
                f"composition: unknown table {item.get('table')!r}; tables: {', '.join(tables)}"
            )
        t_bottom = _level(item.get("bottom_level", bottom), "composition.bottom_level")
        t_top = _level(item.get("top_level", top), "composition.top_level")
        if not top <= t_top <= t_bottom <= bottom:
            raise ProcessingFailed(
                f"composition: table {table} levels {t_top}-{t_bottom} are outside "
                f"the pyramid's levels {top}-{bottom}"
            )
        out.append((table, _attributes(item.get("attributes")), t_top, t_bottom))
    return out


def _metadata(
    ctx: ProcessingContext,
    layers: list[tuple[str, dict[str, str], int, int]],
    bbox: tuple[float, float, float, float],
    top: int,
    bottom: int,
) -> dict[str, Any]:
    west, south, east, north = bbox
    vector_layers = [
        {"id": name, "fields": fields, "minzoom": t_top, "maxzoom": t_bottom}
        for name, fields, t_top, t_bottom in layers
    ]
    return {
        "name": (ctx.output_entity or {}).get("name", "pyramid"),
        "format": "pbf",
        "bounds": f"{west},{south},{east},{north}",
        "center": f"{(west + east) / 2},{(south + north) / 2},{top}",
        "minzoom": top,
        "maxzoom": bottom,
        "type": "overlay",
        "version": "1.3",
        "description": "ROK4-PYRAMID-VECTOR built by gpf-flow",
        "tms": "PM",
        "tile_matrix_set": TMS_ID,
        "json": json.dumps({"vector_layers": vector_layers}),
    }


def _result(
    layers: list[tuple[str, dict[str, str], int, int]],
    bbox: tuple[float, float, float, float],
    top: int,
    bottom: int,
    counts: dict[int, int],
) -> ProcessingResult:
    return ProcessingResult(
        type_infos={
            "tms": "PM",
            "levels": [str(z) for z in range(top, bottom + 1)],
            "bottom_level": str(bottom),
            "top_level": str(top),
            "bbox": list(bbox),
            "format": "application/x-protobuf",
            "tiles": {str(z): n for z, n in counts.items()},
            "file": OUTPUT_NAME,
            "tables": [{"name": name, "attributes": list(fields)} for name, fields, _t, _b in layers],
        },
        srs="EPSG:3857",
        extent=dict(mapping(box(*bbox))),
    )


def _postgis_source(ctx: ProcessingContext) -> tuple[Database, str] | None:
    """The database and schema of a PostGIS input stored data, ``None`` for a GeoPackage one."""
    for data in ctx.stored_data:
        schema = stored_data_schema(data.entity)
        if schema is not None:
            home = ctx.home or data.path.parent.parent  # HOME/stored_data/<id>
            try:
                return database_for(home), schema
            except PostgresUnavailable as exc:
                raise ProcessingFailed(
                    f"the input VECTOR-DB is in PostgreSQL, which is unavailable: {exc.message} ({exc.hint})"
                ) from None
    return None


_MVT_KINDS = {"integer": "Number", "bigint": "Number", "smallint": "Number", "real": "Number"}
_MVT_KINDS |= {"double precision": "Number", "numeric": "Number", "boolean": "Boolean"}


def _run_postgis(
    ctx: ProcessingContext, db: Database, schema: str, composition: Any, top: int, bottom: int
) -> ProcessingResult:
    """The pyramid from a PostGIS schema: one ``ST_AsMVT`` query per table and tile."""
    started = time.monotonic()
    tms = morecantile.tms.get(TMS_ID)
    relations = {r.name: r for r in db.relations(schema) if r.geometry_column}
    tables: list[tuple[mvt.MvtTable, tuple[float, float, float, float]]] = []
    with db.connect() as conn:
        for table, attributes, t_top, t_bottom in _composition(composition, sorted(relations), top, bottom):
            rel = relations[table]
            names = [c for c in rel.attributes if c != rel.geometry_column]
            wanted = names if attributes is None else [a for a in attributes if a != rel.geometry_column]
            missing = [a for a in wanted if a not in names]
            if missing:
                raise ProcessingFailed(
                    f"composition: table {table!r} has no attribute(s) {', '.join(missing)}; "
                    f"available: {', '.join(names)}"
                )
            bounds = mvt.lonlat_bounds(conn, schema, rel)
            if bounds is None:
                ctx.log(f"WARNING table {table}: no geometry, skipped")
                continue
            tables.append((mvt.MvtTable(schema, rel, tuple(wanted), t_top, t_bottom), bounds))
            ctx.log(f"table {table}: levels {t_top}-{t_bottom}, attributes {', '.join(wanted) or '-'}")
        if not tables:
            raise ProcessingFailed("no table with geometries to tile")
        queries = [(t, t.query(), b) for t, b in tables]

        def level_tiles(z: int) -> dict[tuple[int, int], bytes]:
            content: dict[tuple[int, int], bytes] = {}
            for entry, query, lonlat in queries:
                if not entry.top <= z <= entry.bottom:
                    continue
                for t in tms.tiles(*lonlat, [z]):
                    ctx.check_abort()
                    data = mvt.tile(conn, query, z, t.x, t.y)
                    if data:
                        content[(t.x, t.y)] = content.get((t.x, t.y), b"") + data
            return content

        bbox = (
            min(b[0] for _t, b in tables),
            min(b[1] for _t, b in tables),
            max(b[2] for _t, b in tables),
            max(b[3] for _t, b in tables),
        )
        described = [
            (
                t.relation.name,
                {a: _MVT_KINDS.get(t.relation.attributes[a].split("(")[0], "String") for a in t.attributes},
                t.top,
                t.bottom,
            )
            for t, _b in tables
        ]
        return _write_pyramid(ctx, tms, top, bottom, level_tiles, described, bbox, started)
