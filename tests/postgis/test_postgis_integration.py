"""Vector integration into PostGIS (and the GeoPackage fallback): names, types, SQL lots, appends, CSV."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pg_samples import FIELDS, write_maj_bdd_lots
from processings_vectors import write_csv, write_points_gpkg, write_zones_shapefile
from psycopg import sql
from pyogrio import list_layers, read_info
from pyogrio.raw import read, write
from pyproj import Transformer

from gpf_flow.postgis.database import database_for, schema_name
from gpf_flow.processings import vector_db
from gpf_flow.processings.base import InputData, ProcessingContext, ProcessingFailed, ProcessingResult

VECTOR = {"name": "V", "type": "VECTOR", "srs": "EPSG:2154"}
MAJ = {"name": "M", "type": "VECTOR", "srs": "EPSG:4326"}


class Runner:
    """Runs the integration as the local store's worker does, into one stored data."""

    def __init__(self, home: Path, out: Path) -> None:
        self.home = home
        self.out = out
        self.sd = {"_id": str(uuid.uuid4()), "name": "sd"}
        self.logs: list[str] = []

    def __call__(self, upload: Path, entity: dict[str, Any] = VECTOR) -> ProcessingResult:
        self.out.mkdir(parents=True, exist_ok=True)
        ctx = ProcessingContext(
            parameters={},
            uploads=[InputData(entity, upload)],
            stored_data=[],
            output_dir=self.out,
            log=self.logs.append,
            is_aborted=threading.Event().is_set,
            output_entity=self.sd,
            home=self.home,
        )
        return vector_db.run(ctx)

    @property
    def schema(self) -> str:
        return schema_name(self.sd["_id"])


@pytest.fixture
def runner(pg_home: Path, tmp_path: Path) -> Callable[[], Runner]:
    return lambda: Runner(pg_home, tmp_path / f"out-{uuid.uuid4().hex[:6]}")


def _upload(tmp_path: Path) -> Path:
    up = tmp_path / "upload"
    write_zones_shapefile(up, with_crs=False)
    write_points_gpkg(up / "gpkg" / "points.gpkg", n=25, layer="Installations-Sud")
    write_csv(up / "csv" / "Sites.csv", n=10)
    return up


def test_names_and_types_as_ogr2ogr_gives_them(runner: Callable[[], Runner], tmp_path: Path) -> None:
    run = runner()
    result = run(_upload(tmp_path))
    assert result.type_infos["database"] == "postgis"
    assert database_for(run.home).schema_exists(run.schema)  # named after the stored data's id
    rels = {r["name"]: r for r in result.type_infos["relations"]}
    assert set(rels) == {"zones", "installations_sud", "sites"}
    zones = rels["zones"]
    assert zones["attributes"] == {
        "ogc_fid": "integer",
        "code": "character varying",
        "nom": "character varying",
        "population": "bigint",
        "insee_dep": "character varying",
    }
    assert zones["primary_key"] == ["ogc_fid"] and zones["geometry_column"] == "wkb_geometry"
    assert zones["geometry_type"] == "MultiPolygon" and zones["srs"] == "EPSG:2154" and zones["count"] == 4
    assert zones["extent"] == pytest.approx([870000, 6570000, 874000, 6571000])
    assert rels["installations_sud"]["geometry_type"] == "MultiPoint"
    assert rels["installations_sud"]["srs"] == "EPSG:4326"
    assert rels["sites"]["attributes"] == {
        "ogc_fid": "integer",
        "id": "integer",
        "label": "character varying",
    }
    assert rels["sites"]["srs"] == "EPSG:2154"  # the upload's declared srs (the CSV has none)
    db = database_for(run.home)
    rows = db.query(run.schema, "SELECT code, nom, population FROM zones ORDER BY ogc_fid")
    assert [r["nom"] for r in rows] == ["Alpha", "Bêta", "Gamma", "Delta"] and rows[1]["population"] == 54000
    indexes = db.query(
        "",
        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'zones'",
        [run.schema],
    )
    assert any("USING gist (wkb_geometry)" in r["indexdef"] for r in indexes)
    assert result.extent is not None and result.srs is None


