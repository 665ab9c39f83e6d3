"""The small SQLite table of the local store's documents (annexes, metadata, sharings).

Kept apart from the entities table: these documents are not processed by workers and have
their own life cycle (publication by label, by endpoint). One JSON body per row.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DB_FILE = "documents.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL,
    datastore TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    UNIQUE (kind, datastore, id)
)
"""


def new_id() -> str:
    """A new document id (uuid4)."""
    return str(uuid.uuid4())


def now_iso() -> str:
    """Now, as the API writes dates (UTC, seconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DocumentsDb:
    """``home/documents.sqlite``: one connection per call, so any thread or process may use it."""

    def __init__(self, home: Path) -> None:
        self.path = home / DB_FILE
        home.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def _run(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        conn = self._connect()
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def put(self, kind: str, datastore: str, body: dict[str, Any]) -> None:
        """Insert or replace one document (keeps its position in creation order)."""
        self._run(
            "INSERT INTO documents (kind, datastore, id, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, datastore, id) DO UPDATE SET body = excluded.body",
            (kind, datastore, body["_id"], json.dumps(body, ensure_ascii=False)),
        )

    def get(self, kind: str, datastore: str, doc_id: str) -> dict[str, Any] | None:
        """One document, or None."""
        rows = self._run(
            "SELECT body FROM documents WHERE kind = ? AND datastore = ? AND id = ?",
            (kind, datastore, doc_id),
        )
        return json.loads(rows[0][0]) if rows else None

    def all(self, kind: str, datastore: str) -> list[dict[str, Any]]:
        """Every document of a kind, in creation order."""
        rows = self._run(
            "SELECT body FROM documents WHERE kind = ? AND datastore = ? ORDER BY seq", (kind, datastore)
        )
        return [json.loads(r[0]) for r in rows]

    def delete(self, kind: str, datastore: str, doc_id: str) -> None:
        """Remove one document (no error when absent)."""
        self._run(
            "DELETE FROM documents WHERE kind = ? AND datastore = ? AND id = ?", (kind, datastore, doc_id)
        )
