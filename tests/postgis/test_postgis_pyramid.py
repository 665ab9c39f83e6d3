"""The vector pyramid read from PostGIS with ST_AsMVT: tiles decoded and compared with the source."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path

import mapbox_vector_tile
import morecantile
import pytest
import shapely
from processings_vectors import ZONE_CODES, ZONE_NAMES, write_zones_shapefile
from pyproj import Transformer
from test_postgis_integration import Runner

from gpf_flow.processings import vector_pyramid
from gpf_flow.processings.base import InputData, ProcessingContext, ProcessingFailed

PM = morecantile.tms.get("WebMercatorQuad")


def _pyramid(
    home: Path, tmp_path: Path, run: Runner, type_infos: dict, parameters: dict
) -> tuple[ProcessingContext, dict]:
    out = tmp_path / f"pyr-{uuid.uuid4().hex[:6]}"
    out.mkdir()
    ctx = ProcessingContext(
        parameters=parameters,
        uploads=[],
        stored_data=[
            InputData({"_id": run.sd["_id"], "type": "VECTOR-DB", "type_infos": type_infos}, tmp_path)
        ],
        output_dir=out,
        log=lambda line: None,
        is_aborted=threading.Event().is_set,
        output_entity={"name": "pyr"},
        home=home,
    )
    result = vector_pyramid.run(ctx)
    return ctx, result.type_infos


def test_mvt_from_postgis_honours_composition(pg_home: Path, tmp_path: Path) -> None:
    up = tmp_path / "up"
    write_zones_shapefile(up)
    run = Runner(pg_home, tmp_path / "out")
    infos = run(up).type_infos
    params = {
        "bottom_level": "14",
        "top_level": "10",
        # as the official generic_vecteur writes it: the geometry column among the attributes
        "composition": [
            {
                "table": "zones",
                "bottom_level": "14",
                "top_level": "11",
                "attributes": ["code", "nom", "wkb_geometry"],
            }
        ],
    }
    ctx, result = _pyramid(pg_home, tmp_path, run, infos, params)
    with sqlite3.connect(ctx.output_dir / "pyramid.mbtiles") as db:
        rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    tiles = {(z, x, 2**z - 1 - r): bytes(d) for z, x, r, d in rows}
    assert {z for z, _x, _y in tiles} == {11, 12, 13, 14}  # the table's own levels
    assert result["tables"] == [{"name": "zones", "attributes": ["code", "nom"]}]
    to_lonlat = Transformer.from_crs(2154, 4326, always_xy=True)
    for i, (x0, code, name) in enumerate(
        zip(range(870000, 874000, 1000), ZONE_CODES, ZONE_NAMES, strict=True)
    ):
        lon, lat = to_lonlat.transform(x0 + 500, 6570500)
        t = PM.tile(lon, lat, 14)
        layer = mapbox_vector_tile.decode(tiles[(14, t.x, t.y)])["zones"]
        feature = next(f for f in layer["features"] if f["id"] == i + 1)
        assert feature["properties"] == {"code": code, "nom": name}
        # the square, drawn in tile units (y up), covers the tile position of its centre
        b = PM.xy_bounds(t)
        cx, cy = Transformer.from_crs(2154, 3857, always_xy=True).transform(x0 + 500, 6570500)
        px = (cx - b.left) / (b.right - b.left) * 4096
        py = (cy - b.bottom) / (b.top - b.bottom) * 4096
        assert shapely.geometry.shape(feature["geometry"]).buffer(1).contains(shapely.Point(px, py))
    total = sum(result["tiles"].values())
    assert total == len(tiles)


def test_mvt_from_postgis_names_missing_attributes(pg_home: Path, tmp_path: Path) -> None:
    up = tmp_path / "up"
    write_zones_shapefile(up)
    run = Runner(pg_home, tmp_path / "out")
    infos = run(up).type_infos
    params = {
        "bottom_level": "12",
        "top_level": "10",
        "composition": [{"table": "zones", "attributes": ["pop"]}],
    }
    with pytest.raises(ProcessingFailed, match=r"has no attribute\(s\) pop; available: ogc_fid, code, nom"):
        _pyramid(pg_home, tmp_path, run, infos, params)
