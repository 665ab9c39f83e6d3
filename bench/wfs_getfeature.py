"""WFS GetFeature of 10,000 features as GeoJSON against the same query in ``psql`` (prints the ratio).

N square polygons (Lambert-93) with three attributes are delivered to a LocalStore, integrated
into the home's embedded PostGIS by the processing "Intégration de données vecteur livrées en
base", published as a WFS; then the real ``gpf-flow serve`` runs on a free 127.0.0.1 port and
each run, interleaved so that load from elsewhere hits both alike, times

1. ``GetFeature`` of every feature (``COUNT=N``, ``OUTPUTFORMAT=application/json``) over HTTP
   with httpx, body read whole;
2. the baseline: the machine's ``psql`` on the cluster's Unix socket building the same
   FeatureCollection with PostGIS (``json_build_object`` + ``ST_AsGeoJSON(ST_Transform(geom,
   4326))``) over the same table, written to ``/dev/null``.

Wall times are medians of the runs; CPU is that of the serving side (the ``gpf-flow serve``
process, or the ``psql`` process) plus the database's (the postmaster and its backends).

Run: ``.venv/bin/python bench/wfs_getfeature.py [--features 10000] [--runs 7]``.  Exits non-zero
when PostgreSQL/PostGIS or ``psql`` is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import shapely
from pyogrio.raw import write

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "serve"))
from test_serve_ogc_support import VECTOR_PROCESSING, deliver, free_port, process, publish  # noqa: E402

from gpf_flow.postgis.cluster import SUPERUSER, EmbeddedCluster, PostgresUnavailable  # noqa: E402
from gpf_flow.postgis.database import database_for, shutdown, stored_data_schema  # noqa: E402
from gpf_flow.store.local import LocalStore  # noqa: E402

LAYER = "bench_parcels"
TABLE = "parcels"
TICKS = os.sysconf("SC_CLK_TCK")


# -- setup ---------------------------------------------------------------------------------------
def write_parcels(folder: Path, n: int) -> None:
    """``folder/parcels.gpkg``: n 10 m squares with fields CODE, SURFACE, LABEL."""
    folder.mkdir(parents=True)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x = 700_000 + (i % side) * 20.0
    y = 6_600_000 + (i // side) * 20.0
    write(
        folder / "parcels.gpkg",
        shapely.to_wkb(shapely.box(x, y, x + 10, y + 10)),
        [i.astype(np.int64), np.full(n, 100.0), np.array([f"parcel {k}" for k in i], dtype=object)],
        ["CODE", "SURFACE", "LABEL"],
        driver="GPKG",
        layer=TABLE,
        geometry_type="Polygon",
        crs="EPSG:2154",
    )


def build(home: Path, tmp: Path, n: int) -> str:
    """Deliver, integrate and publish the parcels; the stored data's schema in PostGIS."""
    write_parcels(tmp / "vector", n)
    with LocalStore(home) as store:
        upload = deliver(store, tmp / "vector", "BENCH_PARCELS", "VECTOR")
        started = time.perf_counter()
        stored = process(store, VECTOR_PROCESSING, upload, "bench_parcels_db", {})
        print(f"{n} polygons integrated into PostGIS in {time.perf_counter() - started:.1f} s")
        relation = {"native_name": TABLE, "public_name": TABLE}
        publish(store, "WFS", LAYER, {"used_data": [{"stored_data": stored["_id"], "relations": [relation]}]})
    schema = stored_data_schema(stored)
    if schema is None:
        raise SystemExit(f"the stored data was not integrated into PostGIS: {stored.get('type_infos')}")
    return schema


def start_server(home: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "gpf_flow", "serve", "--port", str(port), "--home", str(home)]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetCapabilities", timeout=5)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"gpf-flow serve did not start:\n{log.read_text()}")


