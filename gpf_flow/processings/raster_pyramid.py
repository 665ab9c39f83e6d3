"""Processing "Calcul (ou mise à jour) de pyramide raster": RASTER upload → ``pyramid.mbtiles``.

Steps: check the input rasters and mosaic them into one VRT per CRS; choose the levels; render
jobs (subtrees two levels above the bottom) through one aligned WarpedVRT per process; build the
levels above the jobs from their 2×2 children as results stream in (Morton order keeps few images
in memory); write everything into an MBTiles file renamed into place at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from morecantile import TileMatrixSet
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.warp import calculate_default_transform, transform_bounds
from shapely.geometry import box, mapping
from shapely.ops import unary_union

from gpf_flow.processings.base import ProcessingContext, ProcessingFailed, ProcessingResult
from gpf_flow.processings.mbtiles import MBTilesWriter
from gpf_flow.processings.raster_inputs import (
    SourceGroup,
    find_rasters,
    group_by_crs,
    inspect_raster,
    write_mosaic_vrt,
)
from gpf_flow.processings.raster_levels import LevelStats, UpperLevels, morton_key
from gpf_flow.processings.raster_params import RasterPyramidParams, check_quadtree, parse_params
from gpf_flow.processings.raster_render import (
    Renderer,
    RenderSpec,
    TileImage,
    describe_error,
    encode_tile,
)
from gpf_flow.processings.raster_update import BasePyramid, BaseTiles
from gpf_flow.processings.raster_worker import WorkerPool, load_root

OUTPUT_NAME = "pyramid.mbtiles"
# Below this many bottom tiles (about 1.5 s of work) starting worker processes costs more than it saves.
MIN_BOTTOM_TILES_FOR_PROCESSES = 128
PROGRESS_EVERY_S = 2.0
MAX_BOTTOM_TILES = 5_000_000


def _lonlat_bounds(groups: list[SourceGroup]) -> tuple[float, float, float, float]:
    boxes = [transform_bounds(g.crs, "EPSG:4326", *g.bounds, densify_pts=21) for g in groups]
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
    """The level whose resolution best matches the finest input (morecantile's choice)."""
    best = None
    for g in groups:
        width = round((g.bounds[2] - g.bounds[0]) / g.files[0].res[0])
        height = round((g.bounds[3] - g.bounds[1]) / g.files[0].res[1])
        transform, _, _ = calculate_default_transform(g.crs, tms.rasterio_crs, width, height, *g.bounds)
        res = abs(transform.a)
        best = res if best is None else min(best, res)
    assert best is not None
    return int(tms.zoom_for_res(best))


def _levels(params: RasterPyramidParams, groups: list[SourceGroup], tms: TileMatrixSet) -> tuple[int, int]:
    bottom = params.bottom_level if params.bottom_level is not None else _native_level(groups, tms)
    top = params.top_level if params.top_level is not None else 0
    if not tms.minzoom <= top <= bottom <= tms.maxzoom:
        raise ProcessingFailed(
            f"levels must satisfy {tms.minzoom} <= top_level <= bottom_level <= {tms.maxzoom} "
            f"for {params.tms_name}; got top_level={top}, bottom_level={bottom}"
        )
    check_quadtree(tms, top, bottom)
    return bottom, top


class _Build:
    """State of one pyramid build (kept in one object so that cleanup is in one place)."""

    def __init__(self, ctx: ProcessingContext, params: RasterPyramidParams) -> None:
        self.ctx, self.params = ctx, params
        self.tms = params.tms
        self.scratch = ctx.output_dir / ".pyramid-work"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.stats = LevelStats()
        self.jobs_done = 0
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
        """Run the whole build and return the result for the stored data."""
        ctx, params, tms = self.ctx, self.params, self.tms
        groups = self.inputs()
        bottom, top = _levels(params, groups, tms)
        job_level = max(top, bottom - 2)
        factor = 2 ** (bottom - job_level)
        west, south, east, north = _lonlat_bounds(groups)
        base = self.base_pyramid()
        jobs = sorted({(t.x, t.y) for t in tms.tiles(west, south, east, north, [job_level])}, key=morton_key)
        self.n_jobs = len(jobs)
        if not jobs:
            raise ProcessingFailed(f"the inputs lie outside tile matrix set {params.tms_name}")
        jx0, jx1 = min(j[0] for j in jobs), max(j[0] for j in jobs)
        jy0, jy1 = min(j[1] for j in jobs), max(j[1] for j in jobs)
        if (jx1 - jx0 + 1) * (jy1 - jy0 + 1) * factor * factor > MAX_BOTTOM_TILES:
            raise ProcessingFailed(
                f"bottom level {bottom} would need more than {MAX_BOTTOM_TILES} tiles; "
                "choose a lower bottom_level"
            )
        ctx.log(
            f"pyramid {params.tms_name} ({tms.id}) levels {top}-{bottom}, {params.compression}, "
            f"{params.resampling}; extent lon/lat {west:.6f}, {south:.6f}, {east:.6f}, {north:.6f}; "
            f"{len(jobs)} job(s) of level {job_level}"
        )
        spec = RenderSpec(
            vrts=[(str(g.vrt), g.alpha_band) for g in groups],
            color_bands=groups[0].color_bands,
            tms_id=params.tms_id,
            bottom=bottom,
            job_level=job_level,
            grid_x0=jx0 * factor,
            grid_y0=jy0 * factor,
            grid_width=(jx1 - jx0 + 1) * factor,
            grid_height=(jy1 - jy0 + 1) * factor,
            resampling=params.resampling,
            compression=params.compression,
            base=str(base.path) if base else None,
        )
        if len({g.color_bands for g in groups}) > 1:
            raise ProcessingFailed("inputs mix grey and RGB rasters; deliver them as separate uploads")
        heights = {z: tms.matrix(z).matrixHeight for z in range(top, bottom + 1)}
        tmp = ctx.output_dir / (OUTPUT_NAME + ".part")
        writer = MBTilesWriter(tmp)
        base_tiles = BaseTiles(str(base.path), params.tms_id) if base else None
        try:
            upper_seconds: dict[int, float] = {}

            def emit(z: int, x: int, y: int, image: TileImage) -> bool:
                t0 = time.perf_counter()
                drawn = base_tiles.under(z, x, y, image) if base_tiles is not None else image
                data = encode_tile(drawn, params.compression)
                if data is not None:
                    writer.put(z, x, heights[z] - 1 - y, data)
                    self.stats.add({z: 1}, {})
                upper_seconds[z] = upper_seconds.get(z, 0.0) + time.perf_counter() - t0
                return data is not None

            upper = UpperLevels(jobs, job_level, top, spec.color_bands + 1, emit)

            def job_done(job: tuple[int, int], root: TileImage | None) -> None:
                self.jobs_done += 1
                upper.add(job_level, job[0], job[1], root)
                self.progress()

            processes = min(max(1, ctx.workers), os.cpu_count() or 1, len(jobs))
            if processes > 1 and len(jobs) * factor * factor >= MIN_BOTTOM_TILES_FOR_PROCESSES:
                self._run_processes(processes, spec, jobs, writer, job_done)
            else:
                self._run_here(spec, jobs, writer, heights, job_done)
            self.stats.add({}, upper_seconds)
            self.progress(force=True)
            for z in range(bottom, top - 1, -1):
                ctx.log(
                    f"level {z}: {self.stats.counts.get(z, 0)} tiles, "
                    f"{self.stats.seconds.get(z, 0.0):.2f} s of work"
                )
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
                    "tile_matrix_set": tms.id,
                    "crs": tms.rasterio_crs.to_string(),
                }
            )
            writer.close()
        except BaseException:
            writer.abandon()
            if base_tiles is not None:
                base_tiles.close()
            tmp.unlink(missing_ok=True)
            raise
        if base_tiles is not None:
            base_tiles.close()
        tmp.replace(ctx.output_dir / OUTPUT_NAME)
        extent = _footprint(groups)
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
            srs=CRS.from_user_input(tms.rasterio_crs).to_string(),
            extent=extent,
        )

    def _run_here(
        self,
        spec: RenderSpec,
        jobs: list[tuple[int, int]],
        writer: MBTilesWriter,
        heights: dict[int, int],
        job_done: Callable[[tuple[int, int], TileImage | None], None],
    ) -> None:
        renderer = Renderer(spec)
        try:
            for jx, jy in jobs:
                self.ctx.check_abort()
                try:
                    result = renderer.render_job(
                        jx, jy, lambda z, x, y, data: writer.put(z, x, heights[z] - 1 - y, data)
                    )
                except RasterioError as exc:
                    raise ProcessingFailed(
                        f"reading the input rasters failed: {describe_error(exc)}"
                    ) from None
                self.stats.add(result.counts, result.seconds)
                job_done((jx, jy), result.root)
        finally:
            renderer.close()

    def _run_processes(
        self,
        processes: int,
        spec: RenderSpec,
        jobs: list[tuple[int, int]],
        writer: MBTilesWriter,
        job_done: Callable[[tuple[int, int], TileImage | None], None],
    ) -> None:
        self.ctx.log(f"rendering with {processes} worker processes")
        pool = WorkerPool(processes, spec.to_json(), self.scratch)
        try:

            def on_done(job: tuple[int, int], message: dict[str, Any]) -> None:
                self.stats.add(message["counts"], message["seconds"])
                root = load_root(message)
                job_done(job, None if root is None else np.ascontiguousarray(root))

            pool.run(jobs, on_done, self.ctx.is_aborted)
        except BaseException:
            pool.kill()
            raise
        for part in pool.parts:
            if part.exists():
                writer.merge(part, self.ctx.check_abort)

    def base_pyramid(self) -> BasePyramid | None:
        """The pyramid being updated: an input stored data's, else the one already in the output."""
        candidates = [(s.path / OUTPUT_NAME, s.entity) for s in self.ctx.stored_data]
        candidates.append((self.ctx.output_dir / OUTPUT_NAME, self.ctx.output_entity or {}))
        for path, entity in candidates:
            if path.is_file():
                base = BasePyramid.open(path, entity)
                if base.format != self.params.tile_format or base.tile_matrix_set != self.tms.id:
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
    build = _Build(ctx, params)
    try:
        return build.build()
    finally:
        build.cleanup()
