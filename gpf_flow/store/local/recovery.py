"""Ending the jobs whose owner process died, and finding the jobs whose launcher died.

Whoever notices does it: the dispatcher on its rounds, a follower reading a job, a store
opening its home. A job ends FAILURE (ABORTED if an abort was asked) with the log line
``interrupted: worker process N is gone``.
"""

from __future__ import annotations

import sqlite3

from gpf_flow.store.base import ExecutionStatus
from gpf_flow.store.local import layout
from gpf_flow.store.local.db import Database
from gpf_flow.store.local.liveness import launcher_gone, owner_gone
from gpf_flow.store.local.records import children, end_job, get_row, jobs_in, remove_tree
from gpf_flow.store.local.spawn import output_file


def interrupt(db: Database, row: sqlite3.Row) -> bool:
    """End a job whose owner is gone: FAILURE (ABORTED if an abort was asked) with a log line."""
    job_id = row["id"]
    pid = row["worker_pid"] or row["owner_pid"]
    line = f"ERROR interrupted: worker process {pid} is gone (owner process {row['owner_pid']})"
    with db.tx() as conn:
        current = get_row(conn, job_id)
        if (
            current is None
            or current["status"] != ExecutionStatus.PROGRESS
            or current["owner_pid"] != row["owner_pid"]
        ):
            return False
        status = ExecutionStatus.ABORTED if current["abort"] else ExecutionStatus.FAILURE
        ended = end_job(conn, job_id, status, [line])
        if current["type"] == "check_execution" and current["parent"]:
            _skip_orphan_checks(conn, current["parent"])
    remove_tree(layout.work_dir(db.path.parent, f"tmp-{job_id}"))
    output_file(db.path.parent, job_id).unlink(missing_ok=True)
    return ended


def _skip_orphan_checks(conn: sqlite3.Connection, upload_id: str) -> None:
    """The upload lost a check to a dead process: its checks nobody will start end FAILURE too,
    so the upload ends UNSTABLE now rather than waiting for someone to adopt them."""
    for r in children(conn, upload_id, ExecutionStatus.WAITING):
        if launcher_gone(r):
            lines = [f"ERROR not run: the process {r['launcher_pid']} that closed the upload is gone"]
            end_job(conn, r["id"], ExecutionStatus.FAILURE, lines, only_if=(ExecutionStatus.WAITING,))


def recover_stale(db: Database, job_id: str | None = None, running_here: set[str] | None = None) -> int:
    """End every PROGRESS job (or just ``job_id``) whose owner process is gone; returns how many."""
    count = 0
    for row in jobs_in(db.conn, ExecutionStatus.PROGRESS, job_id=job_id):
        if owner_gone(row, running_here) and interrupt(db, row):
            count += 1
    return count


def has_orphans(db: Database, job_id: str | None = None, parent: str | None = None) -> bool:
    """True if a WAITING job (this one, or of this upload) was launched by a process that is gone."""
    waiting = jobs_in(db.conn, ExecutionStatus.WAITING, job_id=job_id, parent=parent)
    return any(launcher_gone(r) for r in waiting)
