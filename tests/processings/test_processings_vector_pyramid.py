"""Vector pyramid (MVT) from an integrated VECTOR-DB: tile sets, decoded content, composition, errors."""

from __future__ import annotations

import json
import sqlite3

import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
import shapely
from processings_vectors import ZONE_CODES, ZONE_NAMES, write_zones_shapefile
from pyproj import Transformer

from gpf_flow.processings import vector_db, vector_pyramid
from gpf_flow.processings.base import ProcessingFailed

PM = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture
def vector_db_dir(make_ctx, tmp_path):
    up = tmp_path / "upload"
    write_zones_shapefile(up)
    h = make_ctx(uploads=[({"type": "VECTOR", "srs": "EPSG:2154"}, up)])
    vector_db.run(h.ctx)
    return h.ctx.output_dir


def zones_3857() -> shapely.Geometry:
    to_3857 = Transformer.from_crs("EPSG:2154", "EPSG:3857", always_xy=True)
    outline = shapely.segmentize(shapely.box(870000, 6570000, 874000, 6571000), 50)
    return shapely.transform(outline, lambda xy: np.column_stack(to_3857.transform(xy[:, 0], xy[:, 1])))


def test_mvt_tiles_cover_the_features_and_decode(make_ctx, vector_db_dir) -> None:
    params = {
        "bottom_level": "15",
        "top_level": "10",
        "composition": [
            {"table": "zones", "bottom_level": "15", "top_level": "10", "attributes": ["code", "nom"]}
        ],
    }
    h = make_ctx(stored_data=[({"type": "VECTOR-DB"}, vector_db_dir)], parameters=params)
    result = vector_pyramid.run(h.ctx)
    with sqlite3.connect(h.ctx.output_dir / "pyramid.mbtiles") as db:
        rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
        meta = dict(db.execute("SELECT name, value FROM metadata"))
    tiles = {(z, x, 2**z - 1 - r): bytes(d) for z, x, r, d in rows}
    assert meta["format"] == "pbf" and meta["minzoom"] == "10" and meta["maxzoom"] == "15"
    assert json.loads(meta["json"])["vector_layers"][0]["id"] == "zones"
    data = zones_3857()
    for z in range(10, 16):
        expected = set()
        to_lonlat = Transformer.from_crs(3857, 4326, always_xy=True)
        for t in PM.tiles(*to_lonlat.transform_bounds(*data.buffer(PM.matrix(z).cellSize * 256).bounds), [z]):
            b = PM.xy_bounds(t)
            margin = (b.right - b.left) * 64 / 4096
            if shapely.box(b.left - margin, b.bottom - margin, b.right + margin, b.top + margin).intersects(
                data
            ):
                expected.add((t.z, t.x, t.y))
        assert {k for k in tiles if k[0] == z} == expected, z
        assert result.type_infos["tiles"][str(z)] == len(expected)
    # a bottom tile inside the second zone holds its feature with the chosen attributes only
    cx, cy = Transformer.from_crs(2154, 4326, always_xy=True).transform(871500, 6570500)
    t = PM.tile(cx, cy, 15)
    decoded = mapbox_vector_tile.decode(tiles[(15, t.x, t.y)])
    features = decoded["zones"]["features"]
    assert decoded["zones"]["extent"] == 4096
    props = [f["properties"] for f in features]
    assert {"code": ZONE_CODES[1], "nom": ZONE_NAMES[1]} in props
    assert all(set(p) == {"code", "nom"} for p in props)
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)
    assert result.type_infos["format"] == "application/x-protobuf" and result.srs == "EPSG:3857"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"bottom_level": "12", "top_level": "10", "composition": [{"table": "roads"}]},
            "unknown table 'roads'",
        ),
        (
            {
                "bottom_level": "12",
                "top_level": "10",
                "composition": [{"table": "zones", "attributes": ["pop"]}],
            },
            "has no attribute\\(s\\) pop",
        ),
        ({"bottom_level": "x", "top_level": "1"}, "must be a level number"),
        ({"top_level": "1"}, "parameter 'bottom_level' is required"),
        ({"bottom_level": "12", "composition": "[{oops"}, "'composition' is not valid JSON"),
    ],
)
def test_bad_parameters_fail_clearly(make_ctx, vector_db_dir, params, message) -> None:
    h = make_ctx(stored_data=[({"type": "VECTOR-DB"}, vector_db_dir)], parameters=params)
    with pytest.raises(ProcessingFailed, match=message):
        vector_pyramid.run(h.ctx)
    assert not (h.ctx.output_dir / "pyramid.mbtiles").exists()


def test_abort_between_levels_leaves_no_pyramid(make_ctx, vector_db_dir) -> None:
    from gpf_flow.processings.base import ProcessingAborted

    h = make_ctx(
        stored_data=[({"type": "VECTOR-DB"}, vector_db_dir)],
        parameters={"bottom_level": "15", "top_level": "10"},
    )

    def log(line: str) -> None:
        h.logs.append(line)
        if line.startswith("level 10:"):
            h.abort.set()  # asked after the first level was written

    h.ctx.log = log
    with pytest.raises(ProcessingAborted):
        vector_pyramid.run(h.ctx)
    assert any(line.startswith("level 10:") for line in h.logs)
    assert not any(line.startswith("level 11:") for line in h.logs)
    assert list(h.ctx.output_dir.iterdir()) == []
