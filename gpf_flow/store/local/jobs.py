"""The dispatcher: claims WAITING executions and runs each in its own worker process.

One dispatcher per (process, home), shared by every :class:`LocalStore` of that home in the
process, started by the first launch (or close of an upload, or ``start_workers``). It claims a
job with an atomic ``UPDATE ... WHERE status = 'WAITING'``, so two processes never run the same
job, and only takes jobs launched by its own process or whose launching process is gone.
It records itself as the owner (pid + heartbeat); jobs whose owner died are ended by whoever
notices (:func:`recover_stale`) with the log line ``interrupted: worker process N is gone``.
"""

from __future__ import annotations

import atexit
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpf_flow.store.local import layout
from gpf_flow.store.local.db import Database, now_iso
from gpf_flow.store.local.records import end_job, get_row, remove_tree, row_entity, set_status, update_body

JOB_TYPES = ("processing_execution", "check_execution")
HEARTBEAT_S = 1.0
STALE_AFTER_S = 60.0
ABORT_GRACE_S = 10.0
TICK_S = 0.2

HOST = socket.gethostname()


def pid_alive(pid: int | None) -> bool:
    """True if a process with this pid exists on this machine and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def owner_gone(row: sqlite3.Row, running_here: set[str] | None = None) -> bool:
    """True if the process owning a PROGRESS job is gone (or silent for too long)."""
    owner = row["owner_pid"]
    mine = owner == os.getpid() and running_here is not None
    if mine and row["id"] in (running_here or set()):
        return False
    if row["host"] == HOST and owner is not None and not pid_alive(owner):
        return True
    if mine:  # owned by this process but no worker of ours runs it
        return True
    beat = row["heartbeat"]
    return beat is not None and time.time() - beat > STALE_AFTER_S


def interrupt(db: Database, row: sqlite3.Row) -> bool:
    """End a job whose owner is gone: FAILURE (ABORTED if an abort was asked) with a log line."""
    job_id = row["id"]
    pid = row["worker_pid"] or row["owner_pid"]
    line = f"ERROR interrupted: worker process {pid} is gone (owner process {row['owner_pid']})"
    with db.tx() as conn:
        current = get_row(conn, job_id)
        if current is None or current["status"] != "PROGRESS" or current["owner_pid"] != row["owner_pid"]:
            return False
        status = "ABORTED" if current["abort"] else "FAILURE"
        ended = end_job(conn, job_id, status, [line])
        if current["type"] == "check_execution" and current["parent"]:
            _skip_orphan_checks(conn, current["parent"])
    remove_tree(layout.work_dir(db.path.parent, f"tmp-{job_id}"))
    _output_file(db.path.parent, job_id).unlink(missing_ok=True)
    return ended


def _skip_orphan_checks(conn: sqlite3.Connection, upload_id: str) -> None:
    """The upload lost a check to a dead process: its checks nobody will start end FAILURE too,
    so the upload ends UNSTABLE now rather than waiting for someone to adopt them."""
    for r in conn.execute(
        "SELECT id, launcher_pid, launcher_host FROM entities "
        "WHERE type = 'check_execution' AND parent = ? AND status = 'WAITING'",
        (upload_id,),
    ).fetchall():
        if r["launcher_host"] == HOST and not pid_alive(r["launcher_pid"]):
            lines = [f"ERROR not run: the process {r['launcher_pid']} that closed the upload is gone"]
            end_job(conn, r["id"], "FAILURE", lines, only_if=("WAITING",))


def recover_stale(db: Database, job_id: str | None = None, running_here: set[str] | None = None) -> int:
    """End every PROGRESS job (or just ``job_id``) whose owner process is gone; returns how many."""
    sql = "SELECT * FROM entities WHERE status = 'PROGRESS' AND type IN (?, ?)"
    params: list[object] = list(JOB_TYPES)
    if job_id is not None:
        sql += " AND id = ?"
        params.append(job_id)
    count = 0
    for row in db.query(sql, params):
        if owner_gone(row, running_here) and interrupt(db, row):
            count += 1
    return count


def has_orphans(db: Database, job_id: str | None = None, parent: str | None = None) -> bool:
    """True if a WAITING job (this one, or of this upload) was launched by a process that is gone."""
    sql = "SELECT launcher_pid, launcher_host FROM entities WHERE status = 'WAITING' AND type IN (?, ?)"
    params: list[object] = list(JOB_TYPES)
    if job_id is not None:
        sql += " AND id = ?"
        params.append(job_id)
    if parent is not None:
        sql += " AND parent = ?"
        params.append(parent)
    return any(r["launcher_host"] == HOST and not pid_alive(r["launcher_pid"]) for r in db.query(sql, params))


@dataclass
class _Running:
    job_id: str
    proc: subprocess.Popen[bytes]
    terminated_at: float | None = None


class Dispatcher:
    """Claims and runs jobs of one home in worker processes, at most ``workers`` at a time."""

    def __init__(self, home: Path, workers: int) -> None:
        self.home = home
        self.workers = max(1, workers)
        self.db = Database(layout.db_path(home))
        self._running: dict[str, _Running] = {}
        self._claiming: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_beat = 0.0
        self._last_recover = 0.0
        self.users = 0

    # -- control -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the dispatching thread (idempotent)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name=f"gpf-flow-dispatcher:{self.home}", daemon=True
            )
            self._thread.start()

    @property
    def started(self) -> bool:
        """True while the dispatching thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Look for work now."""
        self._wake.set()

    def running_ids(self) -> set[str]:
        """Jobs running in this process's workers."""
        with self._lock:
            return set(self._running) | self._claiming

    def stop(self) -> None:
        """Stop dispatching; jobs still running are stopped and ended as interrupted."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            running, self._running = list(self._running.values()), {}
        for item in running:
            if item.proc.poll() is None:
                item.proc.terminate()
        for item in running:
            try:
                item.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                item.proc.kill()
                item.proc.wait()
            self._ended(item, reason="the store was closed while it ran")
        self.db.close()

    # -- loop ----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # keep dispatching; a locked database is retried next tick
                print(f"gpf-flow dispatcher: {type(exc).__name__}: {exc}", file=sys.stderr)
            self._wake.wait(TICK_S)
            self._wake.clear()

    def tick(self) -> None:
        """One round: reap ended workers, heartbeat, enforce aborts, recover, claim."""
        self._reap()
        now = time.time()
        if now - self._last_beat >= HEARTBEAT_S:
            self._last_beat = now
            self._heartbeat()
            self._enforce_aborts()
        if now - self._last_recover >= 3 * HEARTBEAT_S:
            self._last_recover = now
            recover_stale(self.db, running_here=self.running_ids())
        self._claim()

    def _reap(self) -> None:
        with self._lock:
            done = [r for r in self._running.values() if r.proc.poll() is not None]
        for item in done:
            try:
                self._ended(item)
            finally:  # listed as ours until ended, so a follower does not end it first
                with self._lock:
                    self._running.pop(item.job_id, None)

    def _ended(self, item: _Running, reason: str | None = None) -> None:
        """A worker exited: if its job is still PROGRESS, it died without ending it."""
        code = item.proc.returncode
        remove_tree(layout.work_dir(self.home, f"tmp-{item.job_id}"))
        output = _output_file(self.home, item.job_id)
        tail = _tail(output)
        output.unlink(missing_ok=True)
        with self.db.tx() as conn:
            row = get_row(conn, item.job_id)
            if row is None or row["status"] != "PROGRESS" or row["owner_pid"] != os.getpid():
                return
            if row["abort"]:
                end_job(
                    conn,
                    item.job_id,
                    "ABORTED",
                    [f"INFO aborted: worker process {item.proc.pid} was stopped"],
                )
                return
            why = reason or f"exit code {code}"
            end_job(
                conn,
                item.job_id,
                "FAILURE",
                [f"  worker output: {line}" for line in tail]
                + [f"ERROR interrupted: worker process {item.proc.pid} is gone ({why})"],
            )

    def _heartbeat(self) -> None:
        ids = self.running_ids()
        if not ids:
            return
        with self.db.tx() as conn:
            conn.executemany(
                "UPDATE entities SET heartbeat = ? WHERE id = ? AND owner_pid = ?",
                [(time.time(), i, os.getpid()) for i in ids],
            )

    def _enforce_aborts(self) -> None:
        """Stop workers that ignore an abort for longer than the grace period."""
        now = time.time()
        with self._lock:
            running = list(self._running.values())
        for item in running:
            row = get_row(self.db.conn, item.job_id)
            if row is None or row["status"] != "PROGRESS":
                if item.proc.poll() is None and (row is None or row["owner_pid"] is None):
                    item.proc.terminate()
                continue
            if (
                row["abort"]
                and row["abort_at"]
                and now - row["abort_at"] > ABORT_GRACE_S
                and item.terminated_at is None
            ):
                item.terminated_at = now
                item.proc.terminate()

    def _candidates(self) -> list[str]:
        rows = self.db.query(
            "SELECT id, launcher_pid, launcher_host FROM entities "
            "WHERE status = 'WAITING' AND type IN (?, ?) ORDER BY seq LIMIT 100",
            JOB_TYPES,
        )
        me = os.getpid()
        ids = []
        for r in rows:
            mine = r["launcher_pid"] == me and r["launcher_host"] == HOST
            orphan = r["launcher_host"] == HOST and not pid_alive(r["launcher_pid"])
            if mine or orphan:
                ids.append(r["id"])
        return ids

    def _claim(self) -> None:
        if self._stop.is_set():
            return
        for job_id in self._candidates():
            with self._lock:
                if len(self._running) >= self.workers:
                    return
                self._claiming.add(job_id)
            try:
                if not self._claim_one(job_id):
                    continue
                proc = self._spawn(job_id)
                with self._lock:
                    self._running[job_id] = _Running(job_id, proc)
            finally:
                with self._lock:
                    self._claiming.discard(job_id)
            with self.db.tx() as conn:
                conn.execute("UPDATE entities SET worker_pid = ? WHERE id = ?", (proc.pid, job_id))

    def _claim_one(self, job_id: str) -> bool:
        me = os.getpid()
        with self.db.tx() as conn:
            cur = conn.execute(
                "UPDATE entities SET status = 'PROGRESS', owner_pid = ?, host = ?, heartbeat = ?, "
                "launcher_pid = ?, launcher_host = ?, worker_pid = NULL WHERE id = ? AND status = 'WAITING'",
                (me, HOST, time.time(), me, HOST, job_id),
            )
            if cur.rowcount != 1:
                return False
            set_status(conn, job_id, "PROGRESS", fields={"start": now_iso()})
            row = get_row(conn, job_id)
            if row is not None and row["type"] == "processing_execution":
                _start_output(conn, row_entity(row))
        return True

    def _spawn(self, job_id: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        # The worker must import what this process imports (test processings, plugins).
        paths = [p for p in sys.path if p and Path(p).is_dir()]
        if os.getcwd() not in paths:
            paths.insert(0, os.getcwd())
        env["PYTHONPATH"] = os.pathsep.join(paths)
        output = _output_file(self.home, job_id)
        output.parent.mkdir(parents=True, exist_ok=True)
        with open(output, "wb") as out:  # the worker's own prints and crash traces, not the CLI's
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gpf_flow.store.local.worker",
                    str(self.home),
                    job_id,
                    str(os.getpid()),
                    str(self.workers),
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                close_fds=True,
                # Own session: a terminal's Ctrl-C reaches the CLI (which aborts its executions),
                # not the workers; a worker still exits when its owner dies (it watches its parent).
                start_new_session=True,
            )


def _output_file(home: Path, job_id: str) -> Path:
    return home / "logs" / f"worker-{job_id}.out"


def _tail(path: Path, lines: int = 20) -> list[str]:
    """The last lines a worker printed (kept in the job's log when it dies)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _start_output(conn: sqlite3.Connection, execution: dict[str, Any]) -> None:
    """The output stored data when its execution starts: GENERATING, or MODIFYING for an update."""
    sd_id = ((execution.get("output") or {}).get("stored_data") or {}).get("_id")
    row = get_row(conn, sd_id) if isinstance(sd_id, str) else None
    if row is None:
        return
    if row["status"] == "GENERATED":
        body = row_entity(row)
        body["_previous_status"] = "GENERATED"
        update_body(conn, row["id"], body)
        set_status(conn, row["id"], "MODIFYING")
    else:
        set_status(conn, row["id"], "GENERATING")


# -- one dispatcher per home in this process ---------------------------------------------------------

_REGISTRY: dict[Path, Dispatcher] = {}
_REGISTRY_LOCK = threading.Lock()


def acquire(home: Path, workers: int) -> Dispatcher:
    """The process's dispatcher for this home (created on first use; not started)."""
    key = home.resolve()
    with _REGISTRY_LOCK:
        disp = _REGISTRY.get(key)
        if disp is None:
            disp = Dispatcher(key, workers)
            _REGISTRY[key] = disp
        disp.users += 1
        return disp


def release(disp: Dispatcher) -> None:
    """Drop one user; the last one stops the dispatcher."""
    with _REGISTRY_LOCK:
        disp.users -= 1
        if disp.users > 0:
            return
        _REGISTRY.pop(disp.home, None)
    disp.stop()


@atexit.register
def _stop_all() -> None:
    with _REGISTRY_LOCK:
        items = list(_REGISTRY.values())
        _REGISTRY.clear()
    for disp in items:
        if disp.started:
            disp.stop()
