"""Helpers of the local store tests (waiting on statuses, making uploads)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpf_flow.store.local import LocalStore
from gpf_flow.store.local.layout import db_path
from gpf_flow.store.local.records import set_status


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    """Poll until ``predicate()`` is truthy; fail the test after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_status(
    store: LocalStore, entity_type: str, entity_id: str, statuses: set[str], timeout: float = 30.0
) -> dict[str, Any]:
    """Wait for an entity to reach one of ``statuses``; return it."""

    def check() -> dict[str, Any] | None:
        entity = store.get_entity(entity_type, entity_id)
        return entity if entity["status"] in statuses else None

    return wait_for(check, timeout, f"{entity_type} {entity_id} in {statuses}")  # type: ignore[return-value]


def make_upload(
    store: LocalStore,
    tmp_path: Path,
    name: str = "UP",
    utype: str = "VECTOR",
    files: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    """An upload with files pushed (not closed)."""
    up = store.create_entity("upload", {"name": name, "type": utype, "srs": "EPSG:2154", "description": "d"})
    src = tmp_path / f"src-{up['_id']}"
    for rel, data in (files or {"ZONES/ZONES.shp": b"shp", "ZONES/ZONES.dbf": b"dbf!"}).items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        store.upload_push_file(up["_id"], path, rel)
    return store.get_entity("upload", up["_id"])


def force_status(home: Path, entity_id: str, status: str) -> None:
    """Change an entity's status from outside the store (as another process or a recovery would)."""
    conn = sqlite3.connect(db_path(home))
    conn.row_factory = sqlite3.Row
    try:
        with conn:
            set_status(conn, entity_id, status)
    finally:
        conn.close()
