"""Rendering pyramid tiles: one aligned WarpedVRT per source group, window reads, Pillow encoding.

A job is a block of ``block``² tiles of the spec's bottom level, read at once from the WarpedVRT
(aligned on the bottom level's grid, so a tile is a plain window). When the levels up to the job
level nest as a quadtree (``block == 2 ** (bottom - job_level)``), they are halved (2×2 box
reduction on Pillow images, :mod:`raster_image`) and the job's root is the job-level tile;
otherwise the job renders its bottom level only. Roots travel as ``(256, 256, C)`` uint8 arrays
whose last channel is alpha (C = 2 or 4).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from gpf_flow import tms as grids
from gpf_flow.processings.base import ProcessingFailed
from gpf_flow.processings.mbtiles import TileImage
from gpf_flow.processings.raster_image import Picture, encode_tile, halve
from gpf_flow.processings.raster_mask import encode_mask
from gpf_flow.processings.raster_params import TILE_SIZE
from gpf_flow.processings.raster_update import BaseTiles

TileSink = Callable[[int, int, int, bytes], None]
"""Receives (zoom, column, row from the top, encoded tile)."""


@dataclass(frozen=True)
class RenderSpec:
    """Everything a :class:`Renderer` needs to render jobs (one renderer per render thread)."""

    vrts: list[tuple[str, int]]
    """(mosaic VRT path, alpha band index) per source group, drawn in order."""
    color_bands: int
    tms_id: str
    bottom: int
    job_level: int
    block: int
    """Bottom-level tiles per side of one job."""
    grid_x0: int
    """Bottom-level column of the grid's first tile."""
    grid_y0: int
    grid_width: int
    """Grid size in bottom-level tiles."""
    grid_height: int
    resampling: str
    compression: str
    base: str | None = None
    """An existing pyramid (MBTiles) being updated: new tiles are drawn over its tiles."""
    mask: bool = False
    """Record each tile's mask (JPEG pyramids with ``mask: true``)."""


def describe_error(exc: BaseException) -> str:
    """An exception's message with its causes (rasterio puts GDAL's real reason in ``__cause__``)."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 4:
        text = str(current).strip()
        if text and "See previous exception" not in text and text not in parts:
            parts.append(text)
        current = current.__cause__ or current.__context__
    return "; ".join(parts) or type(exc).__name__


def read_failure(exc: BaseException) -> ProcessingFailed:
    """The failure to report when rendering could not read the input rasters (GDAL's reason)."""
    return ProcessingFailed(f"reading the input rasters failed: {describe_error(exc)}")


def parent_from_children(children: dict[tuple[int, int], TileImage], channels: int) -> TileImage:
    """The parent tile from up to four children keyed by (dx, dy) in {0, 1}²."""
    canvas = np.zeros((2 * TILE_SIZE, 2 * TILE_SIZE, channels), dtype=np.uint8)
    for (dx, dy), img in children.items():
        canvas[dy * TILE_SIZE : (dy + 1) * TILE_SIZE, dx * TILE_SIZE : (dx + 1) * TILE_SIZE] = img
    return halve(canvas)


@dataclass
class JobResult:
    """What rendering one job produced."""

    root: TileImage | None
    """The job-level tile image (``None`` when the subtree holds no data)."""
    counts: dict[int, int]
    seconds: dict[int, float]


class Renderer:
    """Renders jobs for one :class:`RenderSpec`; open once per process."""

    def __init__(self, spec: RenderSpec) -> None:
        self.spec = spec
        self.tms = grids.get(spec.tms_id)
        self.factor = spec.block
        level = grids.level(self.tms, spec.bottom)
        self.matrices = {z: grids.level(self.tms, z) for z in range(spec.job_level, spec.bottom + 1)}
        left = level.left + spec.grid_x0 * level.span
        top = level.top - spec.grid_y0 * level.span
        transform = Affine(level.cell, 0, left, 0, -level.cell, top)
        self.channels = spec.color_bands + 1
        self.base = BaseTiles(spec.base, spec.tms_id) if spec.base else None
        self._sources = [rasterio.open(path) for path, _ in spec.vrts]
        self._vrts = [
            WarpedVRT(
                src,
                crs=self.tms.rasterio_crs,
                transform=transform,
                width=spec.grid_width * TILE_SIZE,
                height=spec.grid_height * TILE_SIZE,
                resampling=Resampling[spec.resampling],
                src_alpha=alpha,
            )
            for src, (_, alpha) in zip(self._sources, spec.vrts, strict=True)
        ]

    def close(self) -> None:
        """Close the WarpedVRTs, their sources and the base pyramid."""
        if self.base is not None:
            self.base.close()
        for vrt in self._vrts:
            vrt.close()
        for src in self._sources:
            src.close()

    def read_block(self, col: int, row: int, size_tiles: int) -> TileImage:
        """Read ``size_tiles``² bottom tiles from bottom-level tile (col, row): ``(C, H, W)`` bands."""
        window = Window(
            (col - self.spec.grid_x0) * TILE_SIZE,
            (row - self.spec.grid_y0) * TILE_SIZE,
            size_tiles * TILE_SIZE,
            size_tiles * TILE_SIZE,
        )
        out: TileImage | None = None
        for vrt in self._vrts:
            data = vrt.read(window=window)
            if out is None:
                out = data
            else:  # later groups are drawn over earlier ones ("over" compositing)
                a = data[-1:].astype(np.float32) / 255.0
                blended = data.astype(np.float32) * a + out.astype(np.float32) * (1 - a)
                blended[-1] = np.maximum(out[-1], data[-1])
                out = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        assert out is not None
        return out

    def render_job(self, jx: int, jy: int, sink: TileSink, mask_sink: TileSink | None = None) -> JobResult:
        """Render job (jx, jy): every level from the bottom to the job level (see the module doc).

        With a masked spec, the masks of tiles that are not fully opaque go to ``mask_sink``.
        """
        spec, f = self.spec, self.factor
        counts: dict[int, int] = {}
        seconds: dict[int, float] = {}
        t0 = time.perf_counter()
        bands = self.read_block(jx * f, jy * f, f)
        if not bands[-1].any():
            return JobResult(None, counts, seconds)
        picture = Picture.from_bands(bands)
        for level in range(spec.bottom, spec.job_level - 1, -1):
            n = f >> (spec.bottom - level)
            x0, y0 = jx * n, jy * n
            matrix = self.matrices[level]
            made = 0
            for ty in range(min(n, matrix.height - y0)):
                for tx in range(min(n, matrix.width - x0)):
                    box = (tx * TILE_SIZE, ty * TILE_SIZE, (tx + 1) * TILE_SIZE, (ty + 1) * TILE_SIZE)
                    if not picture.has_data(box):
                        continue
                    tile: TileImage | None = None
                    if self.base is not None and picture.alpha is not None:
                        tile = self.base.under(level, x0 + tx, y0 + ty, picture.array(box))
                        data = encode_tile(tile, spec.compression)
                    else:
                        data = picture.encode(box, spec.compression)
                    if data is None:
                        continue
                    sink(level, x0 + tx, y0 + ty, data)
                    made += 1
                    if spec.mask and mask_sink is not None and picture.alpha is not None:
                        mask = encode_mask(picture.array(box) if tile is None else tile)
                        if mask is not None:
                            mask_sink(level, x0 + tx, y0 + ty, mask)
            counts[level] = made
            if level > spec.job_level:
                picture = picture.halved()
            t1 = time.perf_counter()
            seconds[level] = t1 - t0
            t0 = t1
        return JobResult(picture.array() if picture.size == TILE_SIZE else None, counts, seconds)
