"""Processing "Calcul (ou mise à jour) de pyramide raster": RASTER upload → ``pyramid.mbtiles``.

Three steps. **Plan**: check the input rasters and mosaic them into one VRT per CRS; choose the
levels; cut them into *segments*, runs of levels that nest as a quadtree in the grid (PM, 2154_5cm:
one segment; LAMB93, whose cell sizes are not exact halves: one segment per level). **Render**:
each segment from the source, its jobs (subtrees two levels above its bottom, or blocks of its only
level) through one aligned WarpedVRT per render thread (:mod:`raster_threads`), the levels above
the jobs from their 2×2 children as results stream in (Morton order keeps few images in memory).
**Finalize**: keep the tiles of the pyramid being updated, write the metadata, rename the MBTiles
file into place.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import rasterio
import shapely
from morecantile import TileMatrixSet
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.warp import calculate_default_transform, transform_bounds
from shapely.geometry import box, mapping
from shapely.ops import unary_union

from gpf_flow import tms as grids
from gpf_flow.processings.base import ProcessingContext, ProcessingFailed, ProcessingResult
from gpf_flow.processings.disk_errors import write_failure
from gpf_flow.processings.mbtiles import MBTilesWriter, TileImage
from gpf_flow.processings.raster_coarse import from_level_below
from gpf_flow.processings.raster_image import encode_tile
from gpf_flow.processings.raster_inputs import (
    SourceGroup,
    find_rasters,
    group_by_crs,
    inspect_raster,
    write_mosaic_vrt,
)
from gpf_flow.processings.raster_levels import LevelStats, UpperLevels, morton_key
from gpf_flow.processings.raster_mask import MASK_METADATA, encode_mask, wants_masks
from gpf_flow.processings.raster_params import RasterPyramidParams, check_tiles, parse_params
from gpf_flow.processings.raster_render import Renderer, RenderSpec, read_failure
from gpf_flow.processings.raster_threads import RenderedJob, gdal_cache_mb, render_in_threads
from gpf_flow.processings.raster_update import BasePyramid, BaseTiles

OUTPUT_NAME = "pyramid.mbtiles"
PROGRESS_EVERY_S = 2.0
MAX_BOTTOM_TILES = 5_000_000
LEVEL_BLOCK = 4
"""Tiles per side of a job of a one-level segment (a 1024² window read)."""


Bounds = tuple[float, float, float, float]
Tile = tuple[int, int, int, TileImage]
"""(zoom, column, row from the top, image)."""


def _bounds_in(groups: list[SourceGroup], crs: Any) -> Bounds:
    """Union of the groups' bounds, in ``crs``."""
    boxes = [transform_bounds(g.crs, crs, *g.bounds, densify_pts=21) for g in groups]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _footprint(groups: list[SourceGroup]) -> dict[str, Any]:
    """Union of the input rasters' outlines, in EPSG:4326 (lon/lat), as GeoJSON."""
    from pyproj import Transformer

    shapes = []
    for g in groups:
        to_4326 = Transformer.from_crs(g.crs, "EPSG:4326", always_xy=True)

        def project(xy: np.ndarray[Any, Any], t: Transformer = to_4326) -> np.ndarray[Any, Any]:
            return np.column_stack(t.transform(xy[:, 0], xy[:, 1]))

        for f in g.files:
            step = max(f.bounds[2] - f.bounds[0], f.bounds[3] - f.bounds[1]) / 20
            outline = shapely.segmentize(box(*f.bounds), step)
            shapes.append(shapely.transform(outline, project))
    # ~1 cm tolerance drops the densification points of straight-ish edges; JSON round trip → lists.
    return dict(json.loads(json.dumps(mapping(unary_union(shapes).simplify(1e-7)))))


def _native_level(groups: list[SourceGroup], tms: TileMatrixSet) -> int:
    """The level whose cell size is nearest (in ratio) the finest input's resolution in the grid's CRS."""
    best = None
    for g in groups:
        width = round((g.bounds[2] - g.bounds[0]) / g.files[0].res[0])
        height = round((g.bounds[3] - g.bounds[1]) / g.files[0].res[1])
        transform, _, _ = calculate_default_transform(g.crs, tms.rasterio_crs, width, height, *g.bounds)
        res = abs(transform.a)
        best = res if best is None else min(best, res)
    assert best is not None
    levels = range(tms.minzoom, tms.maxzoom + 1)
    return min(levels, key=lambda z: abs(math.log(tms.matrix(z).cellSize / best)))


