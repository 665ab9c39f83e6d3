"""The local store's SQLite database: schema, per-thread connections and short transactions.

WAL mode lets readers (followers, the REST server) read while a worker writes; every
read-modify-write runs in ``BEGIN IMMEDIATE`` so two processes never interleave one.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    datastore TEXT,
    status TEXT,
    body TEXT NOT NULL,
    parent TEXT,
    runner TEXT,
    launcher_pid INTEGER,
    launcher_host TEXT,
    owner_pid INTEGER,
    worker_pid INTEGER,
    host TEXT,
    heartbeat REAL,
    abort INTEGER NOT NULL DEFAULT 0,
    abort_at REAL
);
CREATE INDEX IF NOT EXISTS entities_type ON entities (type, datastore, seq);
CREATE INDEX IF NOT EXISTS entities_status ON entities (status);
CREATE INDEX IF NOT EXISTS entities_parent ON entities (parent);
CREATE TABLE IF NOT EXISTS comments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    entity_id TEXT NOT NULL,
    text TEXT NOT NULL,
    author TEXT,
    date TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_entity ON comments (entity_id, seq);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    title TEXT NOT NULL,
    date TEXT NOT NULL,
    pid INTEGER
);
CREATE INDEX IF NOT EXISTS events_entity ON events (entity_id, seq);
CREATE TABLE IF NOT EXISTS logs (
    entity_id TEXT NOT NULL,
    line INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (entity_id, line)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

BUSY_TIMEOUT_S = 60.0


def now_iso() -> str:
    """The current UTC time as the API writes it (``2024-01-01T10:00:00Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_log() -> str:
    """The timestamp that starts every log line."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


class Database:
    """One SQLite file, one connection per thread, explicit transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._generations = itertools.count(1)
        self._generation = 0
        self._init_schema()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = OFF")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit: every lone statement is its own transaction)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _init_schema(self) -> None:
        conn = self.conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction (``BEGIN IMMEDIATE``): commit on success, rollback on error."""
        conn = self.conn
        if conn.in_transaction:  # nested use: join the outer transaction
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def data_version(self) -> int:
        """A number that changes whenever anyone (another connection, another process) commits.

        SQLite's ``PRAGMA data_version`` on read-only connections of our own (one per thread, so
        concurrent requests never wait for each other): it never writes. Its value is private to
        each connection, so every change a thread's connection sees bumps one shared counter,
        which is what this returns (a commit seen by several threads bumps it once per thread).
        """
        watcher: sqlite3.Connection | None = getattr(self._local, "watcher", None)
        if watcher is None:
            watcher = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.watcher = watcher
            self._local.seen = None
            with self._lock:
                self._all.append(watcher)
        seen = int(watcher.execute("PRAGMA data_version").fetchone()[0])
        if seen != self._local.seen:
            self._local.seen = seen
            self._generation = next(self._generations)  # atomic under the GIL: no lock
        return self._generation

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query and return all rows."""
        return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()


def dumps(value: Any) -> str:
    """JSON text as stored in the database."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
