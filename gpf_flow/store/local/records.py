"""All SQL on the local store's tables (entities, comments, events, logs) and the table of the
status transitions allowed, shared by the store, its dispatcher and its worker processes: each
statement and each transition is written in one place. (The schema itself is in :mod:`.db`.)"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from gpf_flow.store.base import ExecutionStatus
from gpf_flow.store.local.db import Database, dumps, now_iso, now_log
from gpf_flow.store.local.paths import is_reserved

Entity = dict[str, Any]

JOB_TYPES = ("processing_execution", "check_execution")
"""The entity types run by worker processes."""

ACTIVE = (ExecutionStatus.WAITING, ExecutionStatus.PROGRESS)
"""The statuses of a job that is queued or running."""

TRANSITIONS: dict[str, dict[str | None, frozenset[str]]] = {
    "processing_execution": {
        "CREATED": frozenset({ExecutionStatus.WAITING, ExecutionStatus.ABORTED}),
        ExecutionStatus.WAITING: frozenset(
            {ExecutionStatus.PROGRESS, ExecutionStatus.ABORTED, ExecutionStatus.FAILURE}
        ),
        ExecutionStatus.PROGRESS: frozenset(
            {ExecutionStatus.SUCCESS, ExecutionStatus.FAILURE, ExecutionStatus.ABORTED}
        ),
        ExecutionStatus.FAILURE: frozenset({ExecutionStatus.WAITING}),  # relaunched
        ExecutionStatus.ABORTED: frozenset({ExecutionStatus.WAITING}),
    },
    "check_execution": {
        ExecutionStatus.WAITING: frozenset({ExecutionStatus.PROGRESS, ExecutionStatus.FAILURE}),
        ExecutionStatus.PROGRESS: frozenset({ExecutionStatus.SUCCESS, ExecutionStatus.FAILURE}),
    },
    "upload": {
        "OPEN": frozenset({"CHECKING", "CLOSED"}),
        "CHECKING": frozenset({"CLOSED", "UNSTABLE"}),
        "CLOSED": frozenset({"OPEN", "CHECKING"}),
        "UNSTABLE": frozenset({"OPEN", "CHECKING"}),
    },
    "stored_data": {
        "CREATED": frozenset({"GENERATING", "UNSTABLE"}),
        "GENERATING": frozenset({"GENERATED", "UNSTABLE"}),
        # two executions writing one output: the second one's start, the first one's failure
        "MODIFYING": frozenset({"GENERATED", "UNSTABLE", "GENERATING"}),
        "GENERATED": frozenset({"MODIFYING", "UNSTABLE"}),
        "UNSTABLE": frozenset({"GENERATING", "GENERATED"}),
    },
    "offering": {
        "PUBLISHING": frozenset({"PUBLISHED", "UNSTABLE"}),
        "MODIFYING": frozenset({"PUBLISHED", "UNSTABLE"}),
        "PUBLISHED": frozenset({"MODIFYING", "UNPUBLISHING"}),
        "UNSTABLE": frozenset({"MODIFYING"}),
        "UNPUBLISHING": frozenset({"UNPUBLISHED"}),
        "UNPUBLISHED": frozenset({"MODIFYING"}),
    },
    "configuration": {
        "UNPUBLISHED": frozenset({"PUBLISHED"}),
        "PUBLISHED": frozenset({"UNPUBLISHED"}),
    },
}
"""``TRANSITIONS[type][from]``: the statuses an entity may move to (staying put is always allowed).
A move outside this table is a bug of the store, refused by :func:`set_status`."""


class TransitionError(RuntimeError):
    """A status change the table does not allow (a bug of the store, not of the client)."""


EVENT_TITLES = {
    "CREATED": "Création",
    ExecutionStatus.WAITING: "Mise en attente",
    ExecutionStatus.PROGRESS: "Démarrage",
    ExecutionStatus.SUCCESS: "Succès",
    ExecutionStatus.FAILURE: "Échec",
    ExecutionStatus.ABORTED: "Annulation",
}


def row_entity(row: sqlite3.Row) -> Entity:
    """The stored body of a row with its ``_id`` and ``status``."""
    body: Entity = json.loads(row["body"])
    entity: Entity = {"_id": row["id"]}
    entity.update(body)
    if row["status"] is not None:
        entity["status"] = row["status"]
    return entity


def get_row(conn: sqlite3.Connection, entity_id: str) -> sqlite3.Row | None:
    """The row of an entity, or None."""
    row: sqlite3.Row | None = conn.execute("SELECT * FROM entities WHERE id = ?", (entity_id,)).fetchone()
    return row


def strip_body(entity: Entity) -> Entity:
    """The part of an entity stored as JSON (``_id`` and ``status`` live in columns)."""
    return {k: v for k, v in entity.items() if k not in ("_id", "status")}


def insert_entity(
    conn: sqlite3.Connection,
    entity_type: str,
    entity_id: str,
    datastore: str | None,
    body: Entity,
    status: str | None,
    **columns: Any,
) -> None:
    """Insert a new entity row and its creation event."""
    body = strip_body(body)
    body.setdefault("last_event", {"title": "Création", "date": now_iso()})
    names = ["id", "type", "datastore", "status", "body", *columns]
    values = [entity_id, entity_type, datastore, status, dumps(body), *columns.values()]
    conn.execute(
        f"INSERT INTO entities ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        values,
    )
    add_event(conn, entity_id, entity_type, "Création")


def update_body(conn: sqlite3.Connection, entity_id: str, body: Entity) -> None:
    """Replace the JSON body of an entity."""
    conn.execute("UPDATE entities SET body = ? WHERE id = ?", (dumps(strip_body(body)), entity_id))


def set_status(
    conn: sqlite3.Connection,
    entity_id: str,
    status: str,
    *,
    fields: Entity | None = None,
    title: str | None = None,
) -> None:
    """Set an entity's status, merge ``fields`` into its body and record the event."""
    row = get_row(conn, entity_id)
    if row is None:
        return
    current = row["status"]
    if current != status and status not in TRANSITIONS.get(row["type"], {}).get(current, frozenset()):
        raise TransitionError(
            f"{row['type']} {entity_id}: {current} -> {status} is not an allowed transition"
        )
    body = json.loads(row["body"])
    if fields:
        body.update(fields)
    event = title or EVENT_TITLES.get(status, status)
    body["last_event"] = {"title": event, "date": now_iso()}
    conn.execute(
        "UPDATE entities SET status = ?, body = ? WHERE id = ?", (status, dumps(strip_body(body)), entity_id)
    )
    add_event(conn, entity_id, row["type"], event)


