"""The read API the vector services use: relations, pyogrio-shaped info and features, views included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from pg_samples import write_maj_bdd_lots
from test_postgis_integration import MAJ, Runner

from gpf_flow.postgis import reader
from gpf_flow.postgis.database import database_for


def test_reader_gives_tables_and_views_like_pyogrio(pg_home: Path, tmp_path: Path) -> None:
    lots = write_maj_bdd_lots(tmp_path / "maj", n2=30, n3=0)
    run = Runner(pg_home, tmp_path / "out")
    run(lots["lot_1"], MAJ)
    run(lots["lot_2"], MAJ)
    db = database_for(pg_home)
    rels = {r.name: r for r in db.relations(run.schema)}
    assert rels["installation_autorisation"].type == "VIEW"
    assert rels["installation_autorisation"].geometry_column == "geom"
    info = reader.layer_info(db, run.schema, "installation_autorisation")
    assert list(info["fields"])[:2] == ["id", "nom_ets"] and info["dtypes"][0] == "int32"
    assert info["geometry_type"] == "Point" and info["crs"] == "EPSG:4326" and info["features"] == 10
    table = reader.layer_info(db, run.schema, "installation")
    assert table["fid_column"] == "id" and "id" not in list(table["fields"]) and table["features"] == 30
    minx, miny, maxx, maxy = table["total_bounds"]
    assert (minx, miny) == (4.05, 49.24) and np.isclose(maxx, 4.34) and np.isclose(maxy, 49.53)
    # a bbox holding the first five points, paged two by two, two columns
    bbox = (4.04, 49.23, 4.095, 49.285)
    pages = [
        reader.read_features(
            db, run.schema, "installation", bbox, skip=s, limit=2, columns=["commune", "lib_regime"]
        )
        for s in (0, 2, 4)
    ]
    fids = [int(f) for meta, fid, _w, _v in pages for f in fid]
    assert fids == [1, 2, 3, 4, 5]
    meta, _fid, wkb, values = pages[0]
    assert list(meta["fields"]) == ["commune", "lib_regime"] and meta["crs"] == "EPSG:4326"
    assert list(values[1]) == ["Autorisation", "Enregistrement"]
    assert shapely.from_wkb(wkb[0]).equals(shapely.Point(4.05, 49.24))
    rows = db.query(
        run.schema, "SELECT count(*) AS n FROM installation WHERE lib_regime = %s", ["Autorisation"]
    )
    assert rows == [{"n": 10}]
