"""A minimal MBTiles 1.3 writer on the standard library's sqlite3.

Layout (the one MapProxy's ``mbtiles`` cache and GDAL read): ``metadata(name, value)`` and
``tiles(zoom_level, tile_column, tile_row, tile_data)`` with a unique index on
``(zoom_level, tile_column, tile_row)``; rows are TMS rows (0 at the bottom).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metadata (name TEXT, value TEXT);
CREATE TABLE IF NOT EXISTS tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
"""
_MERGE_CHUNK = 2000


class MBTilesWriter:
    """Writes tiles into an MBTiles file; call :meth:`close` to index and commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        # The file is a build artefact renamed into place at the end: durability is not needed.
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)
        self._db.execute("BEGIN")
        self._pending = 0

    def put(self, zoom: int, column: int, row: int, data: bytes) -> None:
        """Store one tile (``row`` is a TMS row)."""
        self._db.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (zoom, column, row, sqlite3.Binary(data)))
        self._pending += 1
        if self._pending >= 500:
            self.commit()

    def commit(self) -> None:
        """Commit what was written so far."""
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")
        self._pending = 0

    def index(self) -> None:
        """Create the unique tile index now (needed before :meth:`merge` with ``keep_existing``)."""
        self._db.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS tile_index ON tiles (zoom_level, tile_column, tile_row)"
        )

    def merge(self, part: Path, check_abort: Callable[[], None], *, keep_existing: bool = False) -> int:
        """Copy the tiles of another MBTiles-shaped file into this one; returns the count copied.

        With ``keep_existing`` (and :meth:`index` called first) tiles already here are kept.
        """
        verb = "INSERT OR IGNORE" if keep_existing else "INSERT"
        self.commit()
        self._db.execute("ATTACH DATABASE ? AS part", (str(part),))
        try:
            last = self._db.execute("SELECT COALESCE(MAX(rowid), 0) FROM part.tiles").fetchone()[0]
            copied = 0
            for start in range(0, last, _MERGE_CHUNK):
                check_abort()
                cur = self._db.execute(
                    f"{verb} INTO tiles SELECT zoom_level, tile_column, tile_row, tile_data "
                    "FROM part.tiles WHERE rowid > ? AND rowid <= ?",
                    (start, start + _MERGE_CHUNK),
                )
                copied += cur.rowcount
            self.commit()
        finally:
            self._db.execute("COMMIT")
            self._db.execute("DETACH DATABASE part")
            self._db.execute("BEGIN")
        return copied

    def set_metadata(self, values: Mapping[str, object]) -> None:
        """Replace the metadata entries given."""
        for name, value in values.items():
            self._db.execute("DELETE FROM metadata WHERE name = ?", (name,))
            self._db.execute("INSERT INTO metadata VALUES (?, ?)", (name, str(value)))

    def counts(self) -> dict[int, int]:
        """Tiles per zoom level."""
        rows: Iterable[tuple[int, int]] = self._db.execute(
            "SELECT zoom_level, COUNT(*) FROM tiles GROUP BY zoom_level"
        )
        return {int(z): int(n) for z, n in rows}

    def close(self, *, index: bool = True) -> None:
        """Commit, build the indexes (unless ``index`` is false) and close."""
        if index:
            self.index()
            self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS metadata_index ON metadata (name)")
        self._db.execute("COMMIT")
        self._db.close()

    def abandon(self) -> None:
        """Close without caring about the content (the caller deletes the file)."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
