"""Reading and writing entity rows, logs and events; the status transitions shared by the store,
its dispatcher and its worker processes (so each transition is written in one place)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from gpf_flow.store.local.db import Database, dumps, now_iso, now_log
from gpf_flow.store.local.paths import is_reserved

Entity = dict[str, Any]

EVENT_TITLES = {
    "CREATED": "Création",
    "WAITING": "Mise en attente",
    "PROGRESS": "Démarrage",
    "SUCCESS": "Succès",
    "FAILURE": "Échec",
    "ABORTED": "Annulation",
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
    if any(s in ("WAITING", "PROGRESS") for s in statuses):
        return
    ok = bool(statuses) and all(s == "SUCCESS" for s in statuses)
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
    only_if: tuple[str, ...] = ("PROGRESS",),
) -> bool:
    """End a processing or check execution that did not succeed (FAILURE/ABORTED/interrupted).

    Returns False when the job had already left ``only_if`` (someone else ended it)."""
    row = get_row(conn, job_id)
    if row is None or row["status"] not in only_if:
        return False
    if row["type"] == "check_execution":
        status = "FAILURE" if status != "SUCCESS" else status
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
