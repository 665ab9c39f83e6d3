"""The run state: every run, step and action with status, times, entities, bodies and errors.

Stored in SQLite (``<home>/runs.sqlite``) so that a re-run skips what is done, resumes what
failed, and ``gpf-flow status`` / ``gpf-flow graph`` can show each step's last state. A workflow
is identified by its absolute path (or its name when it was loaded from text) and datastore.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpf_flow.workflow.model import Workflow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_key TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    datastore TEXT,
    store TEXT,
    params TEXT NOT NULL DEFAULT '{}',
    selection TEXT,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_workflow ON runs (workflow_key, datastore, id);
CREATE TABLE IF NOT EXISTS steps (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    step TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    error TEXT,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS actions (
    run_id INTEGER NOT NULL,
    step TEXT NOT NULL,
    idx INTEGER NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    body TEXT,
    entities TEXT NOT NULL DEFAULT '[]',
    links TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    PRIMARY KEY (run_id, step, idx)
);
"""

# Statuses that say something about a step (skipped/blocked runs keep the earlier record).
_MEANINGFUL = ("done", "failed", "interrupted", "running")


@dataclass(frozen=True)
class StepRecord:
    """The last meaningful state of a step."""

    step: str
    status: str
    run_id: int
    started: float
    finished: float | None
    error: str | None


def workflow_key(workflow: Workflow) -> str:
    """How the run state identifies a workflow: its absolute path, else its name."""
    return str(workflow.path.resolve()) if workflow.path else f"<text>:{workflow.name}"