def test_geopackage_fallback_gives_the_same_names(
    runner: Callable[[], Runner], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg = runner()(_upload(tmp_path))
    monkeypatch.setenv("GPF_FLOW_POSTGRES", "off")
    run = runner()
    gp = run(_upload(tmp_path / "again"))
    assert gp.type_infos["file"] == "vector.gpkg"
    gpkg = run.out / "vector.gpkg"
    assert sorted(str(t[0]) for t in list_layers(gpkg)) == sorted(
        r["name"] for r in pg.type_infos["relations"]
    )
    for rel in pg.type_infos["relations"]:
        info = read_info(gpkg, layer=rel["name"])
        assert info["fid_column"] == "ogc_fid" and info["geometry_name"] == "wkb_geometry"
        fields = [c for c in rel["attributes"] if c != "ogc_fid"]
        assert list(info["fields"]) == fields
        gp_rel = next(r for r in gp.type_infos["relations"] if r["name"] == rel["name"])
        assert gp_rel["geometry_type"] == rel["geometry_type"] and gp_rel["srs"] == rel["srs"]
        assert {k: v for k, v in gp_rel["attributes"].items()} == {k: rel["attributes"][k] for k in fields}


def test_maj_bdd_lots_sql_view_then_appends(runner: Callable[[], Runner], tmp_path: Path) -> None:
    lots = write_maj_bdd_lots(tmp_path / "maj", n2=30, n3=12)
    run = runner()
    first = run(lots["lot_1"], MAJ)
    rels = {r["name"]: r for r in first.type_infos["relations"]}
    assert rels["installation"]["type"] == "TABLE" and rels["installation_autorisation"]["type"] == "VIEW"
    assert (
        rels["installation"]["geometry_column"] == "geom" and rels["installation"]["geometry_type"] == "Point"
    )
    assert rels["installation"]["attributes"]["nom_ets"] == "character varying(254)"
    assert rels["installation"]["count"] == 0
    second = run(lots["lot_2"], MAJ)
    assert {r["name"]: r["count"] for r in second.type_infos["relations"]} == {
        "installation": 30,
        "installation_autorisation": 10,
    }
    third = run(lots["lot_3"], MAJ)
    counts = {r["name"]: r["count"] for r in third.type_infos["relations"]}
    assert counts == {"installation": 42, "installation_autorisation": 14}
    assert any("installation.gpkg:installation → table installation (appended): 30" in x for x in run.logs)
    db = database_for(run.home)
    rows = db.query(
        run.schema,
        "SELECT id, nom_ets, ST_AsText(geom) AS g, ST_SRID(geom) AS srid FROM installation "
        "WHERE id >= 5000 ORDER BY id",
    )
    assert [r["id"] for r in rows] == list(range(5000, 5012))  # the CSV's ids, typed by the .csvt
    assert rows[0]["nom_ets"] == "ETS 1000" and rows[0]["g"] == "POINT(7 47.7)" and rows[0]["srid"] == 4326
    types = db.query(run.schema, "SELECT GeometryType(geom) AS t FROM installation GROUP BY 1")
    assert types == [{"t": "POINT"}]  # appended into the table's own Point column, not promoted
    new_table = tmp_path / "lot_4"
    write_points_gpkg(new_table / "extra.gpkg", n=3, layer="Nouvelle Table")
    fourth = run(new_table, MAJ)
    assert {r["name"] for r in fourth.type_infos["relations"]} == {
        "installation",
        "installation_autorisation",
        "nouvelle_table",
    }


def test_bad_sql_names_file_and_line_and_applies_nothing(
    runner: Callable[[], Runner], tmp_path: Path
) -> None:
    lots = write_maj_bdd_lots(tmp_path / "maj")
    run = runner()
    run(lots["lot_1"], MAJ)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "update.sql").write_text(
        "CREATE TABLE other (id integer);\nINSERT INTO other VALUES (1);\n\n"
        "ALTER TABLE installation ADD COLUM x int;\n"
    )
    with pytest.raises(ProcessingFailed, match=r"update\.sql line 4: syntax error at or near \"int\""):
        run(bad, MAJ)
    names = {r.name for r in database_for(run.home).relations(run.schema)}
    assert names == {"installation", "installation_autorisation"}  # "other" rolled back


