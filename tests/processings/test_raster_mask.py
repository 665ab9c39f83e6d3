"""``mask: true`` on JPEG pyramids: each tile not fully covered records where it holds data.

The source is a Lambert-93 raster with nodata areas, aligned on the ``2154_1m`` grid (4 m pixels at
level 15), built with nearest-neighbour: the bottom level's masks must equal the source's validity
exactly, read independently with rasterio.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.warp import reproject

from gpf_flow import tms as grids
from gpf_flow.processings import raster_fusion, raster_pyramid

RASTER = {"name": "R", "type": "RASTER", "srs": "EPSG:2154"}
GRID = "2154_1m"
BOTTOM = 15  # 4 m cells, 1024 m tiles
# Multiples of 4 m from the grid's origin (0, 12 000 000), across a corner of level 13's tiles
# (4096 m): the build has 4 jobs, so that 2 workers share them.
X0, TOP = 871_848.0, 6_569_304.0
SIZE, RES = 300, 4.0


def write_holed_raster(folder: Path, *, hole_cols: int = 100, corner: bool = True) -> Path:
    """RGB GeoTIFF with nodata 0: the first ``hole_cols`` columns and (``corner``) a bottom-right block."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    data = rng.integers(30, 220, (3, SIZE, SIZE), dtype=np.uint8)
    valid = np.ones((SIZE, SIZE), dtype=bool)
    valid[:, :hole_cols] = False
    if corner:
        valid[250:, 200:] = False
    data[:, ~valid] = 0
    path = folder / "holed.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=SIZE,
        height=SIZE,
        count=3,
        dtype="uint8",
        crs="EPSG:2154",
        nodata=0,
        transform=from_origin(X0, TOP, RES, RES),
    ) as dst:
        dst.write(data)
    return path


def expected_alpha(source: Path, z: int, x: int, y: int) -> np.ndarray:
    """255 where the source has data in tile z/x/y of the grid, 0 elsewhere (nearest, independent)."""
    level = grids.level(grids.get(grids.resolve(GRID)), z)
    with rasterio.open(source) as src:
        valid = (src.read_masks(1) > 0).astype(np.uint8) * 255
        out = np.zeros((256, 256), dtype=np.uint8)
        reproject(
            valid,
            out,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=from_origin(
                level.left + x * level.span, level.top - y * level.span, level.cell, level.cell
            ),
            dst_crs=src.crs,
            resampling=Resampling.nearest,
            src_nodata=None,
            dst_nodata=0,
        )
    return out


def stored(
    path: Path,
) -> tuple[dict[tuple[int, int, int], bytes], dict[tuple[int, int, int], bytes], dict[str, str]]:
    """(tiles, masks, metadata) of a pyramid, keyed by (z, x, row from the top)."""
    grid = grids.get(grids.resolve(GRID))

    def xyz(z: int, x: int, row: int) -> tuple[int, int, int]:
        return z, x, grids.tms_row(grid, z, row)

    with sqlite3.connect(path) as db:
        tiles = {xyz(z, x, r): bytes(d) for z, x, r, d in db.execute("SELECT * FROM tiles")}
        has = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'tile_masks'").fetchone()
        masks = (
            {xyz(z, x, r): bytes(d) for z, x, r, d in db.execute("SELECT * FROM tile_masks")} if has else {}
        )
        meta = dict(db.execute("SELECT name, value FROM metadata").fetchall())
    return tiles, masks, meta


def alpha_of(tiles: dict, masks: dict, key: tuple[int, int, int]) -> np.ndarray:
    if key not in tiles:
        return np.zeros((256, 256), dtype=np.uint8)
    if key not in masks:
        return np.full((256, 256), 255, dtype=np.uint8)
    return np.asarray(Image.open(io.BytesIO(masks[key])).convert("L"))


@pytest.fixture(scope="module")
def holed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("holed")
    return root, write_holed_raster(root / "ortho")


PARAMS = {"tms": GRID, "compression": "jpg", "interpolation": "nn", "bottom": str(BOTTOM), "top": "12"}


@pytest.mark.parametrize("workers", [1, 2])
def test_jpeg_masks_match_the_source_validity(make_ctx, holed, workers: int) -> None:
    root, source = holed
    h = make_ctx(uploads=[(RASTER, root)], parameters={**PARAMS, "mask": True}, workers=workers)
    raster_pyramid.run(h.ctx)
    assert any("with 2 threads" in line for line in h.logs) == (workers > 1)
    tiles, masks, meta = stored(h.ctx.output_dir / "pyramid.mbtiles")
    assert meta["mask"] == "true" and meta["format"] == "jpg"
    bottom = sorted(k for k in tiles if k[0] == BOTTOM)
    assert len(bottom) >= 2
    partial = 0
    for key in bottom:
        want = expected_alpha(source, *key)
        got = alpha_of(tiles, masks, key)
        assert np.array_equal(got, want), (key, int((got != want).sum()))
        partial += int(key in masks)
    assert partial >= 2  # the data's edges and its holes fall inside tiles
    # masks exist only for tiles that exist, and upper levels record theirs too
    assert set(masks) <= set(tiles)
    assert any(k[0] < BOTTOM for k in masks)


def test_without_mask_jpeg_records_none(make_ctx, holed) -> None:
    root, _ = holed
    h = make_ctx(uploads=[(RASTER, root)], parameters=PARAMS)
    raster_pyramid.run(h.ctx)
    tiles, masks, meta = stored(h.ctx.output_dir / "pyramid.mbtiles")
    assert tiles and not masks and "mask" not in meta


def test_update_and_fusion_keep_the_masks(make_ctx, holed, tmp_path: Path) -> None:
    root, source = holed
    first = make_ctx(uploads=[(RASTER, root)], parameters={**PARAMS, "mask": True})
    entity = {"_id": "base", "name": "base", "type_infos": raster_pyramid.run(first.ctx).type_infos}
    # new data fills the left hole only: after the update, the union of both is data
    extra_root = tmp_path / "extra"
    extra = write_holed_raster(extra_root / "ortho", hole_cols=0, corner=False)
    with rasterio.open(extra, "r+") as dst:
        data = dst.read()
        data[:, :, 100:] = 0
        dst.write(data)
    update = make_ctx(
        uploads=[(RASTER, extra_root)], stored_data=[(entity, first.ctx.output_dir)], parameters=PARAMS
    )
    raster_pyramid.run(update.ctx)
    fused = make_ctx(
        stored_data=[(entity, first.ctx.output_dir), ({"_id": "upd", "name": "upd"}, update.ctx.output_dir)],
        parameters={},
    )
    raster_fusion.run(fused.ctx)
    for out in (update.ctx.output_dir, fused.ctx.output_dir):
        tiles, masks, meta = stored(out / "pyramid.mbtiles")
        assert meta.get("mask") == "true"
        for key in (k for k in tiles if k[0] == BOTTOM):
            with_left = expected_alpha(source, *key) | expected_alpha(extra, *key)
            assert np.array_equal(alpha_of(tiles, masks, key), with_left), (out.name, key)
