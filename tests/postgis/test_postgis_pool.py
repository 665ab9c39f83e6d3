"""PostGIS reads for the services go through a bounded connection pool, under a statement timeout.

A view that waits on an advisory lock held by the test stands for a heavy query: it runs exactly
as long as the test wants, so the tests check what happens while it runs (no timing involved).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from owslib.wfs import WebFeatureService
from owslib.wms import WebMapService

from gpf_flow.postgis.cluster import EmbeddedCluster, PostgresUnavailable
from gpf_flow.postgis.database import POOL_SIZE, Database, database_for, schema_name
from gpf_flow.serve.vector_data import QueryTimeout
from gpf_flow.serve.vector_postgis import PostGISSource
from gpf_flow.serve.vector_query import Query

sys.path.insert(0, str(Path(__file__).parent.parent / "serve"))
from test_serve_ogc_support import deliver, free_port, process, publish, wait_for  # noqa: E402

from gpf_flow.store.local import LocalStore  # noqa: E402

LOCK_KEY = 4242
SCHEMA_SQL = """
CREATE TABLE pts (id serial PRIMARY KEY, name varchar(20), geom geometry(Point, 2154));
INSERT INTO pts (name, geom)
    SELECT 'p' || i, ST_SetSRID(ST_MakePoint(700000 + 10 * i, 6600000 + 10 * i), 2154)
    FROM generate_series(1, 5) AS i;
-- A heavy query on demand: it waits while someone holds the advisory lock exclusively.
CREATE VIEW slow_pts AS
    SELECT p.* FROM pts p CROSS JOIN (SELECT pg_advisory_xact_lock_shared(4242)) AS l;
