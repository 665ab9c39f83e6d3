"""MBTiles 1.3 files of pyramids, on the standard library's sqlite3: the one writer and reader.

Layout (the one MapProxy's ``mbtiles`` cache and GDAL read): ``metadata(name, value)`` and
``tiles(zoom_level, tile_column, tile_row, tile_data)`` with a unique index on
``(zoom_level, tile_column, tile_row)``. Rows on disk are TMS rows (0 at the bottom of the level's
matrix); every method here takes and returns XYZ rows (0 at the top) and flips with
:func:`gpf_flow.tms.tms_row`, so no caller deals with TMS rows.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType

import numpy as np
from morecantile import TileMatrixSet
from numpy.typing import NDArray

from gpf_flow.tms import tms_row

TileImage = NDArray[np.uint8]
"""A decoded tile: ``(height, width, C)`` uint8 whose last channel is alpha (C = 2 or 4)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metadata (name TEXT, value TEXT);
CREATE TABLE IF NOT EXISTS tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
"""
_MERGE_CHUNK = 2000


class MBTilesWriter:
    """Writes tiles of ``grid`` into an MBTiles file; call :meth:`close` to index and commit."""

    def __init__(self, path: Path, grid: TileMatrixSet) -> None:
        self.path = path
        self.grid = grid
        self._db = sqlite3.connect(path, isolation_level=None)
        # The file is a build artefact renamed into place at the end: durability is not needed.
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)
        self._db.execute("BEGIN")
        self._pending = 0

    def put(self, zoom: int, column: int, row: int, data: bytes) -> None:
        """Store one tile (``row`` counted from the top)."""
        values = (zoom, column, tms_row(self.grid, zoom, row), sqlite3.Binary(data))
        self._db.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", values)
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

    def tiles(self, zoom: int) -> Iterator[tuple[int, int, bytes]]:
        """``(column, row from the top, data)`` of every tile written at ``zoom``."""
        query = "SELECT tile_column, tile_row, tile_data FROM tiles WHERE zoom_level = ?"
        for x, row, data in self._db.execute(query, (zoom,)).fetchall():
            yield int(x), tms_row(self.grid, zoom, int(row)), bytes(data)

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


class MBTilesReader:
    """Read-only access to an MBTiles file (one connection; use one reader per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def __enter__(self) -> MBTilesReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def metadata(self) -> dict[str, str]:
        """The ``metadata`` table as a dict."""
        return {str(k): str(v) for k, v in self._db.execute("SELECT name, value FROM metadata")}

    def zoom_range(self) -> tuple[int, int] | None:
        """``(min, max)`` zoom level of the stored tiles, or None when there is none."""
        low, high = self._db.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
        return None if low is None else (int(low), int(high))

    def tile(self, grid: TileMatrixSet, zoom: int, column: int, row: int) -> bytes | None:
        """The encoded tile at ``zoom/column/row`` (row from the top), or None."""
        if not grid.minzoom <= zoom <= grid.maxzoom:
            return None
        matrix = grid.matrix(zoom)
        if not (0 <= column < matrix.matrixWidth and 0 <= row < matrix.matrixHeight):
            return None
        found = self._db.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (zoom, column, tms_row(grid, zoom, row)),
        ).fetchone()
        return bytes(found[0]) if found else None

    def keys(self, grid: TileMatrixSet) -> Iterator[tuple[int, int, int]]:
        """Every stored tile's ``(zoom, column, row from the top)``."""
        for z, x, row in self._db.execute("SELECT zoom_level, tile_column, tile_row FROM tiles"):
            yield int(z), int(x), tms_row(grid, int(z), int(row))

    def ranges(self, grid: TileMatrixSet) -> dict[int, tuple[int, int, int, int]]:
        """Per level, the ``(min col, max col, min row, max row)`` of the stored tiles (rows from the top)."""
        query = (
            "SELECT zoom_level, MIN(tile_column), MAX(tile_column), MIN(tile_row), MAX(tile_row) "
            "FROM tiles GROUP BY zoom_level"
        )
        ranges = {}
        for z, c0, c1, r0, r1 in self._db.execute(query).fetchall():
            z = int(z)
            ranges[z] = (int(c0), int(c1), tms_row(grid, z, int(r1)), tms_row(grid, z, int(r0)))
        return ranges

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
