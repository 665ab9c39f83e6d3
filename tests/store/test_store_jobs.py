"""Local store job claiming: atomic claim, adoption of orphans, events, check-execution deletes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from store_test_helpers import make_upload, wait_status
from store_test_procs import C_SLOW, P_OK

from gpf_flow.store.local import LocalStore
from gpf_flow.store.local.dispatcher import Dispatcher
from gpf_flow.store.local.liveness import HOST, pid_alive


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not pid_alive(proc.pid)
    return proc.pid


def _execution(store: LocalStore, tmp_path: Path) -> dict:
    up = make_upload(store, tmp_path)
    return store.create_processing_execution(
        {"processing": P_OK.id, "inputs": {"upload": [up["_id"]]}, "output": {"stored_data": {"name": "O"}}}
    )


def test_claim_is_atomic(store: LocalStore, tmp_path: Path) -> None:
    ex = _execution(store, tmp_path)
    conn = sqlite3.connect(store.home / "store.sqlite")
    conn.execute("UPDATE entities SET status = 'WAITING' WHERE id = ?", (ex["_id"],))
    conn.commit()
    conn.close()
    first, second = Dispatcher(store.home, 1), Dispatcher(store.home, 1)
    try:
        results = [first._claim_one(ex["_id"]), second._claim_one(ex["_id"])]
        assert sorted(results) == [False, True]
        assert store.get_entity("stored_data", ex["output"]["stored_data"]["_id"])["status"] == "GENERATING"
    finally:
        first.db.close()
        second.db.close()


def test_orphan_waiting_job_is_adopted_by_a_follower(store: LocalStore, tmp_path: Path) -> None:
    ex = _execution(store, tmp_path)
    conn = sqlite3.connect(store.home / "store.sqlite")
    conn.execute(
        "UPDATE entities SET status = 'WAITING', launcher_pid = ?, launcher_host = ? WHERE id = ?",
        (_dead_pid(), HOST, ex["_id"]),
    )
    conn.commit()
    conn.close()
    # following the execution is enough for this process to run it
    assert (
        wait_status(store, "processing_execution", ex["_id"], {"SUCCESS", "FAILURE"})["status"] == "SUCCESS"
    )


def test_events_history(store: LocalStore, tmp_path: Path) -> None:
    ex = _execution(store, tmp_path)
    store.launch_processing_execution(ex["_id"])
    wait_status(store, "processing_execution", ex["_id"], {"SUCCESS"})
    titles = [e["title"] for e in store.events(ex["_id"])]
    assert titles[0] == "Création" and titles[-1] == "Succès" and "Démarrage" in titles
    assert store.get_entity("processing_execution", ex["_id"])["last_event"]["title"] == "Succès"


def test_deleting_running_checks_then_reopen(store: LocalStore, tmp_path: Path) -> None:
    up = make_upload(store, tmp_path, utype="RASTER", files={"r.tif": b"x"})
    store.upload_close(up["_id"])
    checks = store.upload_checks(up["_id"])
    slow = next(c for c in checks.asked + checks.in_progress if c["check"]["_id"] == C_SLOW.id)
    store.delete_entity("check_execution", slow["_id"])  # what the SDK does on Ctrl-C
    status = wait_status(store, "upload", up["_id"], {"CLOSED", "UNSTABLE"})["status"]
    assert status in ("CLOSED", "UNSTABLE")
    store.upload_open(up["_id"])
    assert store.get_entity("upload", up["_id"])["status"] == "OPEN"


def test_delete_upload_while_checking(store: LocalStore, tmp_path: Path) -> None:
    up = make_upload(store, tmp_path, utype="RASTER", files={"r.tif": b"x"})
    store.upload_close(up["_id"])
    store.delete_entity("upload", up["_id"])
    assert store.list_entities("check_execution").total == 0
    assert not (store.home / "uploads" / up["_id"]).exists()
    assert store.wait_idle(30)
