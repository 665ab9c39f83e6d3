"""The embedded cluster: created on first use, Unix socket only, stopped cleanly, recovered after a kill."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psycopg
import pytest

from gpf_flow.postgis.cluster import EmbeddedCluster
from gpf_flow.postgis.database import database_for, postgres_status, shutdown
from gpf_flow.postgis.settings import mask_dsn, resolve_postgres


def test_cluster_starts_on_first_use_with_postgis_on_a_socket_in_the_home(fresh_home: Path) -> None:
    cluster = EmbeddedCluster(fresh_home)
    assert cluster.server_pid() is None and not cluster.data.exists()
    db = database_for(fresh_home)
    pid = cluster.server_pid()
    assert pid is not None and (cluster.data / "PG_VERSION").is_file()
    with db.connect() as conn:
        version = conn.execute("SELECT postgis_lib_version()").fetchone()
        listen = conn.execute("SHOW listen_addresses").fetchone()
        sockets = conn.execute("SHOW unix_socket_directories").fetchone()
    assert version and version[0]
    assert listen == ("",)  # no TCP at all
    assert sockets is not None and Path(sockets[0]).resolve() == cluster.run_dir.resolve()
    if os.geteuid() == 0:
        assert cluster.data.stat().st_uid != 0  # the server runs unprivileged
    assert cluster.stop() and cluster.server_pid() is None
    assert not (cluster.data / "postmaster.pid").exists()  # a clean shutdown


@pytest.mark.slow
def test_killed_server_is_restarted_without_losing_committed_data(fresh_home: Path) -> None:
    db = database_for(fresh_home)
    db.create_schema("sd_kill")
    with db.connect("sd_kill") as conn:
        conn.execute("CREATE TABLE t (v integer)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 1000)")
    cluster = EmbeddedCluster(fresh_home)
    pid = cluster.server_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while cluster.server_pid() == pid and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cluster.server_pid() is None
    assert (cluster.data / "postmaster.pid").exists()  # stale lock file left by the kill
    rows = db.query("sd_kill", "SELECT count(*) AS n, sum(v) AS s FROM t")
    assert rows == [{"n": 1000, "s": 500500}]
    new_pid = cluster.server_pid()
    assert new_pid is not None and new_pid != pid


@pytest.mark.slow
def test_stale_pid_file_naming_a_live_process_does_not_block_the_start(fresh_home: Path) -> None:
    cluster = EmbeddedCluster(fresh_home)
    cluster.ensure_running()
    assert cluster.stop()
    # After a crash and a reboot the pid in postmaster.pid may belong to another process.
    pid_file = cluster.data / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{cluster.data}\n")
    assert cluster.server_pid() is None
    db = database_for(fresh_home)
    assert db.query("", "SELECT 1 AS one") == [{"one": 1}]


def test_store_close_stops_the_cluster(fresh_home: Path) -> None:
    database_for(fresh_home)
    cluster = EmbeddedCluster(fresh_home)
    assert cluster.server_pid() is not None
    shutdown(fresh_home)
    assert cluster.server_pid() is None


def test_dsn_choice_and_masking(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GPF_FLOW_POSTGRES", "postgresql://gpf:s3cret@db.example:5433/geo")
    choice = resolve_postgres()
    assert choice.kind == "dsn" and choice.source == "GPF_FLOW_POSTGRES"
    assert "s3cret" not in choice.masked() and "***" in choice.masked() and "db.example" in choice.masked()
    masked = psycopg.conninfo.conninfo_to_dict(mask_dsn("host=h password='a b' dbname=x"))
    assert masked == {"host": "h", "password": "***", "dbname": "x"}
    what, source = postgres_status(tmp_path)
    assert "s3cret" not in what and source == "GPF_FLOW_POSTGRES"
    monkeypatch.setenv("GPF_FLOW_POSTGRES", "off")
    assert resolve_postgres().kind == "off"
    monkeypatch.delenv("GPF_FLOW_POSTGRES")
    config = tmp_path / "config.toml"
    config.write_text('postgres = "host=/run/pg dbname=gpf password=pw"\n')
    choice = resolve_postgres(config)
    assert choice.kind == "dsn" and str(config) in choice.source and "pw" not in choice.masked()


def test_existing_server_given_by_dsn_is_used(
    pg_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dsn = EmbeddedCluster(pg_home).conninfo
    monkeypatch.setenv("GPF_FLOW_POSTGRES", dsn)
    db = database_for(tmp_path)  # another home: no cluster created there
    assert db.cluster is None and not (tmp_path / "postgres").exists()
    assert db.query("", "SELECT current_user AS u") == [{"u": "gpf_flow"}]
    with pytest.raises(psycopg.Error):
        db.query("", "SELECT * FROM no_such_table")


def test_config_command_shows_the_database_with_the_password_masked(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "GPF_FLOW_POSTGRES": "postgresql://gpf:s3cret@db.example/geo"}
    out = subprocess.run(
        [sys.executable, "-m", "gpf_flow", "config", "--home", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("postgres "))
    assert "db.example" in line and "***" in line and "s3cret" not in out and "(GPF_FLOW_POSTGRES)" in line
    env.pop("GPF_FLOW_POSTGRES")
    out = subprocess.run(
        [sys.executable, "-m", "gpf_flow", "config", "--home", str(tmp_path), "--postgres", "off"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert any(x.startswith("postgres ") and "off" in x and "(--postgres)" in x for x in out.splitlines())
