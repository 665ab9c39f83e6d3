"""Read-only access to a published MBTiles pyramid, shared by the services (XYZ rows everywhere)."""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from morecantile import TileMatrixSet
from numpy.typing import NDArray

from gpf_flow import tms as grids
from gpf_flow.processings.mbtiles import MBTilesReader
from gpf_flow.processings.raster_mask import decode_tile
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
    """Id of the pyramid's grid in :mod:`gpf_flow.tms`."""
    top_cut: bool = False
    """True when a configuration's ``top_level`` hides stored levels above it."""
    masked: bool = False
    """True when the pyramid records tile masks (JPEG built with ``mask: true``)."""

    @property
    def grid(self) -> TileMatrixSet:
        """The pyramid's tile matrix set."""
        return grids.get(self.tile_matrix_set)

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

    def restricted(self, top: int | None, bottom: int | None) -> MBTiles:
        """The same file served between levels ``top`` and ``bottom`` only (a configuration's choice)."""
        low = self.info.minzoom if top is None else max(self.info.minzoom, top)
        high = self.info.maxzoom if bottom is None else min(self.info.maxzoom, bottom)
        if (low, high) == (self.info.minzoom, self.info.maxzoom) or low > high:
            return self
        view = MBTiles.__new__(MBTiles)
        view.path, view._local = self.path, self._local
        view.info = dataclasses.replace(self.info, minzoom=low, maxzoom=high, top_cut=low > self.info.minzoom)
        return view

    def _reader(self) -> MBTilesReader:
        reader: MBTilesReader | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = MBTilesReader(self.path)
            self._local.reader = reader
        return reader

    def _read_info(self) -> PyramidInfo:
        rows = self._reader().metadata()
        fmt = FORMATS.get(str(rows.get("format", "png")).lower(), "image/png")
        bounds_text = str(rows.get("bounds") or "-180,-85.0511,180,85.0511")
        west, south, east, north = (float(v) for v in bounds_text.split(","))
        levels = self._reader().zoom_range() or (0, 0)
        return PyramidInfo(
            format=fmt,
            bounds=(west, south, east, north),
            minzoom=int(rows.get("minzoom", levels[0])),
            maxzoom=int(rows.get("maxzoom", levels[1])),
            tile_matrix_set=str(rows.get("tile_matrix_set") or "WebMercatorQuad"),
            masked=self._reader().has_masks,
        )

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile at ``z/x/y`` (row 0 at the top), or None if the pyramid has none there."""
        if not self.info.minzoom <= z <= self.info.maxzoom:
            return None
        return self._reader().tile(self.info.grid, z, x, y)

    def image(self, z: int, x: int, y: int) -> NDArray[np.uint8] | None:
        """The tile at ``z/x/y`` decoded as RGBA, transparent where its mask says there is no data."""
        data = self.tile(z, x, y)
        if data is None:
            return None
        mask = self._reader().mask(self.info.grid, z, x, y) if self.info.masked else None
        return decode_tile(data, mask)

    @functools.cached_property
    def ranges(self) -> dict[int, tuple[int, int, int, int]]:
        """Per level, the ``(min col, max col, min row, max row)`` of the stored tiles (rows from the top).

        Computed once: a pyramid file is replaced, never edited, once written.
        """
        ranges = self._reader().ranges(self.info.grid)
        return {z: r for z, r in ranges.items() if self.info.minzoom <= z <= self.info.maxzoom}


def pyramid_entry(layer: PublishedLayer) -> tuple[Path, Mapping[str, Any]] | None:
    """The MBTiles file of the layer's first pyramid stored data, with its ``used_data`` entry."""
    for used in layer.used_data:
        name = (used.stored_data.get("type_infos") or {}).get("file") or "pyramid.mbtiles"
        path = used.path / str(name)
        if path.is_file():
            return path, used.spec
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
        """The opened pyramid of a published layer (within its configured levels), or None."""
        found = pyramid_entry(layer)
        if found is None:
            return None
        path, spec = found
        return self.get(path).restricted(_level(spec.get("top_level")), _level(spec.get("bottom_level")))


def _level(value: object) -> int | None:
    try:
        return None if value in (None, "") else int(str(value))
    except ValueError:
        return None