def add_event(conn: sqlite3.Connection, entity_id: str, entity_type: str, title: str) -> None:
    """Record one event of an entity's history."""
    conn.execute(
        "INSERT INTO events (entity_id, entity_type, title, date, pid) VALUES (?, ?, ?, ?, ?)",
        (entity_id, entity_type, title, now_iso(), os.getpid()),
    )


def append_logs(conn: sqlite3.Connection, entity_id: str, lines: list[str]) -> None:
    """Append log lines (each prefixed with its UTC time) after the entity's last line."""
    if not lines:
        return
    start = conn.execute(
        "SELECT COALESCE(MAX(line) + 1, 0) FROM logs WHERE entity_id = ?", (entity_id,)
    ).fetchone()[0]
    stamp = now_log()
    rows = []
    for offset, text in enumerate(lines):
        rows.append((entity_id, start + offset, f"{stamp} {text}"))
    conn.executemany("INSERT INTO logs (entity_id, line, text) VALUES (?, ?, ?)", rows)


def read_logs(db: Database, entity_id: str, start: int = 0) -> list[str]:
    """Log lines from 0-based line ``start``."""
    rows = db.query(
        "SELECT text FROM logs WHERE entity_id = ? AND line >= ? ORDER BY line", (entity_id, max(0, start))
    )
    return [r["text"] for r in rows]


def dir_size(path: Path) -> int:
    """Total size in bytes of the files under a folder (the store's temporary files excluded)."""
    total = 0
    if not path.exists():
        return 0
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not is_reserved(d)]
        for name in files:
            if is_reserved(name):
                continue
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


# -- job endings -----------------------------------------------------------------------------------


def finalize_upload(conn: sqlite3.Connection, upload_id: str) -> None:
    """After a check ended: CLOSED when every check passed, UNSTABLE when one failed."""
    row = get_row(conn, upload_id)
    if row is None or row["status"] != "CHECKING":
        return
    statuses = [
        r["status"]
        for r in conn.execute(
            "SELECT status FROM entities WHERE type = 'check_execution' AND parent = ?", (upload_id,)
        )
    ]
    if any(s in (ExecutionStatus.WAITING, ExecutionStatus.PROGRESS) for s in statuses):
        return
    ok = bool(statuses) and all(s == ExecutionStatus.SUCCESS for s in statuses)
    set_status(conn, upload_id, "CLOSED" if ok else "UNSTABLE", title="Vérifications terminées")