def _levels(params: RasterPyramidParams, groups: list[SourceGroup], tms: TileMatrixSet) -> tuple[int, int]:
    bottom = params.bottom_level if params.bottom_level is not None else _native_level(groups, tms)
    top = params.top_level if params.top_level is not None else tms.minzoom
    if not tms.minzoom <= top <= bottom <= tms.maxzoom:
        raise ProcessingFailed(
            f"levels must satisfy {tms.minzoom} <= top_level <= bottom_level <= {tms.maxzoom} "
            f"for {params.tms_name}; got top_level={top}, bottom_level={bottom}"
        )
    check_tiles(tms, params.tms_name, top, bottom)
    return bottom, top


def _segments(tms: TileMatrixSet, top: int, bottom: int) -> list[tuple[int, int]]:
    """``(top, bottom)`` of the runs of levels that nest as a quadtree, finest first."""
    out = []
    z = bottom
    while z >= top:
        seg_bottom = z
        while z > top and grids.nests(tms, z):
            z -= 1
        out.append((z, seg_bottom))
        z -= 1
    return out


@dataclass
class Segment:
    """Levels ``top..bottom`` rendered in one pass from the source."""

    top: int
    bottom: int
    spec: RenderSpec
    jobs: list[tuple[int, int]]

    @property
    def quadtree(self) -> bool:
        """True when the job roots feed the levels above the jobs (``UpperLevels``)."""
        return self.spec.block == 2 ** (self.bottom - self.spec.job_level)


@dataclass
class Plan:
    """What the build will do, decided before any tile is rendered."""

    groups: list[SourceGroup]
    top: int
    bottom: int
    lonlat: Bounds
    segments: list[Segment]
    base: BasePyramid | None


