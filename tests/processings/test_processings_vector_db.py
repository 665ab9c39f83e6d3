"""Vector integration on generated shapefile / GeoPackage / CSV: tables, values, types, extents, errors."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import shapely
from processings_vectors import (
    ZONE_CODES,
    ZONE_DEP,
    ZONE_NAMES,
    ZONE_POP,
    write_csv,
    write_points_gpkg,
    write_zones_shapefile,
)
from pyogrio.raw import read, write
from pyproj import Transformer

from gpf_flow.processings import vector_db
from gpf_flow.processings.base import ProcessingFailed

VECTOR = {"name": "V", "type": "VECTOR", "srs": "EPSG:2154"}


def test_upload_is_integrated_with_lower_case_names_and_multi_geometries(make_ctx, tmp_path) -> None:
    up = tmp_path / "upload"
    write_zones_shapefile(up, with_crs=False)
    write_points_gpkg(up / "gpkg" / "points.gpkg", n=25, layer="Installations")
    write_csv(up / "csv" / "Sites.csv", n=10)
    (up / "upload.md5").write_text("d41d8cd98f00b204e9800998ecf8427e  ZONES/ZONES.shp\n")
    h = make_ctx(uploads=[(VECTOR, up)])
    result = vector_db.run(h.ctx)
    gpkg = h.ctx.output_dir / "vector.gpkg"
    assert result.type_infos["file"] == "vector.gpkg" and gpkg.is_file()
    rels = {r["name"]: r for r in result.type_infos["relations"]}
    assert set(rels) == {"zones", "installations", "sites"}

    zones = rels["zones"]
    assert zones["attributes"] == {
        "code": "character varying",
        "nom": "character varying",
        "population": "bigint",
        "insee_dep": "character varying",
    }
    assert zones["geometry_type"] == "MultiPolygon" and zones["srs"] == "EPSG:2154"
    assert zones["count"] == 4 and zones["primary_key"] == ["ogc_fid"] and zones["type"] == "TABLE"
    assert zones["extent"] == pytest.approx([870000, 6570000, 874000, 6571000])
    meta, _, geoms, fields = read(gpkg, layer="zones")
    assert list(meta["fields"]) == ["code", "nom", "population", "insee_dep"]
    assert list(fields[0]) == ZONE_CODES and list(fields[1]) == ZONE_NAMES
    assert list(fields[2]) == ZONE_POP and list(fields[3]) == ZONE_DEP
    assert {g.geom_type for g in shapely.from_wkb(geoms)} == {"MultiPolygon"}
    assert shapely.from_wkb(geoms[1]).area == pytest.approx(1_000_000)
    assert any("ZONES.shp: input has no CRS" in line for line in h.logs)

    inst = rels["installations"]
    assert inst["geometry_type"] == "MultiPoint" and inst["srs"] == "EPSG:4326" and inst["count"] == 25
    assert inst["attributes"] == {"name": "character varying", "value": "double precision"}
    _, _, _, fields = read(gpkg, layer="installations")
    assert fields[1][3] == pytest.approx(4.5) and fields[0][24] == "site 24"

    sites = rels["sites"]
    assert sites["geometry_type"] == "MultiPoint" and sites["count"] == 10 and sites["srs"] == "EPSG:2154"
    assert sites["attributes"] == {"id": "integer", "label": "character varying"}

    with sqlite3.connect(gpkg) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    expected = {f"rtree_{t}_wkb_geometry" for t in ("zones", "installations", "sites")}
    assert expected <= tables

    # extent: union of the tables' bounding boxes, in EPSG:4326
    to_lonlat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    zones_box = shapely.box(*to_lonlat.transform_bounds(870000, 6570000, 874000, 6571000, densify_pts=21))
    extent = shapely.geometry.shape(result.extent)
    assert extent.contains(zones_box.buffer(-1e-9))
    assert extent.bounds[:2] == pytest.approx((5.2, 46.2))  # the installations' corner
    assert result.srs is None  # tables in two CRS


def test_single_crs_upload_records_its_srs_and_extent(make_ctx, tmp_path) -> None:
    up = tmp_path / "upload"
    write_zones_shapefile(up)
    h = make_ctx(uploads=[(VECTOR, up)])
    result = vector_db.run(h.ctx)
    assert result.srs == "EPSG:2154"
    assert not any("no CRS" in line for line in h.logs)
    to_lonlat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    expected = to_lonlat.transform_bounds(870000, 6570000, 874000, 6571000, densify_pts=21)
    assert shapely.geometry.shape(result.extent).bounds == pytest.approx(expected, abs=1e-9)


def test_empty_layer_fails_clearly(make_ctx, tmp_path) -> None:
    up = tmp_path / "upload"
    up.mkdir()
    write(
        up / "empty.gpkg",
        np.array([], dtype=object),
        [np.array([], dtype=object)],
        ["name"],
        driver="GPKG",
        layer="Nothing",
        geometry_type="Point",
        crs="EPSG:2154",
    )
    h = make_ctx(uploads=[(VECTOR, up)])
    with pytest.raises(ProcessingFailed, match=r"empty\.gpkg:Nothing: layer 'Nothing' is empty"):
        vector_db.run(h.ctx)
    assert list(h.ctx.output_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no vector file found"), (b"\x00garbage" * 50, r"broken\.shp: unreadable vector file")],
)
def test_bad_uploads_fail_clearly(make_ctx, tmp_path, content, message) -> None:
    up = tmp_path / "upload"
    up.mkdir()
    (up / "readme.txt").write_text("hello")
    if content is not None:
        (up / "broken.shp").write_bytes(content)
    h = make_ctx(uploads=[(VECTOR, up)])
    with pytest.raises(ProcessingFailed, match=message):
        vector_db.run(h.ctx)
    assert list(h.ctx.output_dir.iterdir()) == []


def test_abort_between_batches(make_ctx, tmp_path) -> None:
    up = tmp_path / "upload"
    write_zones_shapefile(up)
    h = make_ctx(uploads=[(VECTOR, up)])
    h.abort.set()
    from gpf_flow.processings.base import ProcessingAborted

    with pytest.raises(ProcessingAborted):
        vector_db.run(h.ctx)
    assert list(h.ctx.output_dir.iterdir()) == []


def test_attribute_only_table_is_integrated_without_crs_warning(make_ctx, tmp_path) -> None:
    up = tmp_path / "upload"
    up.mkdir()
    names, counts = np.array(["x", "y"], dtype=object), np.array([1, 2])
    write(up / "a.gpkg", None, [names, counts], ["Name", "N"], driver="GPKG", layer="Attrs")
    h = make_ctx(uploads=[(VECTOR, up)])
    result = vector_db.run(h.ctx)
    (rel,) = result.type_infos["relations"]
    assert rel["name"] == "attrs" and rel["geometry_type"] is None and rel["count"] == 2
    assert rel["attributes"] == {"name": "character varying", "n": "bigint"}
    assert not any("no CRS" in line for line in h.logs)
    assert result.extent is None


def _polygons_gpkg(path, geoms, geometry_type="MultiPolygon") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write(
        path,
        np.array([shapely.to_wkb(g) for g in geoms], dtype=object),
        [np.arange(len(geoms))],
        ["N"],
        driver="GPKG",
        layer="Parcelles",
        geometry_type=geometry_type,
        crs="EPSG:2154",
    )


def test_single_and_multi_parts_of_a_layer_are_all_promoted(make_ctx, tmp_path) -> None:
    two = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)])
    _polygons_gpkg(tmp_path / "up" / "p.gpkg", [shapely.box(0, 0, 1, 1), two, shapely.box(5, 5, 6, 6)])
    h = make_ctx(uploads=[(VECTOR, tmp_path / "up")])
    (rel,) = vector_db.run(h.ctx).type_infos["relations"]
    assert rel["geometry_type"] == "MultiPolygon" and rel["count"] == 3
    _, _, wkb, fields = read(h.ctx.output_dir / "vector.gpkg", layer="parcelles")
    geoms = shapely.from_wkb(wkb)
    assert [g.geom_type for g in geoms] == ["MultiPolygon"] * 3
    assert [len(g.geoms) for g in geoms] == [1, 2, 1] and geoms[1].equals(two)
    assert list(fields[0]) == [0, 1, 2]


def test_a_geometry_of_another_family_fails_instead_of_being_mangled(make_ctx, tmp_path) -> None:
    _polygons_gpkg(tmp_path / "up" / "p.gpkg", [shapely.box(0, 0, 1, 1), shapely.Point(3, 3)])
    h = make_ctx(uploads=[(VECTOR, tmp_path / "up")])
    with pytest.raises(ProcessingFailed, match=r"p\.gpkg:Parcelles: a geometry does not fit a MultiPolygon"):
        vector_db.run(h.ctx)
    assert list(h.ctx.output_dir.iterdir()) == []


def test_an_update_aborted_between_batches_leaves_the_geopackage_as_it_was(
    make_ctx, tmp_path, monkeypatch
) -> None:
    from gpf_flow.processings import vector_gpkg
    from gpf_flow.processings.base import ProcessingAborted

    monkeypatch.setattr(vector_gpkg, "BATCH", 3)
    first = make_ctx(uploads=[(VECTOR, _points(tmp_path / "first", 4))])
    vector_db.run(first.ctx)
    gpkg = first.ctx.output_dir / "vector.gpkg"
    before = gpkg.read_bytes()
    second = make_ctx(uploads=[(VECTOR, _points(tmp_path / "second", 10))])
    second.ctx.output_dir.rmdir()
    second.ctx.output_dir = first.ctx.output_dir  # an update of the same stored data
    calls = iter(range(1000))
    # asked once per layer, then once per batch: the abort comes after two batches are written
    second.ctx.is_aborted = lambda: next(calls) >= 3
    with pytest.raises(ProcessingAborted):
        vector_db.run(second.ctx)
    assert gpkg.read_bytes() == before
    assert sorted(p.name for p in first.ctx.output_dir.iterdir()) == ["vector.gpkg"]


def _points(folder, n):
    write_points_gpkg(folder / "p.gpkg", n=n, layer="Points")
    return folder
