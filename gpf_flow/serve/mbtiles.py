"""Read-only access to an MBTiles pyramid (TMS rows on disk, XYZ rows in the API)."""

from __future__ import annotations

import functools
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from gpf_flow.serve.published import PublishedLayer

FORMATS = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "pbf": "application/x-protobuf"}
EXTENSIONS = {"image/jpeg": "jpeg", "image/png": "png", "application/x-protobuf": "pbf"}


@dataclass(frozen=True)
class PyramidInfo:
    """What the ``metadata`` table says about a pyramid."""

    format: str
    """Media type of the tiles."""
    bounds: tuple[float, float, float, float]
    """lon/lat bounds."""
    minzoom: int
    maxzoom: int
    tile_matrix_set: str = "WebMercatorQuad"
    """morecantile id of the pyramid's grid; the services serve WebMercatorQuad (PM) pyramids."""

    @property
    def is_pm(self) -> bool:
        """True for a WebMercatorQuad (PM) pyramid, the only grid the services know."""
        return self.tile_matrix_set == "WebMercatorQuad"

    @property
    def extension(self) -> str:
        """File extension of the tiles (``jpeg``, ``png`` or ``pbf``)."""
        return EXTENSIONS.get(self.format, "png")


class MBTiles:
    """One MBTiles file; a connection per thread, opened read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self.info = self._read_info()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.conn = conn
        return conn

    def _read_info(self) -> PyramidInfo:
        rows = dict(self._conn().execute("SELECT name, value FROM metadata").fetchall())
        fmt = FORMATS.get(str(rows.get("format", "png")).lower(), "image/png")
        bounds_text = str(rows.get("bounds") or "-180,-85.0511,180,85.0511")
        west, south, east, north = (float(v) for v in bounds_text.split(","))
        levels = self._conn().execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
        minzoom = int(rows.get("minzoom", levels[0] if levels[0] is not None else 0))
        maxzoom = int(rows.get("maxzoom", levels[1] if levels[1] is not None else 0))
        return PyramidInfo(
            format=fmt,
            bounds=(west, south, east, north),
            minzoom=minzoom,
            maxzoom=maxzoom,
            tile_matrix_set=str(rows.get("tile_matrix_set") or "WebMercatorQuad"),
        )

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile at XYZ ``z/x/y`` (row 0 at the top), or None if the pyramid has none there."""
        if z < 0 or x < 0 or y < 0 or x >= 1 << z or y >= 1 << z:
            return None
        row = (
            self._conn()
            .execute(
                "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                (z, x, (1 << z) - 1 - y),
            )
            .fetchone()
        )
        return bytes(row[0]) if row else None

    @functools.cached_property
    def ranges(self) -> dict[int, tuple[int, int, int, int]]:
        """Per level, the XYZ ``(min col, max col, min row, max row)`` of the stored tiles.

        Computed once: a pyramid file is replaced, never edited, once written.
        """
        ranges = {}
        query = (
            "SELECT zoom_level, MIN(tile_column), MAX(tile_column), MIN(tile_row), MAX(tile_row) "
            "FROM tiles GROUP BY zoom_level"
        )
        for z, c0, c1, r0, r1 in self._conn().execute(query).fetchall():
            top = (1 << z) - 1
            ranges[int(z)] = (int(c0), int(c1), top - int(r1), top - int(r0))
        return ranges


def pyramid_path(layer: PublishedLayer) -> Path | None:
    """The MBTiles file of the layer's first pyramid stored data."""
    for used in layer.used_data:
        name = (used.stored_data.get("type_infos") or {}).get("file") or "pyramid.mbtiles"
        path = used.path / str(name)
        if path.is_file():
            return path
    return None


class PyramidCache:
    """Opened pyramids by path, re-opened when the file changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[Path, tuple[float, MBTiles]] = {}

    def get(self, path: Path) -> MBTiles:
        """The opened pyramid at ``path`` (re-opened if the file was replaced)."""
        mtime = path.stat().st_mtime
        with self._lock:
            item = self._items.get(path)
            if item is not None and item[0] == mtime:
                return item[1]
        pyramid = MBTiles(path)
        with self._lock:
            self._items[path] = (mtime, pyramid)
        return pyramid

    def of(self, layer: PublishedLayer) -> MBTiles | None:
        """The opened pyramid of a published layer, or None when its stored data holds none."""
        path = pyramid_path(layer)
        return self.get(path) if path is not None else None