def test_failed_first_integration_leaves_no_schema(runner: Callable[[], Runner], tmp_path: Path) -> None:
    up = tmp_path / "up"
    up.mkdir()
    (up / "a.sql").write_text("CREATE TABLE a (id integer);\n")
    (up / "b.sql").write_text("SELECT * FROM nowhere;\n")
    run = runner()
    with pytest.raises(ProcessingFailed, match=r"b\.sql line 1: relation \"nowhere\" does not exist"):
        run(up, MAJ)
    assert not database_for(run.home).schema_exists(run.schema)


def test_sql_without_postgresql_says_what_to_install(
    runner: Callable[[], Runner], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lots = write_maj_bdd_lots(tmp_path / "maj")
    monkeypatch.setenv("GPF_FLOW_PG_BINDIR", str(tmp_path / "nowhere"))
    with pytest.raises(ProcessingFailed, match=r"installation-init\.sql: SQL files need PostgreSQL") as err:
        Runner(tmp_path / "home", tmp_path / "out")(lots["lot_1"], MAJ)
    assert "apt-get install postgresql postgis" in str(err.value)


def test_identifiers_are_quoted_by_the_driver(runner: Callable[[], Runner], tmp_path: Path) -> None:
    up = tmp_path / "up"
    write_points_gpkg(up / "p.gpkg", n=2, layer='x"; DROP TABLE y; --')
    run = runner()
    result = run(up)
    (rel,) = result.type_infos["relations"]
    assert rel["name"] == 'x";_drop_table_y;___' and rel["count"] == 2
    db = database_for(run.home)
    rows = db.query(run.schema, sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(rel["name"])))
    assert rows == [{"n": 2}]


def test_csv_with_x_y_columns_and_csvt(runner: Callable[[], Runner], tmp_path: Path) -> None:
    up = tmp_path / "xy"
    up.mkdir()
    (up / "Mesures.csv").write_text(
        "X,Y,Valeur,Jour\n870100,6570100,1.5,2026-01-02\n870200,6570300,,2026-02-03\n"
    )
    (up / "Mesures.csvt").write_text("Real,Real,Real,Date\n")
    run = runner()
    (rel,) = run(up).type_infos["relations"]
    assert rel["name"] == "mesures" and rel["geometry_type"] == "MultiPoint" and rel["srs"] == "EPSG:2154"
    assert rel["attributes"] == {"ogc_fid": "integer", "valeur": "double precision", "jour": "date"}
    rows = database_for(run.home).query(
        run.schema,
        "SELECT valeur, jour::text AS jour, ST_AsText(wkb_geometry) AS g FROM mesures ORDER BY ogc_fid",
    )
    assert rows == [
        {"valeur": 1.5, "jour": "2026-01-02", "g": "MULTIPOINT((870100 6570100))"},
        {"valeur": None, "jour": "2026-02-03", "g": "MULTIPOINT((870200 6570300))"},
    ]


# -- appends on both backends (PostGIS and the GeoPackage fallback) -------------------------------