def end_output(conn: sqlite3.Connection, execution: Entity, success: bool) -> None:
    """The output stored data after a failed or aborted execution: UNSTABLE (a new output) or its
    previous status (an update whose data was never touched)."""
    sd_id = (execution.get("output") or {}).get("stored_data", {}).get("_id")
    if not sd_id or success:
        return
    row = get_row(conn, sd_id)
    if row is None:
        return
    body = json.loads(row["body"])
    previous = body.pop("_previous_status", None)
    update_body(conn, sd_id, body)
    set_status(conn, sd_id, previous if previous == "GENERATED" else "UNSTABLE")


def finish_job(conn: sqlite3.Connection, job_id: str, status: str, log_lines: list[str]) -> None:
    """Write a job's last log lines and final status, and release it from its owner process."""
    append_logs(conn, job_id, log_lines)
    set_status(conn, job_id, status, fields={"finish": now_iso()})
    conn.execute("UPDATE entities SET owner_pid = NULL, worker_pid = NULL WHERE id = ?", (job_id,))


def end_job(
    conn: sqlite3.Connection,
    job_id: str,
    status: str,
    log_lines: list[str],
    *,
    only_if: tuple[str, ...] = (ExecutionStatus.PROGRESS,),
) -> bool:
    """End a processing or check execution that did not succeed (FAILURE/ABORTED/interrupted).

    Returns False when the job had already left ``only_if`` (someone else ended it)."""
    row = get_row(conn, job_id)
    if row is None or row["status"] not in only_if:
        return False
    if row["type"] == "check_execution":
        status = ExecutionStatus.FAILURE if status != ExecutionStatus.SUCCESS else status
    finish_job(conn, job_id, status, log_lines)
    if row["type"] == "check_execution":
        finalize_upload(conn, row["parent"])
    else:
        end_output(conn, row_entity(row), success=False)
    return True


def remove_tree(path: Path) -> None:
    """Remove a folder if it exists (errors ignored: a leftover is harmless)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


# -- queries -----------------------------------------------------------------------------------------


def rows_of_type(conn: sqlite3.Connection, entity_type: str, datastore: str | None) -> list[sqlite3.Row]:
    """Every row of a type in a datastore (``datastore`` None: in every datastore), oldest first."""
    if datastore is None:
        return conn.execute("SELECT * FROM entities WHERE type = ? ORDER BY seq", (entity_type,)).fetchall()
    return conn.execute(
        "SELECT * FROM entities WHERE type = ? AND datastore = ? ORDER BY seq", (entity_type, datastore)
    ).fetchall()


def children(conn: sqlite3.Connection, parent: str, status: str | None = None) -> list[sqlite3.Row]:
    """The check executions of an upload (only those in ``status`` if given), oldest first."""
    sql = "SELECT * FROM entities WHERE type = 'check_execution' AND parent = ?"
    params: list[object] = [parent]
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    return conn.execute(sql + " ORDER BY seq", params).fetchall()


def catalog_rows(conn: sqlite3.Connection) -> dict[str, tuple[str, str | None]]:
    """``{id: (body, runner)}`` of the processings and checks."""
    rows = conn.execute("SELECT id, body, runner FROM entities WHERE type IN ('processing', 'check')")
    return {r["id"]: (r["body"], r["runner"]) for r in rows}


def set_runner(conn: sqlite3.Connection, entity_id: str, body: Entity, runner: str) -> None:
    """Replace a processing's or check's description and implementation."""
    conn.execute("UPDATE entities SET body = ?, runner = ? WHERE id = ?", (dumps(body), runner, entity_id))


def drop(conn: sqlite3.Connection, entity_type: str, entity_id: str) -> None:
    """Delete an entity with its comments and logs; its history keeps the deletion."""
    conn.execute("DELETE FROM entities WHERE id = ?", (entity_id,))
    conn.execute("DELETE FROM comments WHERE entity_id = ?", (entity_id,))
    conn.execute("DELETE FROM logs WHERE entity_id = ?", (entity_id,))
    add_event(conn, entity_id, entity_type, "Suppression")


def events_of(conn: sqlite3.Connection, entity_id: str) -> list[Entity]:
    """An entity's history, oldest first."""
    rows = conn.execute("SELECT title, date FROM events WHERE entity_id = ? ORDER BY seq", (entity_id,))
    return [{"title": r["title"], "date": r["date"]} for r in rows]


# -- comments ----------------------------------------------------------------------------------------


def comments_of(conn: sqlite3.Connection, entity_id: str) -> list[sqlite3.Row]:
    """An entity's comments, oldest first."""
    return conn.execute("SELECT * FROM comments WHERE entity_id = ? ORDER BY seq", (entity_id,)).fetchall()


def comment_row(conn: sqlite3.Connection, comment_id: str) -> sqlite3.Row:
    """One comment."""
    row: sqlite3.Row = conn.execute("SELECT * FROM comments WHERE id = ?", (comment_id,)).fetchone()
    return row


