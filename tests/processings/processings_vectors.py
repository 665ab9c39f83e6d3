"""Small generated vector files for the processing tests (not a test module)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write

ZONE_CODES = ["Z01", "Z02", "Z03", "Z04"]
ZONE_NAMES = ["Alpha", "Bêta", "Gamma", "Delta"]
ZONE_POP = [1200, 54000, 7, 310]
ZONE_DEP = ["01", "01", "38", "73"]


def zone_polygons() -> list[shapely.Polygon]:
    """Four 1 km squares in Lambert-93 (EPSG:2154) near 46.1° N."""
    x0, y0 = 870_000.0, 6_570_000.0
    return [shapely.box(x0 + i * 1000, y0, x0 + (i + 1) * 1000, y0 + 1000) for i in range(4)]


def write_zones_shapefile(folder: Path, *, with_crs: bool = True) -> Path:
    """ZONES/ZONES.shp with upper-case fields CODE, NOM, POPULATION, INSEE_DEP (no .prj if not with_crs)."""
    path = folder / "ZONES" / "ZONES.shp"
    path.parent.mkdir(parents=True, exist_ok=True)
    geoms = np.array([shapely.to_wkb(g) for g in zone_polygons()], dtype=object)
    fields = [
        np.array(ZONE_CODES, dtype=object),
        np.array(ZONE_NAMES, dtype=object),
        np.array(ZONE_POP, dtype=np.int64),
        np.array(ZONE_DEP, dtype=object),
    ]
    write(
        path,
        geoms,
        fields,
        ["CODE", "NOM", "POPULATION", "INSEE_DEP"],
        driver="ESRI Shapefile",
        geometry_type="Polygon",
        crs="EPSG:2154" if with_crs else None,
        encoding="UTF-8",
    )
    return path


def write_points_gpkg(path: Path, n: int = 25, layer: str = "Installations") -> Path:
    """A GeoPackage layer of n points in EPSG:4326 with fields Name and Value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pts = [shapely.Point(5.2 + i * 0.001, 46.2 + i * 0.0005) for i in range(n)]
    write(
        path,
        np.array([shapely.to_wkb(p) for p in pts], dtype=object),
        [np.array([f"site {i}" for i in range(n)], dtype=object), np.arange(n, dtype=np.float64) * 1.5],
        ["Name", "Value"],
        driver="GPKG",
        layer=layer,
        geometry_type="Point",
        crs="EPSG:4326",
    )
    return path


def write_csv(path: Path, n: int = 10) -> Path:
    """A CSV with a WKT point column (Lambert-93, no CRS in the file) and a .csvt with the column types."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["ID,LABEL,WKT"] + [
        f'{i},"p{i}","POINT ({870100 + i * 50} {6570100 + i * 20})"' for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.with_suffix(".csvt").write_text('"Integer","String","WKT"\n', encoding="utf-8")
    return path


def write_parcels_gpkg(folder: Path, n: int) -> Path:
    """``folder/parcels.gpkg``: n 10 m squares (Lambert-93) with fields CODE, SURFACE, LABEL."""
    folder.mkdir(parents=True)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x = 700_000 + (i % side) * 20.0
    y = 6_600_000 + (i // side) * 20.0
    path = folder / "parcels.gpkg"
    write(
        path,
        shapely.to_wkb(shapely.box(x, y, x + 10, y + 10)),
        [i.astype(np.int64), np.full(n, 100.0), np.array([f"parcel {k}" for k in i], dtype=object)],
        ["CODE", "SURFACE", "LABEL"],
        driver="GPKG",
        layer="parcels",
        geometry_type="Polygon",
        crs="EPSG:2154",
    )
    return path


_PEAK_CHILD = """
import sys, uuid
from pathlib import Path
from gpf_flow.processings import vector_db
from gpf_flow.processings.base import InputData, ProcessingContext
upload, out, home = (Path(a) for a in sys.argv[1:4])
out.mkdir()
ctx = ProcessingContext(
    parameters={}, uploads=[InputData({"type": "VECTOR", "srs": "EPSG:2154"}, upload)], stored_data=[],
    output_dir=out, log=lambda line: None, is_aborted=lambda: False,
    output_entity={"_id": str(uuid.uuid4()), "name": "memory"}, home=home,
)
counts = [rel["count"] for rel in vector_db.run(ctx).type_infos["relations"]]
status = Path("/proc/self/status").read_text().splitlines()
print(sum(counts), next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""


def integration_peak(upload: Path, out: Path, home: Path, env: dict[str, str]) -> tuple[int, float]:
    """(features integrated, peak RSS in MB) of the processing run alone in a fresh process.

    ``VmHWM`` is the process's own high-water mark (``ru_maxrss`` would carry the parent's over
    ``exec``).
    """
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_CHILD, str(upload), str(out), str(home)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    count, peak_kb = done.stdout.split()[-2:]
    return int(count), int(peak_kb) / 1024