BACKENDS = ["postgis", "geopackage"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each append test on PostGIS and on the GeoPackage fallback (``GPF_FLOW_POSTGRES=off``)."""
    if request.param == "geopackage":
        monkeypatch.setenv("GPF_FLOW_POSTGRES", "off")
    return str(request.param)


def _seed_installation(run: Runner, backend: str, lots: dict[str, Path], tmp_path: Path) -> None:
    """An empty ``installation`` table (FID ``id``, geometry ``geom`` Point 4326) in the stored data."""
    if backend == "postgis":
        run(lots["lot_1"], MAJ)  # the official lot 1: an SQL file
        return
    run.out.mkdir(parents=True, exist_ok=True)  # as an earlier delivery left it (made by ogr2ogr)
    write(
        run.out / "vector.gpkg",
        np.array([], dtype=object),
        [np.array([], dtype=object) for _ in FIELDS],
        FIELDS,
        driver="GPKG",
        layer="installation",
        geometry_type="Point",
        crs="EPSG:4326",
        layer_options={"FID": "id", "GEOMETRY_NAME": "geom"},
    )


def _rows(run: Runner, backend: str, table: str) -> list[dict[str, Any]]:
    """``{nom_ets, wkt, type}`` of every row, in FID order, read back from either backend."""
    if backend == "postgis":
        return database_for(run.home).query(
            run.schema,
            sql.SQL(
                "SELECT nom_ets, ST_AsText({g}) AS wkt, GeometryType({g}) AS type FROM {t} ORDER BY 1"
            ).format(g=sql.Identifier(_geometry_column(run, backend, table)), t=sql.Identifier(table)),
        )
    meta, _, wkb, fields = read(run.out / "vector.gpkg", layer=table)
    names = list(meta["fields"])
    geoms = shapely.from_wkb(wkb)
    rows = [
        {"nom_ets": fields[names.index("nom_ets")][i], "wkt": g.wkt, "type": g.geom_type.upper()}
        for i, g in enumerate(geoms)
    ]
    return sorted(rows, key=lambda r: str(r["nom_ets"]))


def _geometry_column(run: Runner, backend: str, table: str) -> str:
    if backend == "postgis":
        rel = next(r for r in database_for(run.home).relations(run.schema) if r.name == table)
        return str(rel.geometry_column)
    return str(read_info(run.out / "vector.gpkg", layer=table)["geometry_name"])


def _lambert_points(folder: Path, names: list[str]) -> Path:
    """``folder/installation.gpkg``: points in Lambert-93 with a ``NOM_ETS`` column (upper case)."""
    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    xy = [to_l93.transform(5.0 + k, 45.0) for k in range(len(names))]
    folder.mkdir(parents=True, exist_ok=True)
    write(
        folder / "installation.gpkg",
        np.array([shapely.to_wkb(shapely.Point(x, y)) for x, y in xy], dtype=object),
        [np.array(names, dtype=object)],
        ["NOM_ETS"],
        driver="GPKG",
        layer="installation",
        geometry_type="Point",
        crs="EPSG:2154",
    )
    return folder


def test_appends_into_the_tables_own_columns_on_both_backends(
    runner: Callable[[], Runner], tmp_path: Path, backend: str
) -> None:
    lots = write_maj_bdd_lots(tmp_path / "maj", n2=30, n3=12)
    run = runner()
    _seed_installation(run, backend, lots, tmp_path)
    run(lots["lot_2"], MAJ)
    third = run(lots["lot_3"], MAJ)  # CSV with a WKT column, typed by its .csvt
    rel = next(r for r in third.type_infos["relations"] if r["name"] == "installation")
    assert rel["count"] == 42 and rel["geometry_column"] == "geom" and rel["geometry_type"] == "Point"
    assert _geometry_column(run, backend, "installation") == "geom"  # no wkb_geometry added
    rows = _rows(run, backend, "installation")
    assert {r["type"] for r in rows} == {"POINT"}  # put in the table's own Point column, not promoted
    by_name = {r["nom_ets"]: r["wkt"] for r in rows}
    assert shapely.from_wkt(by_name["ETS 1000"]).equals(shapely.Point(7, 47.7))  # a CSV row
    assert shapely.from_wkt(by_name["ETS 0"]).equals(shapely.Point(4.05, 49.24))  # a GeoPackage row

    # A Lambert-93 layer whose column is named in upper case: matched by its laundered name and
    # reprojected into the table's CRS.
    fourth = run(_lambert_points(tmp_path / "l93", ["L93 A", "L93 B"]), MAJ)
    assert next(r for r in fourth.type_infos["relations"] if r["name"] == "installation")["count"] == 44
    moved = shapely.from_wkt({r["nom_ets"]: r["wkt"] for r in _rows(run, backend, "installation")}["L93 B"])
    assert (moved.x, moved.y) == pytest.approx((6.0, 45.0), abs=1e-7)


def test_a_new_layer_creates_its_table_next_to_the_existing_ones(
    runner: Callable[[], Runner], tmp_path: Path, backend: str
) -> None:
    run = runner()
    first = tmp_path / "first"
    write_points_gpkg(first / "a.gpkg", n=4, layer="Installations")
    run(first)
    second = tmp_path / "second"
    write_points_gpkg(second / "b.gpkg", n=3, layer="Nouvelle Table")
    result = run(second)
    counts = {r["name"]: r["count"] for r in result.type_infos["relations"]}
    assert counts == {"installations": 4, "nouvelle_table": 3}
    new = next(r for r in result.type_infos["relations"] if r["name"] == "nouvelle_table")
    assert new["geometry_column"] == "wkb_geometry" and new["geometry_type"] == "MultiPoint"
    assert any("b.gpkg:Nouvelle Table → table nouvelle_table (created): 3" in x for x in run.logs)


def test_a_failed_update_leaves_the_old_data_intact(
    runner: Callable[[], Runner], tmp_path: Path, backend: str
) -> None:
    run = runner()
    first = tmp_path / "first"
    write_points_gpkg(first / "a.gpkg", n=4, layer="Installations")
    before = run(first).type_infos["relations"]
    # Two layers: the first one appends (and creates a table) fine, the second is empty.
    bad = tmp_path / "bad"
    write_points_gpkg(bad / "a.gpkg", n=5, layer="Installations")
    write_points_gpkg(bad / "a.gpkg", n=2, layer="Autre")
    write(
        bad / "z.gpkg",
        np.array([], dtype=object),
        [np.array([], dtype=object)],
        ["name"],
        driver="GPKG",
        layer="Vide",
        geometry_type="Point",
        crs="EPSG:4326",
    )
    with pytest.raises(ProcessingFailed, match=r"z\.gpkg:Vide: layer 'Vide' is empty"):
        run(bad)
    if backend == "postgis":
        names = {r.name for r in database_for(run.home).relations(run.schema)}
        count = database_for(run.home).query(run.schema, "SELECT count(*) AS n FROM installations")
        assert names == {"installations"} and count == [{"n": 4}]
    else:
        gpkg = run.out / "vector.gpkg"
        assert [str(t[0]) for t in list_layers(gpkg)] == ["installations"]
        assert read_info(gpkg, layer="installations", force_feature_count=True)["features"] == 4
        assert sorted(p.name for p in run.out.iterdir()) == ["vector.gpkg"]  # no partial copy left
    again = run(first).type_infos["relations"]  # and the stored data still takes updates
    assert [r["count"] for r in again] == [2 * r["count"] for r in before]


def test_a_value_the_table_cannot_take_fails_naming_the_layer(
    runner: Callable[[], Runner], tmp_path: Path, backend: str
) -> None:
    run = runner()
    first = tmp_path / "first"
    first.mkdir()
    (first / "Mesures.csv").write_text("X,Y,Valeur\n870100,6570100,1\n")
    (first / "Mesures.csvt").write_text("Real,Real,Integer\n")
    run(first, VECTOR)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "Mesures.csv").write_text("X,Y,Valeur\n870200,6570200,beaucoup\n")
    (bad / "Mesures.csvt").write_text("Real,Real,String\n")
    with pytest.raises(ProcessingFailed, match=r"Mesures\.csv: .*beaucoup"):
        run(bad, VECTOR)
    rel = next(r for r in run(first, VECTOR).type_infos["relations"] if r["name"] == "mesures")
    assert rel["count"] == 2
