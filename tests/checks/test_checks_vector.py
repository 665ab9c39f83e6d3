"""Vector check on the vector sample and on damaged shapefiles."""

from __future__ import annotations

from pathlib import Path

from gpf_flow.checks import vector_check
from gpf_flow.datasets import write_dataset


def test_checks_vector_sample_passes(tmp_path: Path, make_ctx) -> None:
    folder = write_dataset("vector-sample", tmp_path)
    (folder / "style_zones.sld").unlink()  # not part of the upload's data
    ctx = make_ctx(folder, "VECTOR")
    assert vector_check.run(ctx.context) is True, ctx.lines
    assert any("ZONES/ZONES.shp: ZONES: 30 features" in line for line in ctx.lines)


def test_checks_vector_truncated_shp_fails(tmp_path: Path, make_ctx) -> None:
    folder = write_dataset("vector-sample", tmp_path)
    (folder / "style_zones.sld").unlink()
    shp = folder / "ZONES" / "ZONES.shp"
    data = shp.read_bytes()
    shp.write_bytes(data[:2000] + data[2001:])  # one byte lost in the middle, as a CRLF->LF conversion does
    ctx = make_ctx(folder, "VECTOR")
    assert vector_check.run(ctx.context) is False
    assert any(
        "ZONES/ZONES.shp" in e and "header says 4180 bytes but the file has 4179" in e for e in ctx.errors
    )
    assert any("has no geometry" in e or "does not parse" in e for e in ctx.errors), ctx.errors


def test_checks_vector_garbage_file_fails(tmp_path: Path, make_ctx) -> None:
    (tmp_path / "broken.gpkg").write_bytes(b"\x00" * 100)
    ctx = make_ctx(tmp_path, "VECTOR")
    assert vector_check.run(ctx.context) is False
    assert any("broken.gpkg: does not open as a vector file" in e for e in ctx.errors)


def test_checks_vector_missing_dbf_is_reported(tmp_path: Path, make_ctx) -> None:
    folder = write_dataset("vector-sample", tmp_path)
    (folder / "style_zones.sld").unlink()
    (folder / "ZONES" / "ZONES.dbf").unlink()
    ctx = make_ctx(folder, "VECTOR")
    assert vector_check.run(ctx.context) is False
    assert any("missing .dbf" in e for e in ctx.errors)


def test_checks_vector_geopackage_and_csv_pass(tmp_path: Path, make_ctx) -> None:
    import numpy as np
    import shapely
    from pyogrio import raw

    points = shapely.to_wkb(np.array([shapely.Point(940000 + i, 6537000) for i in range(7)], dtype=object))
    names = np.array([f"p{i}" for i in range(7)], dtype=object)
    raw.write(
        tmp_path / "points.gpkg",
        points,
        [names],
        ["name"],
        driver="GPKG",
        crs="EPSG:2154",
        geometry_type="Point",
    )
    (tmp_path / "table.csv").write_text("id,label\n1,a\n2,b\n")
    ctx = make_ctx(tmp_path, "VECTOR")
    assert vector_check.run(ctx.context) is True, ctx.lines
    assert any("points.gpkg: points: 7 features" in line for line in ctx.lines), ctx.lines


def test_checks_vector_csv_with_csvt_and_sql_lot_pass(tmp_path: Path, make_ctx) -> None:
    lot3 = tmp_path / "lot_3"
    lot3.mkdir()
    (lot3 / "installation.csv").write_text('WKT,id,nom\n"POINT (7 47.7)","1",A\n"POINT (7.1 47.8)","2",B\n')
    (lot3 / "installation.csvt").write_text("WKT,Integer(10),String(254)\n")
    ctx = make_ctx(lot3, "VECTOR")
    assert vector_check.run(ctx.context) is True, ctx.lines
    assert not any("installation.csvt" in e for e in ctx.errors)
    lot1 = tmp_path / "lot_1"
    lot1.mkdir()
    (lot1 / "installation-init.sql").write_text("CREATE TABLE installation (id serial PRIMARY KEY);\n")
    ctx = make_ctx(lot1, "VECTOR")
    assert vector_check.run(ctx.context) is True, ctx.lines
    (lot1 / "broken.sql").write_bytes(b"SELECT '\xff\xfe';\n")
    ctx = make_ctx(lot1, "VECTOR")
    assert vector_check.run(ctx.context) is False
    assert any("broken.sql: SQL file is not UTF-8 text" in e for e in ctx.errors), ctx.errors