def insert_comment(conn: sqlite3.Connection, comment_id: str, entity_id: str, text: str, author: str) -> None:
    """Add a comment to an entity."""
    conn.execute(
        "INSERT INTO comments (id, entity_id, text, author, date) VALUES (?, ?, ?, ?, ?)",
        (comment_id, entity_id, text, author, now_iso()),
    )


def delete_comment(conn: sqlite3.Connection, comment_id: str, entity_id: str) -> bool:
    """Remove a comment of an entity; False if it had no such comment."""
    cur = conn.execute("DELETE FROM comments WHERE id = ? AND entity_id = ?", (comment_id, entity_id))
    return cur.rowcount > 0


def update_comment(conn: sqlite3.Connection, comment_id: str, entity_id: str, text: str) -> bool:
    """Replace a comment's text; False if the entity had no such comment."""
    cur = conn.execute(
        "UPDATE comments SET text = ? WHERE id = ? AND entity_id = ?", (text, comment_id, entity_id)
    )
    return cur.rowcount > 0


# -- jobs --------------------------------------------------------------------------------------------


def jobs_in(
    conn: sqlite3.Connection,
    status: str,
    *,
    job_id: str | None = None,
    parent: str | None = None,
    limit: int | None = None,
) -> list[sqlite3.Row]:
    """Processing and check executions in ``status`` (this one, or of this upload), oldest first."""
    sql = "SELECT * FROM entities WHERE status = ? AND type IN (?, ?)"
    params: list[object] = [status, *JOB_TYPES]
    if job_id is not None:
        sql += " AND id = ?"
        params.append(job_id)
    if parent is not None:
        sql += " AND parent = ?"
        params.append(parent)
    sql += " ORDER BY seq"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return conn.execute(sql, params).fetchall()


def active_jobs(conn: sqlite3.Connection, entity_type: str | None = None) -> list[sqlite3.Row]:
    """Jobs (of one type, or all) that are WAITING or PROGRESS."""
    types = (entity_type, entity_type) if entity_type else JOB_TYPES
    return conn.execute(
        "SELECT * FROM entities WHERE status IN (?, ?) AND type IN (?, ?) ORDER BY seq", (*ACTIVE, *types)
    ).fetchall()


def mark_launched(conn: sqlite3.Connection, job_id: str, pid: int, host: str) -> None:
    """A job (re)launched by process ``pid``: no owner, no worker, no abort yet."""
    conn.execute(
        "UPDATE entities SET launcher_pid = ?, launcher_host = ?, abort = 0, abort_at = NULL, "
        "owner_pid = NULL, worker_pid = NULL, heartbeat = NULL WHERE id = ?",
        (pid, host, job_id),
    )


def request_abort(conn: sqlite3.Connection, job_id: str) -> None:
    """Raise a job's abort flag (its worker sees it; the dispatcher enforces it after a grace)."""
    conn.execute("UPDATE entities SET abort = 1, abort_at = ? WHERE id = ?", (time.time(), job_id))


def claim(conn: sqlite3.Connection, job_id: str, pid: int, host: str) -> bool:
    """A WAITING job becomes PROGRESS, owned by process ``pid``; False if it is no longer WAITING
    (someone else claimed it). Atomic: the caller holds a write transaction."""
    cur = conn.execute(
        "UPDATE entities SET owner_pid = ?, host = ?, heartbeat = ?, launcher_pid = ?, launcher_host = ?, "
        "worker_pid = NULL WHERE id = ? AND status = 'WAITING'",
        (pid, host, time.time(), pid, host, job_id),
    )
    if cur.rowcount != 1:
        return False
    set_status(conn, job_id, ExecutionStatus.PROGRESS, fields={"start": now_iso()})
    return True


def set_worker(conn: sqlite3.Connection, job_id: str, worker_pid: int) -> None:
    """Record the worker process running a job."""
    conn.execute("UPDATE entities SET worker_pid = ? WHERE id = ?", (worker_pid, job_id))


def heartbeat(conn: sqlite3.Connection, job_ids: set[str], owner_pid: int) -> None:
    """The owner process is alive and still runs these jobs."""
    conn.executemany(
        "UPDATE entities SET heartbeat = ? WHERE id = ? AND owner_pid = ?",
        [(time.time(), i, owner_pid) for i in job_ids],
    )


def abort_flag(conn: sqlite3.Connection, job_id: str) -> tuple[bool, str | None] | None:
    """``(abort asked, status)`` of a job, or None if it is gone."""
    row = conn.execute("SELECT abort, status FROM entities WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else (bool(row["abort"]), row["status"])


def start_output(conn: sqlite3.Connection, execution: Entity) -> None:
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
