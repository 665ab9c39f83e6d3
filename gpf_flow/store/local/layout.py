"""Where the local store keeps things inside its home folder."""

from __future__ import annotations

from pathlib import Path

DB_FILE = "store.sqlite"


def db_path(home: Path) -> Path:
    """The SQLite database."""
    return home / DB_FILE


def upload_dir(home: Path, upload_id: str) -> Path:
    """The files of an upload, at the paths they were pushed with."""
    return home / "uploads" / upload_id


def stored_data_dir(home: Path, stored_data_id: str) -> Path:
    """The files of a stored data (written by its processing)."""
    return home / "stored_data" / stored_data_id


def static_dir(home: Path, static_id: str) -> Path:
    """The folder holding one static file."""
    return home / "statics" / static_id


def work_dir(home: Path, tag: str) -> Path:
    """A temporary folder next to the stored data (same file system, so renames are atomic)."""
    return home / "stored_data" / f".gpf-{tag}"
