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

from gpf_flow.processings.disk_errors import sqlite_error
from gpf_flow.tms import tms_row

TileImage = NDArray[np.uint8]
"""A decoded tile: ``(height, width, C)`` uint8 whose last channel is alpha (C = 2 or 4)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metadata (name TEXT, value TEXT);
CREATE TABLE IF NOT EXISTS tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
"""
_MERGE_CHUNK = 2000
_MASK_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tile_masks "
    "(zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, mask_data BLOB)"
)
_MASK_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS tile_mask_index ON tile_masks (zoom_level, tile_column, tile_row)"
)
_KEY_NOT_IN_TILES = (
    "NOT EXISTS (SELECT 1 FROM main.tiles t WHERE t.zoom_level = m.zoom_level "
    "AND t.tile_column = m.tile_column AND t.tile_row = m.tile_row)"
)


class MBTilesWriter:
    """Writes tiles of ``grid`` into an MBTiles file; call :meth:`close` to index and commit."""

    def __init__(self, path: Path, grid: TileMatrixSet) -> None:
        self.path = path
        self.grid = grid
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, path) from exc
        # The file is a build artefact renamed into place at the end: durability is not needed.
        self._execute("PRAGMA journal_mode=OFF")
        self._execute("PRAGMA synchronous=OFF")
        self._execute_script(_SCHEMA)
        self._execute("BEGIN")
        self._pending = 0
        self._masks = False

    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        """Execute on the file; a full disk raises ``OSError(ENOSPC)`` naming the file."""
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path) from exc

    def _execute_script(self, script: str) -> None:
        try:
            self._db.executescript(script)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path) from exc

    def put(self, zoom: int, column: int, row: int, data: bytes) -> None:
        """Store one tile (``row`` counted from the top)."""
        values = (zoom, column, tms_row(self.grid, zoom, row), sqlite3.Binary(data))
        self._execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", values)
        self._pending += 1
        if self._pending >= 500:
            self.commit()

    def put_mask(self, zoom: int, column: int, row: int, data: bytes) -> None:
        """Store the mask of one tile (see :mod:`gpf_flow.processings.raster_mask`)."""
        if not self._masks:
            self._execute(_MASK_SCHEMA)
            self._masks = True
        values = (zoom, column, tms_row(self.grid, zoom, row), sqlite3.Binary(data))
        self._execute("INSERT INTO tile_masks VALUES (?, ?, ?, ?)", values)

    def commit(self) -> None:
        """Commit what was written so far."""
        self._execute("COMMIT")
        self._execute("BEGIN")
        self._pending = 0

    def index(self) -> None:
        """Create the unique tile index now (needed before :meth:`merge` with ``keep_existing``)."""
        self._execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS tile_index ON tiles (zoom_level, tile_column, tile_row)"
        )
        if self._masks:
            self._execute(_MASK_INDEX)

    def merge(self, part: Path, check_abort: Callable[[], None], *, keep_existing: bool = False) -> int:
        """Copy the tiles of another MBTiles-shaped file into this one; returns the count copied.

        With ``keep_existing`` (and :meth:`index` called first) tiles already here are kept, and
        so are their masks (a mask of the other file comes only with its tile).
        """
        verb = "INSERT OR IGNORE" if keep_existing else "INSERT"
        self.commit()
        self._execute("ATTACH DATABASE ? AS part", (str(part),))
        try:
            self._merge_masks(keep_existing)
            last = self._execute("SELECT COALESCE(MAX(rowid), 0) FROM part.tiles").fetchone()[0]
            copied = 0
            for start in range(0, last, _MERGE_CHUNK):
                check_abort()
                cur = self._execute(
                    f"{verb} INTO tiles SELECT zoom_level, tile_column, tile_row, tile_data "
                    "FROM part.tiles WHERE rowid > ? AND rowid <= ?",
                    (start, start + _MERGE_CHUNK),
                )
                copied += cur.rowcount
            self.commit()
        finally:
            self._execute("COMMIT")
            self._execute("DETACH DATABASE part")
            self._execute("BEGIN")
        return copied

    def _merge_masks(self, keep_existing: bool) -> None:
        """Copy the attached file's masks (before its tiles: ``keep_existing`` looks at ours)."""
        found = self._execute(
            "SELECT 1 FROM part.sqlite_master WHERE type = 'table' AND name = 'tile_masks'"
        ).fetchone()
        if found is None:
            return
        if not self._masks:
            self._execute(_MASK_SCHEMA)
            self._masks = True
        where = f"WHERE {_KEY_NOT_IN_TILES}" if keep_existing else ""
        self._execute(
            "INSERT INTO tile_masks SELECT zoom_level, tile_column, tile_row, mask_data "
            f"FROM part.tile_masks m {where}"
        )

    def set_metadata(self, values: Mapping[str, object]) -> None:
        """Replace the metadata entries given."""
        for name, value in values.items():
            self._execute("DELETE FROM metadata WHERE name = ?", (name,))
            self._execute("INSERT INTO metadata VALUES (?, ?)", (name, str(value)))

    def tiles(self, zoom: int) -> Iterator[tuple[int, int, bytes, bytes | None]]:
        """``(column, row from the top, data, mask or None)`` of every tile written at ``zoom``."""
        if self._masks:
            query = (
                "SELECT t.tile_column, t.tile_row, t.tile_data, m.mask_data FROM tiles t "
                "LEFT JOIN tile_masks m ON m.zoom_level = t.zoom_level "
                "AND m.tile_column = t.tile_column AND m.tile_row = t.tile_row WHERE t.zoom_level = ?"
            )
        else:
            query = "SELECT tile_column, tile_row, tile_data, NULL FROM tiles WHERE zoom_level = ?"
        for x, row, data, mask in self._db.execute(query, (zoom,)).fetchall():
            yield (
                int(x),
                tms_row(self.grid, zoom, int(row)),
                bytes(data),
                None if mask is None else bytes(mask),
            )

    def counts(self) -> dict[int, int]:
        """Tiles per zoom level."""
        rows: Iterable[tuple[int, int]] = self._execute(
            "SELECT zoom_level, COUNT(*) FROM tiles GROUP BY zoom_level"
        )
        return {int(z): int(n) for z, n in rows}

    def close(self, *, index: bool = True) -> None:
        """Commit, build the indexes (unless ``index`` is false) and close."""
        if index:
            self.index()
            self._execute("CREATE UNIQUE INDEX IF NOT EXISTS metadata_index ON metadata (name)")
        self._execute("COMMIT")
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
        self.has_masks = (
            self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tile_masks'"
            ).fetchone()
            is not None
        )
        """True when the file records tile masks (a JPEG pyramid built with ``mask: true``)."""

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

    def mask(self, grid: TileMatrixSet, zoom: int, column: int, row: int) -> bytes | None:
        """The mask of the tile at ``zoom/column/row`` (row from the top), or None (none recorded)."""
        if not self.has_masks or not grid.minzoom <= zoom <= grid.maxzoom:
            return None
        found = self._db.execute(
            "SELECT mask_data FROM tile_masks WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
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
