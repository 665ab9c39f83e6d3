"""The dispatcher: claims WAITING executions and runs each in its own worker process.

Each :class:`~gpf_flow.store.local.LocalStore` owns one (started by its first launch, close of
an upload, or ``start_workers``; stopped when the store is closed). It claims a job with an
atomic update guarded on ``WAITING``, so two dispatchers (of this process or another) never run
the same job, and only takes jobs launched by its own process or whose launching process is
gone. It records itself as the owner (pid + heartbeat); jobs whose owner died are ended by
whoever notices (:mod:`.recovery`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from gpf_flow.store.base import ExecutionStatus
from gpf_flow.store.local import layout
from gpf_flow.store.local.db import Database
from gpf_flow.store.local.liveness import HOST, launched_here, launcher_gone
from gpf_flow.store.local.records import (
    claim,
    end_job,
    get_row,
    heartbeat,
    jobs_in,
    remove_tree,
    row_entity,
    set_worker,
    start_output,
)
from gpf_flow.store.local.recovery import recover_stale
from gpf_flow.store.local.spawn import output_file, spawn_worker, tail

HEARTBEAT_S = 1.0
ABORT_GRACE_S = 10.0
TICK_S = 0.2


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
        """Jobs running in this dispatcher's workers."""
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
        output = output_file(self.home, item.job_id)
        last_lines = tail(output)
        output.unlink(missing_ok=True)
        with self.db.tx() as conn:
            row = get_row(conn, item.job_id)
            if row is None or row["status"] != ExecutionStatus.PROGRESS or row["owner_pid"] != os.getpid():
                return
            if row["abort"]:
                end_job(
                    conn,
                    item.job_id,
                    ExecutionStatus.ABORTED,
                    [f"INFO aborted: worker process {item.proc.pid} was stopped"],
                )
                return
            why = reason or f"exit code {code}"
            end_job(
                conn,
                item.job_id,
                ExecutionStatus.FAILURE,
                [f"  worker output: {line}" for line in last_lines]
                + [f"ERROR interrupted: worker process {item.proc.pid} is gone ({why})"],
            )

    def _heartbeat(self) -> None:
        ids = self.running_ids()
        if not ids:
            return
        with self.db.tx() as conn:
            heartbeat(conn, ids, os.getpid())

    def _enforce_aborts(self) -> None:
        """Stop workers that ignore an abort for longer than the grace period."""
        now = time.time()
        with self._lock:
            running = list(self._running.values())
        for item in running:
            row = get_row(self.db.conn, item.job_id)
            if row is None or row["status"] != ExecutionStatus.PROGRESS:
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
        rows = jobs_in(self.db.conn, ExecutionStatus.WAITING, limit=100)
        return [r["id"] for r in rows if launched_here(r) or launcher_gone(r)]

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
                proc = spawn_worker(self.home, job_id, self.workers)
                with self._lock:
                    self._running[job_id] = _Running(job_id, proc)
            finally:
                with self._lock:
                    self._claiming.discard(job_id)
            with self.db.tx() as conn:
                set_worker(conn, job_id, proc.pid)

    def _claim_one(self, job_id: str) -> bool:
        with self.db.tx() as conn:
            if not claim(conn, job_id, os.getpid(), HOST):
                return False
            row = get_row(conn, job_id)
            if row is not None and row["type"] == "processing_execution":
                start_output(conn, row_entity(row))
        return True
