"""Local store with real processes: two writers on one home, kill -9 during an execution or checks."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from store_test_helpers import wait_for, wait_status
from store_test_procs import TEST_CHECKS, TEST_PROCESSINGS

from gpf_flow.processings.base import PROCESSINGS
from gpf_flow.store.base import iter_entities
from gpf_flow.store.local import LocalStore

ACTOR = str(Path(__file__).parent / "store_test_actor.py")


def _actor(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, ACTOR, *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _open(home: Path) -> LocalStore:
    return LocalStore(home, extra_processings=TEST_PROCESSINGS, checks=TEST_CHECKS, workers=2)


def test_two_processes_create_the_same_home(home: Path) -> None:
    procs = [_actor("open", str(home)) for _ in range(3)]
    outputs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len({o["datastore"] for o in outputs}) == 1
    store = _open(home)
    try:
        assert store.datastore_id == outputs[0]["datastore"]
        total = store.list_entities("processing").total
        assert total == len(TEST_PROCESSINGS) + len(PROCESSINGS)
        assert {o["processings"] for o in outputs} == {total}
    finally:
        store.close()


def test_two_processes_write_concurrently(home: Path) -> None:
    store = _open(home)
    shared = store.create_entity("upload", {"name": "SHARED", "type": "VECTOR", "srs": "EPSG:2154"})
    count = 25
    procs = [_actor("write", str(home), name, str(count), shared["_id"]) for name in ("A", "B")]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    try:
        for name in ("A", "B"):
            found = list(iter_entities(store, "upload", {"name": f"{name}-%"}, {"writer": name}))
            assert sorted(u["name"] for u in found) == sorted(f"{name}-{i}" for i in range(count))
            for up in found:
                assert up["tags"]["writer"] == name
                assert [c["text"] for c in store.list_comments("upload", up["_id"])] == [
                    up["name"].replace("-", " ")
                ]
        tags = store.get_entity("upload", shared["_id"])["tags"]
        assert len(tags) == 2 * count  # no lost read-modify-write
        conn = sqlite3.connect(home / "store.sqlite")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    finally:
        store.close()


def test_kill_owner_during_execution_marks_failure(home: Path, tmp_path: Path) -> None:
    _open(home).close()
    proc = _actor("run", str(home), "120", str(tmp_path))
    assert proc.stdout is not None
    ids = json.loads(proc.stdout.readline())
    wait_for(lambda: (tmp_path / "worker.pid").exists(), what="worker start")
    worker_pid = int((tmp_path / "worker.pid").read_text())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the worker notices its owner is gone and exits
    wait_for(lambda: not Path(f"/proc/{worker_pid}").exists() or _zombie(worker_pid), what="worker exit")
    store = _open(home)
    try:
        ex = store.get_entity("processing_execution", ids["execution"])
        assert ex["status"] == "FAILURE"
        assert "interrupted: worker process" in store.processing_execution_logs(ids["execution"])[-1]
        assert store.get_entity("stored_data", ids["stored_data"])["status"] == "UNSTABLE"
        # the interrupted execution can be deleted, or relaunched
        store.launch_processing_execution(ids["execution"])
        store.abort_processing_execution(ids["execution"])
        wait_status(store, "processing_execution", ids["execution"], {"ABORTED"})
        store.delete_entity("processing_execution", ids["execution"])
        store.delete_entity("stored_data", ids["stored_data"])
    finally:
        store.close()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_kill_worker_process_marks_failure(store: LocalStore, tmp_path: Path) -> None:
    from store_test_procs import P_SLOW

    up = store.create_entity("upload", {"name": "W", "type": "VECTOR", "srs": "EPSG:2154"})
    ex = store.create_processing_execution(
        {
            "processing": P_SLOW.id,
            "inputs": {"upload": [up["_id"]]},
            "output": {"stored_data": {"name": "W"}},
            "parameters": {"seconds": 120, "started_file": str(tmp_path / "w.pid")},
        }
    )
    store.launch_processing_execution(ex["_id"])
    wait_for(lambda: (tmp_path / "w.pid").exists() and (tmp_path / "w.pid").read_text(), what="worker start")
    os.kill(int((tmp_path / "w.pid").read_text()), signal.SIGKILL)
    done = wait_status(store, "processing_execution", ex["_id"], {"SUCCESS", "FAILURE", "ABORTED"})
    assert done["status"] == "FAILURE"
    assert "interrupted: worker process" in store.processing_execution_logs(ex["_id"])[-1]
    assert store.get_entity("stored_data", ex["output"]["stored_data"]["_id"])["status"] == "UNSTABLE"


def test_kill_owner_during_checks_marks_upload_unstable(home: Path, tmp_path: Path) -> None:
    _open(home).close()
    proc = _actor("check", str(home), str(tmp_path), env={"GPF_TEST_CHECK_SECONDS": "120"})
    assert proc.stdout is not None
    upload_id = json.loads(proc.stdout.readline())["upload"]
    store = _open(home)
    try:
        slow_id = next(c.id for c in TEST_CHECKS if c.name == "Test slow check")
        wait_for(
            lambda: any(c["check"]["_id"] == slow_id for c in store.upload_checks(upload_id).in_progress),
            what="slow check running",
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        up = wait_status(store, "upload", upload_id, {"CLOSED", "UNSTABLE"})
        assert up["status"] == "UNSTABLE"
        checks = store.upload_checks(upload_id)
        assert checks.finished and checks.failed
        logs = [line for c in checks.failed for line in store.check_execution_logs(c["_id"])]
        assert any("interrupted: worker process" in line for line in logs)
        store.upload_open(upload_id)
        store.delete_entity("upload", upload_id)
    finally:
        store.close()


def test_kill_during_push_leaves_upload_open_and_resumable(home: Path, tmp_path: Path) -> None:
    _open(home).close()
    proc = _actor("push", str(home), str(tmp_path))
    assert proc.stdout is not None
    upload_id = json.loads(proc.stdout.readline())["upload"]
    assert proc.stdout.readline().strip() == "progress"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = _open(home)
    try:
        up = store.get_entity("upload", upload_id)
        assert up["status"] == "OPEN" and up["size"] == 100
        tree = store.upload_tree(upload_id)
        assert [(n["name"], [c["name"] for c in n["children"]]) for n in tree] == [("D", ["small.shp"])]
        store.upload_push_file(upload_id, tmp_path / "big.shp", "D/big.shp")  # resume
        store.upload_close(upload_id)
        assert wait_status(store, "upload", upload_id, {"CLOSED", "UNSTABLE"})["status"] == "CLOSED"
        leftovers = [p.name for p in store.upload_dir(upload_id).rglob("*") if p.name.startswith(".gpf-")]
        assert leftovers == []
    finally:
        store.close()


def test_terminal_ctrl_c_does_not_reach_workers(store: LocalStore, tmp_path: Path) -> None:
    from store_test_procs import P_SLOW

    up = store.create_entity("upload", {"name": "S", "type": "VECTOR", "srs": "EPSG:2154"})
    ex = store.create_processing_execution(
        {
            "processing": P_SLOW.id,
            "inputs": {"upload": [up["_id"]]},
            "output": {"stored_data": {"name": "S"}},
            "parameters": {"seconds": 120, "started_file": str(tmp_path / "s.pid")},
        }
    )
    store.launch_processing_execution(ex["_id"])
    wait_for(lambda: (tmp_path / "s.pid").exists() and (tmp_path / "s.pid").read_text(), what="worker start")
    worker = int((tmp_path / "s.pid").read_text())
    assert os.getpgid(worker) != os.getpgid(0)  # not in the terminal's foreground group
    os.kill(worker, signal.SIGINT)
    seen = len(store.processing_execution_logs(ex["_id"]))
    wait_for(lambda: len(store.processing_execution_logs(ex["_id"])) > seen + 3, what="ticks after SIGINT")
    assert store.get_entity("processing_execution", ex["_id"])["status"] == "PROGRESS"
    store.abort_processing_execution(ex["_id"])
    assert (
        wait_status(store, "processing_execution", ex["_id"], {"ABORTED", "FAILURE"})["status"] == "ABORTED"
    )


def test_kill_owner_with_checks_not_started_ends_unstable_at_once(home: Path, tmp_path: Path) -> None:
    from store_test_procs import C_OK, C_SLOW

    _open(home).close()
    proc = _actor("check", str(home), str(tmp_path), "serial", env={"GPF_TEST_CHECK_SECONDS": "120"})
    assert proc.stdout is not None
    upload_id = json.loads(proc.stdout.readline())["upload"]
    store = LocalStore(home, checks=(C_SLOW, C_OK), workers=1)
    try:
        wait_for(lambda: store.upload_checks(upload_id).in_progress, what="slow check running")
        assert [c["check"]["_id"] for c in store.upload_checks(upload_id).asked] == [C_OK.id]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert wait_status(store, "upload", upload_id, {"CLOSED", "UNSTABLE"})["status"] == "UNSTABLE"
        failed = {c["check"]["_id"]: c["_id"] for c in store.upload_checks(upload_id).failed}
        assert set(failed) == {C_SLOW.id, C_OK.id}
        assert "not run" in store.check_execution_logs(failed[C_OK.id])[-1]
    finally:
        store.close()