class RunState:
    """A handle on ``runs.sqlite``; safe to use from the runner's worker threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # As the local store does: in WAL mode a commit no longer waits for an fsync (the run
        # records 7 commits for a one-action run: most of the engine's own wall time). The file
        # cannot be corrupted; a power cut may lose the last records, and a step recorded as still
        # running is resumed, not skipped.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        for column, kind in (("pid", "INTEGER"), ("host", "TEXT")):
            if column not in columns:  # a state file written before runs recorded their process
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                    self._db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _write(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._lock:
            cursor = self._db.execute(sql, args)
            return int(cursor.lastrowid or 0)

    # -- runs ---------------------------------------------------------------------------------
    def start_run(
        self,
        key: str,
        name: str,
        *,
        datastore: str | None,
        store: str,
        params: Mapping[str, Any],
        selection: str | None,
    ) -> int:
        """Record a new run; returns its id."""
        return self._write(
            "INSERT INTO runs (workflow_key, workflow_name, datastore, store, params, selection, started,"
            " status, pid, host)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
            (
                key,
                name,
                datastore,
                store,
                json.dumps(dict(params), default=str),
                selection,
                time.time(),
                os.getpid(),
                socket.gethostname(),
            ),
        )

    def finish_run(self, run_id: int, status: str) -> None:
        """Record the end of a run."""
        self._write("UPDATE runs SET status = ?, finished = ? WHERE id = ?", (status, time.time(), run_id))

    # -- steps --------------------------------------------------------------------------------
    def start_step(self, run_id: int, step: str, status: str = "running") -> None:
        """Record a step starting (or, with another status, skipped/blocked)."""
        now = time.time()
        self._write(
            "INSERT OR REPLACE INTO steps (run_id, step, status, started, finished) VALUES (?, ?, ?, ?, ?)",
            (run_id, step, status, now, None if status == "running" else now),
        )

    def finish_step(self, run_id: int, step: str, status: str, error: str | None = None) -> None:
        """Record a step's end."""
        self._write(
            "UPDATE steps SET status = ?, finished = ?, error = ? WHERE run_id = ? AND step = ?",
            (status, time.time(), error, run_id, step),
        )

    # -- actions ------------------------------------------------------------------------------
    def start_action(self, run_id: int, step: str, index: int, action_type: str, body: Any) -> None:
        """Record an action starting with its resolved body."""
        self._write(
            "INSERT OR REPLACE INTO actions (run_id, step, idx, type, status, started, body)"
            " VALUES (?, ?, ?, ?, 'running', ?, ?)",
            (
                run_id,
                step,
                index,
                action_type,
                time.time(),
                json.dumps(body, default=str, ensure_ascii=False),
            ),
        )

    def finish_action(
        self,
        run_id: int,
        step: str,
        index: int,
        status: str,
        *,
        entities: list[dict[str, Any]] | None = None,
        links: list[dict[str, Any]] | None = None,
        error: str | None = None,
    ) -> None:
        """Record an action's end with the entities it created and the links it published."""
        self._write(
            "UPDATE actions SET status = ?, finished = ?, entities = ?, links = ?, error = ?"
            " WHERE run_id = ? AND step = ? AND idx = ?",
            (
                status,
                time.time(),
                json.dumps(entities or [], ensure_ascii=False),
                json.dumps(links or [], ensure_ascii=False),
                error,
                run_id,
                step,
                index,
            ),
        )

    # -- queries ------------------------------------------------------------------------------
    def last_steps(
        self, key: str, datastore: str | None = None, store: str | None = None
    ) -> dict[str, StepRecord]:
        """Each step's last meaningful record for a workflow (``done``, ``failed``, ...), optionally
        only in runs on one datastore and one store kind (``local``, ``geoplateforme``)."""
        marks = ",".join("?" for _ in _MEANINGFUL)
        sql = (
            "SELECT s.step, s.status, s.run_id, s.started, s.finished, s.error, r.pid, r.host FROM steps s"
            f" JOIN runs r ON r.id = s.run_id WHERE r.workflow_key = ? AND s.status IN ({marks})"
        )
        args: list[Any] = [key, *_MEANINGFUL]
        if datastore is not None:
            sql += " AND r.datastore = ?"
            args.append(datastore)
        if store is not None:
            sql += " AND r.store = ?"
            args.append(store)
        sql += " ORDER BY s.run_id, s.started"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return {row[0]: _interrupted_if_gone(StepRecord(*row[:6]), row[6], row[7]) for row in rows}

    def step_actions(self, run_id: int, step: str) -> list[dict[str, Any]]:
        """The recorded actions of a step in a run (status, body, entities, links, error)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT idx, type, status, started, finished, body, entities, links, error FROM actions"
                " WHERE run_id = ? AND step = ? ORDER BY idx",
                (run_id, step),
            ).fetchall()
        return [
            {
                "index": r[0],
                "type": r[1],
                "status": r[2],
                "started": r[3],
                "finished": r[4],
                "body": json.loads(r[5]) if r[5] else None,
                "entities": json.loads(r[6]),
                "links": json.loads(r[7]),
                "error": r[8],
            }
            for r in rows
        ]


def process_is_gone(pid: int | None, host: str | None) -> bool:
    """True when the run's process is known to have ended: same host, and no such process.

    A run recorded on another host, or before runs recorded their process, is never called gone.
    """
    if pid is None or host != socket.gethostname():
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a process of another user has that id: alive
        return False
    return False


def _interrupted_if_gone(record: StepRecord, pid: int | None, host: str | None) -> StepRecord:
    # a step left "running" by a process that was killed (kill -9, power cut) never finishes
    if record.status == "running" and process_is_gone(pid, host):
        return dataclasses.replace(
            record, status="interrupted", error=record.error or "the run's process is gone (killed?)"
        )
    return record


def step_records(
    workflow: Workflow, state_path: Path | str, store: str | None = None
) -> dict[str, StepRecord]:
    """Each step's last meaningful record (empty when the workflow never ran); ``store``: only
    runs on that store kind."""
    path = Path(state_path)
    if not path.exists():
        return {}
    state = RunState(path)
    try:
        return state.last_steps(workflow_key(workflow), store=store)
    finally:
        state.close()


def step_statuses(workflow: Workflow, state_path: Path | str) -> dict[str, str]:
    """Step → last status, for the graph renderer's colouring."""
    return {name: record.status for name, record in step_records(workflow, state_path).items()}