# -- CPU accounting ------------------------------------------------------------------------------
def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu(pid: int) -> float:
    """User + system seconds of one live process (its threads included)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS


def cluster_cpu(postmaster: int) -> float:
    """CPU seconds of the database: the postmaster, its ended backends (reaped) and its live ones."""
    fields = _stat(postmaster)
    total = sum(int(f) for f in fields[11:15]) / TICKS  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = _stat(int(entry.name))
            if int(child[1]) == postmaster:
                total += (int(child[11]) + int(child[12])) / TICKS
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return total


# -- the two ways ----------------------------------------------------------------------------------
def baseline_sql(schema: str) -> str:
    """The FeatureCollection built by PostGIS, feature order as the WFS pages them."""
    return (
        "SELECT json_build_object('type', 'FeatureCollection', 'features', json_agg(json_build_object("
        "'type', 'Feature', 'id', ogc_fid, "
        "'geometry', ST_AsGeoJSON(ST_Transform(wkb_geometry, 4326))::json, "
        "'properties', json_build_object('code', code, 'surface', surface, 'label', label)"
        f') ORDER BY ogc_fid)) FROM "{schema}".{TABLE}'
    )


def run_psql(psql: Path, cluster: EmbeddedCluster, sql: str) -> tuple[float, float]:
    """(wall, CPU of psql) of one query, its output to /dev/null."""
    before = os.times()
    started = time.perf_counter()
    subprocess.run(
        [str(psql), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(cluster.socket_dir),
         "-p", "5432", "-U", SUPERUSER, "-d", "postgres", "-c", sql],
        stdout=subprocess.DEVNULL,
        check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    after = os.times()
    return wall, (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=10_000, help="at most 10,000 (the WFS's COUNT cap)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    n = args.features
    try:
        probe = EmbeddedCluster(Path(tempfile.gettempdir()))
    except PostgresUnavailable as exc:
        sys.exit(f"cannot run: {exc.message}; {exc.hint}")
    psql = probe.bindir / "psql"
    if not psql.is_file():
        found = shutil.which("psql")
        if found is None:
            sys.exit("cannot run: psql (the PostgreSQL client) is missing; install postgresql-client")
        psql = Path(found)
    with tempfile.TemporaryDirectory(prefix="gpf-bench-wfs-") as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        proc = None
        try:
            schema = build(home, tmp, n)
            cluster = EmbeddedCluster(home)
            database_for(home)  # running, started by the integration
            postmaster = cluster.server_pid()
            assert postmaster is not None
            proc, base = start_server(home, tmp / "server.log")
            params = {
                "SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
                "TYPENAMES": f"{LAYER}:{TABLE}", "COUNT": str(n), "OUTPUTFORMAT": "application/json",
            }  # fmt: skip
            sql = baseline_sql(schema)
            wfs_wall, wfs_cpu, wfs_db, pg_wall, pg_cpu, pg_db = [], [], [], [], [], []
            with httpx.Client(timeout=300) as http:
                # warm-up of both outside the series (imports, pool, caches)
                first = http.get(f"{base}/wfs", params=params)
                first.raise_for_status()
                got = len(first.json()["features"])
                if got != n:
                    raise SystemExit(f"the WFS answered {got} features instead of {n}")
                run_psql(psql, cluster, sql)
                load = os.getloadavg()
                for _ in range(args.runs):
                    cpu0, db0 = process_cpu(proc.pid), cluster_cpu(postmaster)
                    started = time.perf_counter()
                    r = http.get(f"{base}/wfs", params=params)
                    wfs_wall.append(time.perf_counter() - started)
                    r.raise_for_status()
                    wfs_cpu.append(process_cpu(proc.pid) - cpu0)
                    wfs_db.append(cluster_cpu(postmaster) - db0)
                    db0 = cluster_cpu(postmaster)
                    wall, cpu = run_psql(psql, cluster, sql)
                    pg_db.append(cluster_cpu(postmaster) - db0)
                    pg_wall.append(wall)
                    pg_cpu.append(cpu)
                size = len(r.content)
            load_after = os.getloadavg()
            med = statistics.median
            print(f"load average (1, 5, 15 min): before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
                  f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")  # fmt: skip
            print(f"medians of {args.runs} runs, {n} features, WFS answer {size / 1e6:.1f} MB")
            print(
                f"WFS GetFeature (HTTP, GeoJSON): wall {med(wfs_wall):.3f} s, "
                f"CPU server {med(wfs_cpu):.3f} s + database {med(wfs_db):.3f} s"
            )
            print(
                f"psql + PostGIS json_build_object: wall {med(pg_wall):.3f} s, CPU psql {med(pg_cpu):.3f} s "
                f"+ database {med(pg_db):.3f} s"
            )
            wfs_total = med([a + b for a, b in zip(wfs_cpu, wfs_db, strict=True)])
            pg_total = med([a + b for a, b in zip(pg_cpu, pg_db, strict=True)])
            print(
                f"ratio WFS / psql: wall {med(wfs_wall) / med(pg_wall):.2f}, CPU {wfs_total / pg_total:.2f}"
            )
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
            shutdown(home)


if __name__ == "__main__":
    main()
