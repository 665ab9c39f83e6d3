"""Updating an existing raster pyramid: its description, and drawing new tiles over its tiles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import box, mapping

from gpf_flow import tms as grids
from gpf_flow.processings.mbtiles import MBTilesReader, TileImage
from gpf_flow.processings.raster_mask import decode_tile


@dataclass(frozen=True)
class BasePyramid:
    """An existing pyramid being updated, as its metadata and stored-data entity describe it."""

    path: Path
    format: str
    tile_matrix_set: str
    top: int
    bottom: int
    bbox: tuple[float, float, float, float]
    extent: dict[str, Any] | None
    masked: bool = False
    """True when the pyramid records tile masks (its update keeps recording them)."""

    @classmethod
    def open(cls, path: Path, entity: Mapping[str, Any]) -> BasePyramid:
        """Describe the pyramid at ``path`` from its metadata and stored-data entity."""
        with MBTilesReader(path) as reader:
            meta = reader.metadata()
            masked = reader.has_masks
        infos = entity.get("type_infos") or {}
        levels = [int(z) for z in infos.get("levels") or []] or [int(meta["minzoom"]), int(meta["maxzoom"])]
        w, s, e, n = (float(v) for v in meta["bounds"].split(","))
        return cls(
            path=path,
            format=meta.get("format", ""),
            tile_matrix_set=meta.get("tile_matrix_set", "WebMercatorQuad"),
            top=min(levels),
            bottom=max(levels),
            bbox=(w, s, e, n),
            extent=entity.get("extent") or dict(mapping(box(w, s, e, n))),
            masked=masked,
        )


class BaseTiles:
    """Read access to the pyramid being updated, to draw new partial tiles over the old ones."""

    def __init__(self, path: str, tms_id: str) -> None:
        self._reader = MBTilesReader(Path(path))
        self._grid = grids.get(tms_id)

    def under(self, z: int, x: int, y: int, tile: TileImage) -> TileImage:
        """``tile`` drawn over the old tile (z, x, y) when it is not fully opaque."""
        if tile[..., -1].min() == 255:
            return tile
        data = self._reader.tile(self._grid, z, x, y)
        if data is None:
            return tile
        mode = "LA" if tile.shape[-1] == 2 else "RGBA"
        mask = self._reader.mask(self._grid, z, x, y)
        old = decode_tile(data, mask, mode).astype(np.float32)
        a = tile[..., -1:].astype(np.float32) / 255.0
        out = tile.astype(np.float32) * a + old * (1 - a)
        out[..., -1] = 255.0 * (a[..., 0] + old[..., -1] / 255.0 * (1 - a[..., 0]))
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def close(self) -> None:
        """Close the database."""
        self._reader.close()