"""


def _lock(db: Database) -> psycopg.Connection:
    """A connection holding the advisory lock exclusively (the slow view waits until it closes)."""
    holder = psycopg.connect(db.conninfo, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
    return holder


def _waiting_on_lock(db: Database) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND wait_event = 'advisory' AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def schema(pg_home: Path) -> Iterator[tuple[Database, str]]:
    db = database_for(pg_home)
    name = schema_name(str(uuid.uuid4()))
    db.create_schema(name)
    with db.connect(name) as conn:
        conn.execute(SCHEMA_SQL.encode())
    yield db, name
    db.pool().close()
    db.drop_schema(name)


def test_pooled_connections_are_reused_across_queries(schema: tuple[Database, str]) -> None:
    db, name = schema
    source = PostGISSource(db, name)
    tables = {t.name: t for t in source.tables()}
    assert set(tables) == {"pts", "slow_pts"}
    db.pool().wait()
    pids = set()
    for _ in range(6):
        assert source.count(tables["pts"], Query()) == 5
        assert len(source.query(tables["pts"], Query()).fids) == 5
        with db.pooled() as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            pids.add(row[0])
    stats = db.pool().get_stats()
    # 18 queries, served by the few connections the pool opened (one each would give 18 backends)
    assert stats["requests_num"] >= 18 and stats["pool_max"] == POOL_SIZE
    assert len(pids) <= stats["connections_num"] <= POOL_SIZE


def test_statement_timeout_cancels_a_heavy_query_and_the_pool_goes_on(schema: tuple[Database, str]) -> None:
    db, name = schema
    source = PostGISSource(db, name, timeout=0.5)
    tables = {t.name: t for t in source.tables()}
    holder = _lock(db)
    try:
        with pytest.raises(QueryTimeout, match="longer than 0.5 s"):
            source.query(tables["slow_pts"], Query())
    finally:
        holder.close()
    assert len(source.query(tables["slow_pts"], Query()).fids) == 5  # the lock is gone
    assert db.pool().get_stats()["pool_size"] <= POOL_SIZE


# -- through a real server ------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "2.0.0"])
def test_owslib_reads_a_postgis_stored_data_in_every_wfs_version(
    served: tuple[str, Path, dict[str, Any]], version: str
) -> None:
    base, _, vdb = served
    assert vdb["type_infos"]["database"] == "postgis"  # served from the database, not a GeoPackage
    service = WebFeatureService(f"{base}/wfs", version=version)
    assert {"pool:pts", "pool:slow_pts"} <= set(service.contents)
    body = service.getfeature(typename=["pool:pts"], outputFormat="application/json").read()
    names = [f["properties"]["name"] for f in json.loads(body)["features"]]
    assert names == [f"p{i}" for i in range(1, 6)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """A real ``gpf-flow serve`` on its own home, whose store publishes ``pts`` and ``slow_pts``
    (base URL, home, the VECTOR-DB stored data)."""
    tmp = tmp_path_factory.mktemp("pool-serve")
    home = tmp / "home"
    home.mkdir()
    try:
        EmbeddedCluster(home)
    except PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL/PostGIS is required in CI: {exc}")
        pytest.skip(f"PostgreSQL/PostGIS not installed: {exc}")
    saved = os.environ.pop("GPF_FLOW_POSTGRES", None)
    port = free_port()
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpf_flow", "serve", "--port", str(port), "--home", str(home)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            httpx.get(f"{base}/wfs", params={"SERVICE": "WFS", "REQUEST": "GetCapabilities"}, timeout=2)
        except httpx.TransportError:
            return False
        return True

    store = LocalStore(home, public_url=base)
    try:
        wait_for(answers, "gpf-flow serve")
        folder = tmp / "lot"
        folder.mkdir()
        (folder / "schema.sql").write_text(SCHEMA_SQL, encoding="utf-8")
        upload = deliver(store, folder, "POOL", "VECTOR")
        vdb = process(store, "Intégration de données vecteur livrées en base", upload, "pool_db", {})
        relations = [{"native_name": n, "public_name": n, "title": n} for n in ("pts", "slow_pts")]
        publish(store, "WFS", "pool", {"used_data": [{"stored_data": vdb["_id"], "relations": relations}]})
        wms = {"used_data": [{"stored_data": vdb["_id"], "relations": [{"name": "pts"}]}]}
        publish(store, "WMS-VECTOR", "pool_wms", wms)
        yield base, home, vdb
    finally:
        store.close()
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
        EmbeddedCluster(home).stop()
        if saved is not None:
            os.environ["GPF_FLOW_POSTGRES"] = saved


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_wms_vector_on_postgis_in_both_versions_answers_getfeatureinfo(
    served: tuple[str, Path, dict[str, Any]], version: str
) -> None:
    base, _, _ = served
    service = WebMapService(f"{base}/wms-v", version=version)
    assert "pool_wms" in service.contents
    params = {
        "SERVICE": "WMS", "VERSION": version, "REQUEST": "GetFeatureInfo", "LAYERS": "pool_wms",
        "QUERY_LAYERS": "pool_wms", "STYLES": "", "BBOX": "700000,6600000,700060,6600060",
        "WIDTH": "60", "HEIGHT": "60", "INFO_FORMAT": "application/json", "FEATURE_COUNT": "1",
        ("CRS" if version == "1.3.0" else "SRS"): "EPSG:2154",
        ("I" if version == "1.3.0" else "X"): "30", ("J" if version == "1.3.0" else "Y"): "30",
    }  # fmt: skip
    response = httpx.get(f"{base}/wms-v", params=params, timeout=60)
    assert response.status_code == 200, response.text
    features = response.json()["features"]
    assert [f["properties"]["name"] for f in features] == ["p3"]  # the point at (700030, 6600030)


def _get_feature(base: str, typename: str) -> httpx.Response:
    params = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": typename}
    return httpx.get(f"{base}/wfs", params={**params, "OUTPUTFORMAT": "application/json"}, timeout=120)


def test_a_heavy_query_does_not_hold_up_a_cheap_wfs_request(
    served: tuple[str, Path, dict[str, Any]],
) -> None:
    base, home, _ = served
    assert _get_feature(base, "pool:slow_pts").status_code == 200  # relations cached, lock free
    db = database_for(home)
    holder = _lock(db)
    heavy: dict[str, httpx.Response] = {}
    thread = threading.Thread(target=lambda: heavy.setdefault("r", _get_feature(base, "pool:slow_pts")))
    try:
        thread.start()
        wait_for(lambda: _waiting_on_lock(db) > 0, "the heavy query to be running")
        cheap = _get_feature(base, "pool:pts")  # answered while the heavy one still runs
        assert cheap.status_code == 200 and len(cheap.json()["features"]) == 5
        assert thread.is_alive() and "r" not in heavy and _waiting_on_lock(db) == 1
    finally:
        holder.close()
        thread.join(timeout=120)
    assert heavy["r"].status_code == 200 and len(heavy["r"].json()["features"]) == 5


def test_a_killed_database_server_is_restarted_and_the_pool_reconnects(
    served: tuple[str, Path, dict[str, Any]],
) -> None:
    base, home, _ = served
    first = _get_feature(base, "pool:pts")  # the server's pool now holds a connection
    assert first.status_code == 200 and len(first.json()["features"]) == 5
    cluster = EmbeddedCluster(home)
    pid = cluster.server_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: cluster.server_pid() != pid, "the killed database server to be gone")
    again = _get_feature(base, "pool:pts")
    assert again.status_code == 200, again.text
    assert [f["properties"]["name"] for f in again.json()["features"]] == [f"p{i}" for i in range(1, 6)]
    assert cluster.server_pid() not in (None, pid)  # restarted by the server on that request
