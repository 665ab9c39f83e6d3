"""An integration that would lose every attribute fails, and leaves the table as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from psycopg import sql
from pyogrio.raw import write

from gpf_flow.postgis.database import database_for
from gpf_flow.postgis.integrate import IntegrationError, load_layer
from gpf_flow.postgis.sources import SourceLayer


def _points(path: Path, field: str, count: int) -> None:
    geometry = shapely.to_wkb(shapely.points(np.arange(count, dtype=float), np.zeros(count)))
    values = np.array([f"v{i}" for i in range(count)], dtype=object)
    write(
        path, geometry, [values], [field], driver="GPKG", layer="pts", geometry_type="Point", crs="EPSG:4326"
    )


def test_append_whose_columns_match_none_of_the_table_fails(pg_home: Path, tmp_path: Path) -> None:
    db = database_for(pg_home)
    schema = "sd_loss_test"
    db.create_schema(schema)
    logs: list[str] = []
    first, second = tmp_path / "first.gpkg", tmp_path / "second.gpkg"
    _points(first, "name", 3)
    _points(second, "other", 5)
    with db.connect(schema) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, "pts")))
        load_layer(conn, schema, SourceLayer(first, "pts", {}), None, logs.append, lambda: None)
    with db.connect(schema) as conn, pytest.raises(IntegrationError, match="every attribute would be lost"):
        load_layer(conn, schema, SourceLayer(second, "pts", {}), None, logs.append, lambda: None)
    with db.connect(schema) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "pts"))
        ).fetchone()
    assert row is not None and row[0] == 3  # nothing of the refused layer was written
