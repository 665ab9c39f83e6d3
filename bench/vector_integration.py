"""Vector integration against the copy floor, on GeoPackage and on PostGIS (prints ratios and peak RSS).

N square polygons (Lambert-93) with three attributes are written to a GeoPackage; then, each in a
fresh process (so that its peak RSS is its own):

GeoPackage (``--postgres off``):
1. the processing "Intégration de données vecteur livrées en base" into ``vector.gpkg``;
2. the single-pass baseline: one ``pyogrio.raw.read`` of the whole layer and one
   ``pyogrio.raw.write`` of it with the same output (laundered names, ``ogc_fid``,
   ``wkb_geometry``, promoted to multi), its spatial index built once at the end by GDAL;
3. the Arrow copy floor: ``pyogrio.raw.open_arrow`` streamed straight into ``write_arrow`` (GDAL
   alone, index built once at the end), without the renaming and the promotion to multi.

PostGIS (the home's embedded cluster, skipped without PostgreSQL):
5. the processing (pyogrio batches, ``COPY`` to a staging table, ``INSERT … SELECT`` with
   ``ST_Multi``, GIST index, ``ANALYZE``, counts and extents);
6. the same rows (attributes and EWKB) sent with one plain ``COPY`` into a bare table.

Run: ``.venv/bin/python bench/vector_integration.py [N] [--only gpkg|postgis]`` (default 1,000,000).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import shapely
from pyogrio.raw import open_arrow, read, write, write_arrow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "processings"))
from processings_vectors import write_parcels_gpkg  # noqa: E402

from gpf_flow.postgis.cluster import EmbeddedCluster, PostgresUnavailable
from gpf_flow.postgis.database import database_for, schema_name, shutdown
from gpf_flow.processings import vector_db
from gpf_flow.processings.base import InputData, ProcessingContext


def integrate(home: Path, upload: Path, out: Path) -> None:
    """The processing, into ``out`` (a GeoPackage there when PostgreSQL is off)."""
    ctx = ProcessingContext(
        parameters={},
        uploads=[InputData({"type": "VECTOR", "srs": "EPSG:2154"}, upload)],
        stored_data=[],
        output_dir=out,
        log=lambda line: None,
        is_aborted=lambda: False,
        output_entity={"_id": str(uuid.uuid4()), "name": "bench"},
        home=home,
    )
    out.mkdir()
    result = vector_db.run(ctx)
    (rel,) = result.type_infos["relations"]
    assert rel["count"] > 0


def single_pass(path: Path, out: Path) -> None:
    """The floor: the whole layer read once and written once, index built at the end by GDAL."""
    _, _, wkb, fields = read(path, layer="parcels")
    write(
        out / "floor.gpkg",
        wkb,
        fields,
        ["code", "surface", "label"],
        driver="GPKG",
        layer="parcels",
        crs="EPSG:2154",
        geometry_type="MultiPolygon",
        promote_to_multi=True,
        layer_options={"FID": "ogc_fid", "GEOMETRY_NAME": "wkb_geometry", "SPATIAL_INDEX": "YES"},
    )


def arrow_copy(path: Path, out: Path) -> None:
    """The floor of a GeoPackage copy: GDAL streams Arrow batches from the file to the new one."""
    with open_arrow(path, layer="parcels", use_pyarrow=False) as (meta, stream):
        write_arrow(
            stream,
            out / "arrow.gpkg",
            layer="parcels",
            driver="GPKG",
            geometry_name=meta["geometry_name"] or "wkb_geometry",
            geometry_type="Polygon",
            crs="EPSG:2154",
            layer_options={"FID": "ogc_fid", "SPATIAL_INDEX": "YES"},
        )


def plain_copy(home: Path, path: Path) -> None:
    """Read the same file and ``COPY`` its rows (attributes, EWKB) into a bare table."""
    db = database_for(home)
    schema = schema_name(str(uuid.uuid4()))
    db.create_schema(schema)
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


def peak_rss_mb() -> float:
    """This process's peak resident memory (``VmHWM``: unlike ``ru_maxrss``, not inherited from the
    parent across ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(case: str, home: Path, path: Path, out: Path) -> None:
    """Run one case in this process; print its wall seconds and peak RSS as JSON."""
    if case == "gpkg":
        os.environ["GPF_FLOW_POSTGRES"] = "off"
    t0 = time.perf_counter()
    if case in ("gpkg", "postgis"):
        integrate(home, path.parent, out)
    elif case == "floor":
        out.mkdir()
        single_pass(path, out)
    elif case == "arrow":
        out.mkdir()
        arrow_copy(path, out)
    else:
        plain_copy(home, path)
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_mb": peak}))


def run_case(case: str, home: Path, path: Path, work: Path) -> dict[str, float]:
    out = work / f"out-{case}-{uuid.uuid4().hex[:6]}"
    done = subprocess.run(
        [sys.executable, __file__, "--child", case, str(home), str(path), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    shutil.rmtree(out, ignore_errors=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "--child":
        child(args[1], Path(args[2]), Path(args[3]), Path(args[4]))
        return
    only = args[args.index("--only") + 1] if "--only" in args else None
    numbers = [a for a in args if a.isdigit()]
    n = int(numbers[0]) if numbers else 1_000_000
    work = Path(tempfile.mkdtemp(prefix="gpf-bench-vector-"))
    home = work / "home"
    home.mkdir()
    print(f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    try:
        t0 = time.perf_counter()
        path = write_parcels_gpkg(work / "upload", n)
        print(f"{n} polygons written to {path.name} in {time.perf_counter() - t0:.1f} s")
        if only in (None, "gpkg"):
            got = run_case("gpkg", home, path, work)
            floor = run_case("floor", home, path, work)
            print(
                f"GeoPackage integration: {got['seconds']:.1f} s, peak RSS {got['peak_mb']:.0f} MB; "
                f"single-pass read + write: {floor['seconds']:.1f} s, peak RSS {floor['peak_mb']:.0f} MB"
            )
            arrow = run_case("arrow", home, path, work)
            print(f"Arrow copy (no renaming, no promotion): {arrow['seconds']:.1f} s")
            print(f"ratio GeoPackage integration / single pass: {got['seconds'] / floor['seconds']:.2f}")
            print(f"ratio GeoPackage integration / Arrow copy: {got['seconds'] / arrow['seconds']:.2f}")
        if only in (None, "postgis"):
            try:
                EmbeddedCluster(home)
            except PostgresUnavailable as exc:
                print(f"PostGIS skipped: {exc}")
                return
            database_for(home)  # start the cluster outside the timings
            got = run_case("postgis", home, path, work)
            copy = run_case("copy", home, path, work)
            print(
                f"PostGIS integration: {got['seconds']:.1f} s, peak RSS {got['peak_mb']:.0f} MB; "
                f"plain COPY of the same rows: {copy['seconds']:.1f} s"
            )
            print(f"ratio PostGIS integration / plain COPY: {got['seconds'] / copy['seconds']:.2f}")
        print(f"load average at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    finally:
        shutdown(home)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
