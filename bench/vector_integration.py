"""Vector integration into PostGIS against a plain ``COPY`` of the same rows (prints the ratio).

N square polygons (Lambert-93) with three attributes are written to a GeoPackage; then

1. the processing "Intégration de données vecteur livrées en base" loads it into the home's
   embedded cluster (read with pyogrio, ``COPY`` to a staging table, ``INSERT … SELECT`` with
   ``ST_Multi``, GIST index, ``ANALYZE``, counts and extents);
2. the same rows (attributes and EWKB) are sent with one plain ``COPY`` into a bare table.

Run: ``.venv/bin/python bench/vector_integration.py [N]`` (default 1,000,000).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import read, write

from gpf_flow.postgis.cluster import EmbeddedCluster, PostgresUnavailable
from gpf_flow.postgis.database import database_for, schema_name, shutdown
from gpf_flow.processings import vector_db
from gpf_flow.processings.base import InputData, ProcessingContext


def make_upload(folder: Path, n: int) -> Path:
    """``folder/parcels.gpkg`` with n 10 m squares and fields code, surface, label."""
    folder.mkdir(parents=True)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x = 700_000 + (i % side) * 20.0
    y = 6_600_000 + (i // side) * 20.0
    geoms = shapely.box(x, y, x + 10, y + 10)
    path = folder / "parcels.gpkg"
    write(
        path,
        shapely.to_wkb(geoms),
        [i.astype(np.int64), np.full(n, 100.0), np.array([f"parcel {k}" for k in i], dtype=object)],
        ["CODE", "SURFACE", "LABEL"],
        driver="GPKG",
        layer="parcels",
        geometry_type="Polygon",
        crs="EPSG:2154",
    )
    return path


def integrate(home: Path, upload: Path) -> float:
    """Seconds taken by the processing."""
    ctx = ProcessingContext(
        parameters={},
        uploads=[InputData({"type": "VECTOR", "srs": "EPSG:2154"}, upload)],
        stored_data=[],
        output_dir=home / "out",
        log=lambda line: None,
        is_aborted=lambda: False,
        output_entity={"_id": str(uuid.uuid4()), "name": "bench"},
        home=home,
    )
    (home / "out").mkdir()
    t0 = time.perf_counter()
    result = vector_db.run(ctx)
    elapsed = time.perf_counter() - t0
    (rel,) = result.type_infos["relations"]
    print(f"integration: {rel['count']} features into table {rel['name']}")
    return elapsed


def plain_copy(home: Path, path: Path) -> float:
    """Seconds to read the same file and ``COPY`` its rows (attributes, EWKB) into a bare table."""
    db = database_for(home)
    schema = schema_name(str(uuid.uuid4()))
    db.create_schema(schema)
    t0 = time.perf_counter()
    _, _, wkb, fields = read(path, layer="parcels")
    ewkb = shapely.to_wkb(shapely.set_srid(shapely.from_wkb(wkb), 2154), hex=True, include_srid=True)
    columns = [f.tolist() for f in fields] + [list(ewkb)]
    with db.connect(schema) as conn:
        conn.execute(
            "CREATE TABLE parcels (code bigint, surface double precision, label text, geom geometry)"
        )
        with conn.cursor() as cur, cur.copy("COPY parcels (code, surface, label, geom) FROM STDIN") as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)
    return time.perf_counter() - t0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    try:
        EmbeddedCluster(Path(tempfile.gettempdir()))
    except PostgresUnavailable as exc:
        print(f"skipped: {exc}")
        return
    work = Path(tempfile.mkdtemp(prefix="gpf-bench-vector-"))
    home = work / "home"
    home.mkdir()
    try:
        t0 = time.perf_counter()
        path = make_upload(work / "upload", n)
        print(f"{n} polygons written to {path.name} in {time.perf_counter() - t0:.1f} s")
        database_for(home)  # start the cluster outside the timings
        t_int = integrate(home, path.parent)
        t_copy = plain_copy(home, path)
        print(f"integration (processing): {t_int:.1f} s ({n / t_int:,.0f} features/s)")
        print(f"plain COPY of the same rows: {t_copy:.1f} s ({n / t_copy:,.0f} rows/s)")
        print(f"ratio integration / plain COPY: {t_int / t_copy:.2f}")
    finally:
        shutdown(home)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