def _segment(
    params: RasterPyramidParams,
    groups: list[SourceGroup],
    bounds: Bounds,
    top: int,
    bottom: int,
    base: BasePyramid | None,
) -> Segment | None:
    tms = params.tms
    if bottom > top:
        job_level = max(top, bottom - 2)
        block = 2 ** (bottom - job_level)
        found = grids.level(tms, job_level).tile_range(bounds)
        if found is None:
            return None
        x0, y0, x1, y1 = found
    else:
        job_level, block = bottom, LEVEL_BLOCK
        found = grids.level(tms, bottom).tile_range(bounds)
        if found is None:
            return None
        x0, y0, x1, y1 = (v // block for v in found)
    if (x1 - x0 + 1) * (y1 - y0 + 1) * block * block > MAX_BOTTOM_TILES:
        raise ProcessingFailed(
            f"level {bottom} would need more than {MAX_BOTTOM_TILES} tiles; choose a lower bottom_level"
        )
    jobs = sorted(product(range(x0, x1 + 1), range(y0, y1 + 1)), key=morton_key)
    spec = RenderSpec(
        vrts=[(str(g.vrt), g.alpha_band) for g in groups],
        color_bands=groups[0].color_bands,
        tms_id=params.tms_id,
        bottom=bottom,
        job_level=job_level,
        block=block,
        grid_x0=x0 * block,
        grid_y0=y0 * block,
        grid_width=(x1 - x0 + 1) * block,
        grid_height=(y1 - y0 + 1) * block,
        resampling=params.resampling,
        compression=params.compression,
        base=str(base.path) if base else None,
        mask=wants_masks(params.mask, params.compression) or (base is not None and base.masked),
    )
    return Segment(top, bottom, spec, jobs)


class _Build:
    """State of one pyramid build (kept in one object so that cleanup is in one place)."""

    def __init__(self, ctx: ProcessingContext, params: RasterPyramidParams) -> None:
        self.ctx, self.params = ctx, params
        self.tms = params.tms
        self.scratch = ctx.output_dir / ".pyramid-work"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.stats = LevelStats()
        self.jobs_done = 0
        self.n_jobs = 0
        self.last_progress = time.monotonic()
        self.last_total = -1
        self.started = time.monotonic()

    def inputs(self) -> list[SourceGroup]:
        """Check the upload's rasters and mosaic them into one VRT per CRS."""
        ctx = self.ctx
        folders = [u.path for u in ctx.uploads] + [s.path for s in ctx.stored_data]
        paths = find_rasters([u.path for u in ctx.uploads])
        if not paths:
            raise ProcessingFailed(
                "no raster file found in the input upload(s) "
                f"(looked for .tif, .tiff, .jp2, .png, .jpg, .vrt... under {', '.join(map(str, folders))})"
            )
        declared = next((u.entity.get("srs") for u in ctx.uploads if u.entity.get("srs")), None)
        files = []
        for path in paths:
            ctx.check_abort()
            files.append(inspect_raster(path, declared, ctx.log))
        groups = []
        for i, members in enumerate(group_by_crs(files)):
            groups.append(write_mosaic_vrt(members, self.scratch / f"mosaic-{i}.vrt"))
        for g in groups:
            name = g.crs.to_string() or "custom CRS"
            ctx.log(
                f"read {len(g.files)} raster(s) in {name}: bounds {', '.join(f'{v:.2f}' for v in g.bounds)}, "
                f"{g.color_bands} colour band(s), resolution {g.files[0].res[0]:g}"
            )
        if len(groups) > 1:
            ctx.log(f"inputs use {len(groups)} different CRS: each group is warped separately and composited")
        return groups

    def progress(self, force: bool = False) -> None:
        """Log a progress line every few seconds (or now, if ``force``)."""
        now = time.monotonic()
        total = sum(self.stats.counts.values())
        if (force and total != self.last_total) or now - self.last_progress >= PROGRESS_EVERY_S:
            self.last_progress, self.last_total = now, total
            rate = total / max(now - self.started, 1e-6)
            per_level = ", ".join(f"{z}: {n}" for z, n in sorted(self.stats.counts.items(), reverse=True))
            self.ctx.log(
                f"progress: {self.jobs_done}/{self.n_jobs} jobs, {total} tiles ({per_level}), "
                f"{rate:.0f} tiles/s"
            )

    def build(self) -> ProcessingResult:
        """Plan, render and finalize; return the result for the stored data."""
        plan = self.plan()
        tmp = self.ctx.output_dir / (OUTPUT_NAME + ".part")
        writer = MBTilesWriter(tmp, self.tms)
        base_tiles = BaseTiles(str(plan.base.path), self.params.tms_id) if plan.base else None
        try:
            for segment in plan.segments:
                one_level = segment.top == segment.bottom < plan.bottom
                if one_level and self.from_below(segment, writer, base_tiles):
                    continue
                self.render(segment, writer, base_tiles)
            self.progress(force=True)
            for z in range(plan.bottom, plan.top - 1, -1):
                self.ctx.log(
                    f"level {z}: {self.stats.counts.get(z, 0)} tiles, "
                    f"{self.stats.seconds.get(z, 0.0):.2f} s of work"
                )
            result = self.finalize(plan, writer)
        except BaseException:
            writer.abandon()
            tmp.unlink(missing_ok=True)
            raise
        finally:
            if base_tiles is not None:
                base_tiles.close()
        tmp.replace(self.ctx.output_dir / OUTPUT_NAME)
        return result

    def plan(self) -> Plan:
        """Inputs, levels, segments and jobs."""
        params, tms = self.params, self.tms
        groups = self.inputs()
        if len({g.color_bands for g in groups}) > 1:
            raise ProcessingFailed("inputs mix grey and RGB rasters; deliver them as separate uploads")
        bottom, top = _levels(params, groups, tms)
        base = self.base_pyramid()
        bounds = _bounds_in(groups, tms.rasterio_crs)
        segments = []
        for seg_top, seg_bottom in _segments(tms, top, bottom):
            segment = _segment(params, groups, bounds, seg_top, seg_bottom, base)
            if segment is not None:
                segments.append(segment)
        if not segments:
            raise ProcessingFailed(f"the inputs lie outside tile matrix set {params.tms_name}")
        self.n_jobs = sum(len(seg.jobs) for seg in segments)
        if segments[0].spec.mask:
            self.ctx.log("masks: each JPEG tile not fully covered records where it holds data")
        elif params.mask:
            self.ctx.log("masks: the tiles' own alpha channel (PNG) records where they hold data")
        west, south, east, north = lonlat = _bounds_in(groups, "EPSG:4326")
        cut = ", ".join(f"{seg.top}-{seg.bottom}" for seg in segments)
        self.ctx.log(
            f"pyramid {params.tms_name} ({params.tms_id}) levels {top}-{bottom}, {params.compression}, "
            f"{params.resampling}; extent lon/lat {west:.6f}, {south:.6f}, {east:.6f}, {north:.6f}; "
            f"{self.n_jobs} job(s) in {len(segments)} pass(es) over levels {cut}"
        )
        return Plan(groups, top, bottom, lonlat, segments, base)

    def emit(self, segment: Segment, writer: MBTilesWriter, base_tiles: BaseTiles | None, tile: Tile) -> bool:
        """Encode and write one tile made here (drawn over the updated pyramid's); False if it is empty."""
        z, x, y, image = tile
        t0 = time.perf_counter()
        drawn = base_tiles.under(z, x, y, image) if base_tiles is not None else image
        data = encode_tile(drawn, self.params.compression)
        if data is not None:
            writer.put(z, x, y, data)
            if segment.spec.mask and (mask := encode_mask(drawn)) is not None:
                writer.put_mask(z, x, y, mask)
        self.stats.add({z: int(data is not None)}, {z: time.perf_counter() - t0})
        return data is not None

    def from_below(self, segment: Segment, writer: MBTilesWriter, base_tiles: BaseTiles | None) -> bool:
        """Make a one-level segment from the level below already written, when that one is small."""
        z = segment.top

        def emit(z: int, x: int, y: int, image: TileImage) -> bool:
            return self.emit(segment, writer, base_tiles, (z, x, y, image))

        if not from_level_below(self.tms, z, writer, segment.spec.color_bands + 1, emit):
            return False
        self.ctx.log(f"level {z}: made from level {z + 1} (not a 2×2 step of it)")
        return True

    def render(self, segment: Segment, writer: MBTilesWriter, base_tiles: BaseTiles | None) -> None:
        """Render one segment: its jobs, then the levels above them up to the segment's top."""
        spec = segment.spec

        def emit(z: int, x: int, y: int, image: TileImage) -> bool:
            return self.emit(segment, writer, base_tiles, (z, x, y, image))

        upper = None
        if segment.quadtree and spec.job_level > segment.top:
            upper = UpperLevels(segment.jobs, spec.job_level, segment.top, spec.color_bands + 1, emit)

        def job_done(job: tuple[int, int], root: TileImage | None) -> None:
            self.jobs_done += 1
            if upper is not None:
                upper.add(spec.job_level, job[0], job[1], root)
            self.progress()

        threads = min(max(1, self.ctx.workers), os.cpu_count() or 1, len(segment.jobs))
        if threads > 1:
            self._run_threads(threads, spec, segment.jobs, writer, job_done)
        else:
            self._run_here(spec, segment.jobs, writer, job_done)

    def finalize(self, plan: Plan, writer: MBTilesWriter) -> ProcessingResult:
        """Keep the updated pyramid's other tiles, write the metadata, close; the stored data's result."""
        ctx, params, base = self.ctx, self.params, plan.base
        top, bottom = plan.top, plan.bottom
        west, south, east, north = plan.lonlat
        if base is not None:
            writer.index()
            kept = writer.merge(base.path, ctx.check_abort, keep_existing=True)
            ctx.log(f"update: kept {kept} tiles of the previous pyramid outside the new data")
            top, bottom = min(top, base.top), max(bottom, base.bottom)
            west, south = min(west, base.bbox[0]), min(south, base.bbox[1])
            east, north = max(east, base.bbox[2]), max(north, base.bbox[3])
        counts = writer.counts()
        if not counts:
            raise ProcessingFailed("the inputs hold no valid pixel (everything is nodata or transparent)")
        masked = any(segment.spec.mask for segment in plan.segments)
        crs = CRS.from_user_input(self.tms.rasterio_crs).to_string()
        writer.set_metadata(
            {
                "name": (ctx.output_entity or {}).get("name", "pyramid"),
                "format": params.tile_format,
                "bounds": f"{west},{south},{east},{north}",
                "center": f"{(west + east) / 2},{(south + north) / 2},{top}",
                "minzoom": min(counts),
                "maxzoom": max(counts),
                "type": "baselayer",
                "version": "1.3",
                "description": f"ROK4-PYRAMID-RASTER built by gpf-flow ({params.resampling})",
                "tms": params.tms_name,
                "tile_matrix_set": params.tms_id,
                "crs": crs,
                **({MASK_METADATA: "true"} if masked else {}),
            }
        )
        writer.close()
        extent = _footprint(plan.groups)
        if base is not None and base.extent is not None:
            merged = unary_union([shapely.geometry.shape(extent), shapely.geometry.shape(base.extent)])
            extent = dict(json.loads(json.dumps(mapping(merged))))
        elapsed = time.monotonic() - self.started
        total = sum(counts.values())
        ctx.log(
            f"wrote {total} tiles into {OUTPUT_NAME} in {elapsed:.1f} s "
            f"({total / max(elapsed, 1e-6):.0f} tiles/s)"
        )
        return ProcessingResult(
            type_infos={
                "tms": params.tms_name,
                "levels": [str(z) for z in range(top, bottom + 1)],
                "bottom_level": str(bottom),
                "top_level": str(top),
                "bbox": [west, south, east, north],
                "format": params.mime,
                "tiles": {str(z): counts.get(z, 0) for z in range(top, bottom + 1)},
                "file": OUTPUT_NAME,
            },
            srs=crs,
            extent=extent,
        )

    def _run_here(
        self,
        spec: RenderSpec,
        jobs: list[tuple[int, int]],
        writer: MBTilesWriter,
        job_done: Callable[[tuple[int, int], TileImage | None], None],
    ) -> None:
        # A bounded block cache: GDAL's default (5 % of the memory) grows with the mosaic.
        # Through rasterio.Env the value is in bytes (a bare 128 would mean 128 bytes: no cache).
        renderer = Renderer(spec)
        try:
            with rasterio.Env(GDAL_CACHEMAX=gdal_cache_mb(1) << 20):
                for job in jobs:
                    self.ctx.check_abort()
                    try:
                        result = renderer.render_job(job[0], job[1], writer.put, writer.put_mask)
                    except RasterioError as exc:
                        raise read_failure(exc) from None
                    self.stats.add(result.counts, result.seconds)
                    job_done(job, result.root)
        finally:
            renderer.close()

    def _run_threads(
        self,
        threads: int,
        spec: RenderSpec,
        jobs: list[tuple[int, int]],
        writer: MBTilesWriter,
        job_done: Callable[[tuple[int, int], TileImage | None], None],
    ) -> None:
        cache_mb = gdal_cache_mb(threads)
        self.ctx.log(f"rendering with {threads} threads, one GDAL block cache of {cache_mb} MB")

        def on_done(done: RenderedJob) -> None:
            for tile in done.tiles:
                writer.put(*tile)
            for mask in done.masks:
                writer.put_mask(*mask)
            self.stats.add(done.result.counts, done.result.seconds)
            job_done(done.job, done.result.root)

        with rasterio.Env(GDAL_CACHEMAX=cache_mb << 20):
            render_in_threads(spec, jobs, threads, on_done, self.ctx.is_aborted)

    def base_pyramid(self) -> BasePyramid | None:
        """The pyramid being updated: an input stored data's, else the one already in the output."""
        candidates = [(s.path / OUTPUT_NAME, s.entity) for s in self.ctx.stored_data]
        candidates.append((self.ctx.output_dir / OUTPUT_NAME, self.ctx.output_entity or {}))
        for path, entity in candidates:
            if path.is_file():
                base = BasePyramid.open(path, entity)
                if base.format != self.params.tile_format or base.tile_matrix_set != self.params.tms_id:
                    raise ProcessingFailed(
                        f"cannot update a {base.tile_matrix_set} {base.format} pyramid with "
                        f"tms={self.params.tms_name}, compression={self.params.compression}; "
                        "use the same tms and compression as the pyramid being updated"
                    )
                self.ctx.log(
                    f"update of an existing pyramid (levels {base.top}-{base.bottom}): "
                    "new data is drawn over it, its other tiles are kept"
                )
                return base
        if self.ctx.stored_data:
            self.ctx.log(
                "WARNING the input stored data holds no pyramid.mbtiles; building from the upload(s) only"
            )
        return None

    def cleanup(self) -> None:
        """Remove the scratch folder (VRTs, worker parts)."""
        shutil.rmtree(self.scratch, ignore_errors=True)


def run(ctx: ProcessingContext) -> ProcessingResult:
    """Build (or update) a raster tile pyramid (MBTiles) from the RASTER upload(s) of the execution."""
    params = parse_params(ctx.parameters)
    try:
        build = _Build(ctx, params)
        try:
            return build.build()
        finally:
            build.cleanup()
    except OSError as exc:  # a full disk or a permission: say which file, and why
        raise write_failure(exc) from None
