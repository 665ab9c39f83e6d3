"""Generated uploads in the shape of the official samples (not a test module).

``write_maj_bdd_lots`` mirrors ``5_dataset_maj_bd_gpf``: lot 1 an SQL file creating the
``installation`` table (``geometry(Point,4326)``) and the ``installation_autorisation`` view,
lot 2 a GeoPackage layer ``installation`` (FID ``id``, geometry ``geom``), lot 3 a CSV with a WKT
column and a ``.csvt``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write

LOT1_SQL = """CREATE TABLE installation (
    id SERIAL PRIMARY KEY,
    nom_ets character varying(254),
    adresse character varying(207),
    commune character varying(50),
    lib_regime character varying(50),
    url_fiche character varying(80),
    lib_seveso character varying(20),
    geom geometry(Point,4326)
);

CREATE VIEW installation_autorisation AS SELECT * FROM installation WHERE lib_regime = 'Autorisation';
"""
REGIMES = ["Autorisation", "Enregistrement", "Autres régimes"]
FIELDS = ["nom_ets", "adresse", "commune", "lib_regime", "url_fiche", "lib_seveso"]


def _row(i: int) -> list[str]:
    return [
        f"ETS {i}",
        f"{i} rue de l'Église",
        f"COMMUNE {i % 7}",
        REGIMES[i % 3],
        f"https://x/{i}",
        "Non Seveso",
    ]


def write_maj_bdd_lots(folder: Path, n2: int = 30, n3: int = 12) -> dict[str, Path]:
    """``lot_1``, ``lot_2``, ``lot_3`` under ``folder``; returns their paths."""
    lots = {name: folder / name for name in ("lot_1", "lot_2", "lot_3")}
    for path in lots.values():
        path.mkdir(parents=True, exist_ok=True)
    (lots["lot_1"] / "installation-init.sql").write_text(LOT1_SQL, encoding="utf-8")
    points = [shapely.Point(4.05 + i * 0.01, 49.24 + i * 0.01) for i in range(n2)]
    rows = [_row(i) for i in range(n2)]
    write(
        lots["lot_2"] / "installation.gpkg",
        np.array([shapely.to_wkb(p) for p in points], dtype=object),
        [np.array([r[k] for r in rows], dtype=object) for k in range(len(FIELDS))],
        FIELDS,
        driver="GPKG",
        layer="installation",
        geometry_type="Point",
        crs="EPSG:4326",
        layer_options={"FID": "id", "GEOMETRY_NAME": "geom"},
    )
    lines = ["WKT,id," + ",".join(FIELDS)]
    for i in range(n3):
        r = _row(1000 + i)
        lines.append(
            f'"POINT ({7.0 + i * 0.001} {47.7 + i * 0.001})","{5000 + i}",' + ",".join(f'"{v}"' for v in r)
        )
    (lots["lot_3"] / "installation.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (lots["lot_3"] / "installation.csvt").write_text(
        "WKT,Integer(10),String(254),String(207),String(50),String(50),String(80),String(20)\n",
        encoding="utf-8",
    )
    return lots
