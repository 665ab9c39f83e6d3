"""Pyramids on the platform's tile grids, checked against the reference ROK4 definitions in ../shared.

For each grid: the shipped definition equals the reference one; the produced tile set is the one
the reference definition predicts from the data's footprint; bottom tiles match an independent
rasterio reprojection of the source; the level above matches a resample of the level below.
"""

from __future__ import annotations

import io
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from PIL import Image
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.warp import reproject

from gpf_flow import tms as grids
from gpf_flow.processings import raster_pyramid

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "rok4-tilematrixsets"
SIZE = 768
RES = 0.5


@pytest.fixture(scope="module")
def reference() -> Path:
    assert REFERENCE.is_dir(), f"reference tile matrix sets missing: {REFERENCE} (CI provides ../shared)"
    return REFERENCE


def _definition(reference: Path, name: str) -> dict[str, Any]:
    return json.loads((reference / f"{name}.json").read_text(encoding="utf-8"))


def _matrix(definition: dict[str, Any], z: int) -> dict[str, Any]:
    return next(m for m in definition["tileMatrices"] if m["id"] == str(z))


def _tile_box(m: dict[str, Any], x: int, y: int) -> tuple[float, float, float, float]:
    span = m["cellSize"] * m["tileWidth"]
    left, top = m["pointOfOrigin"]
    return left + x * span, top - (y + 1) * span, left + (x + 1) * span, top - y * span


def test_shipped_grids_are_the_platform_s(reference: Path) -> None:
    names = sorted(p.stem for p in reference.glob("*.json"))
    assert {"PM", "LAMB93", "2154_5cm", "LAMB93_10cm", "4326", "WGS84G", "RGR92UTM40S_50cm"} <= set(names)
    for name in names:
        definition = _definition(reference, name)
        if {m["tileWidth"] for m in definition["tileMatrices"]} != {256}:
            continue  # 512-pixel grids (SwissCH1903_28mm) are not shipped
        grid = grids.get(name)
        assert CRS.from_user_input(grid.rasterio_crs.to_wkt()).equals(CRS.from_user_input(definition["crs"]))
        for m in definition["tileMatrices"]:
            z = int(m["id"])
            ours = grids.level(grid, z)
            assert ours.cell == pytest.approx(m["cellSize"], rel=1e-9), (name, z)
            assert (ours.left, ours.top) == pytest.approx(tuple(m["pointOfOrigin"]), rel=1e-9, abs=1e-6)
            assert (ours.width, ours.height, ours.tile) == (m["matrixWidth"], m["matrixHeight"], 256)


def _smooth_source(folder: Path, crs: str, origin: tuple[float, float]) -> Path:
    folder.mkdir()
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    base = 120 + 70 * np.sin(xx * 5) * np.cos(yy * 4)
    bands = np.stack([base, base + 30 * yy, base - 40 * xx]).clip(1, 254).astype(np.uint8)
    path = folder / "source.tif"
    profile = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": 3, "dtype": "uint8"}
    transform = Affine(RES, 0, origin[0], 0, -RES, origin[1])
    with rasterio.open(path, "w", crs=crs, transform=transform, **profile) as dst:
        dst.write(bands)
    return path


def _read(path: Path, definition: dict[str, Any]) -> dict[tuple[int, int, int], np.ndarray]:
    """Tiles by (z, x, y) with y from the top, decoded to RGBA (rows flipped with the reference heights)."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    out = {}
    for z, x, row, data in rows:
        height = _matrix(definition, z)["matrixHeight"]
        out[(z, x, height - 1 - row)] = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    return out


GRIDS = [
    # (grid, source CRS, source origin)
    ("PM", "EPSG:2154", (870_000.0, 6_570_000.0)),
    ("2154_5cm", "EPSG:2154", (870_000.0, 6_570_000.0)),
    ("LAMB93_10cm", "EPSG:2154", (651_000.0, 6_862_000.0)),
    ("LAMB93", "EPSG:2154", (651_000.0, 6_862_000.0)),
    ("LAMB93_1M_MNT", "EPSG:2154", (651_000.0, 6_862_000.0)),  # ratios 5, 2.5, 4...; shifted origins
    ("4326", "EPSG:2154", (870_000.0, 6_570_000.0)),
    ("WGS84G", "EPSG:2154", (870_000.0, 6_570_000.0)),
    ("RGR92UTM40S_50cm", "EPSG:2975", (340_000.0, 7_660_000.0)),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "source_crs", "origin"), GRIDS, ids=[g[0] for g in GRIDS])
def test_pyramid_on_a_platform_grid(make_ctx, tmp_path, reference, name, source_crs, origin) -> None:
    definition = _definition(reference, name)
    grid_crs = CRS.from_user_input(definition["crs"])
    source = _smooth_source(tmp_path / "upload", source_crs, origin)
    h = make_ctx(
        uploads=[({"type": "RASTER", "srs": source_crs}, source.parent)],
        parameters={"tms": name, "compression": "png", "interpolation": "linear", "top": "0"},
    )
    result = raster_pyramid.run(h.ctx)
    levels = [int(z) for z in result.type_infos["levels"]]
    bottom = max(levels)

    # Default bottom level: the one whose cell size is nearest the source's resolution in the grid's CRS.
    to_grid = Transformer.from_crs(source_crs, grid_crs, always_xy=True)
    cx, cy = origin[0] + SIZE * RES / 2, origin[1] - SIZE * RES / 2
    (x0, x1), (y0, y1) = to_grid.transform([cx, cx + RES], [cy, cy])
    native = math.hypot(x1 - x0, y1 - y0)
    cells = {int(m["id"]): m["cellSize"] for m in definition["tileMatrices"]}
    assert bottom == min(cells, key=lambda z: abs(math.log(cells[z] / native)))
    assert min(levels) == 0

    # Tile sets: every tile the footprint surely meets, none it cannot meet.
    outline = shapely.segmentize(
        shapely.box(origin[0], origin[1] - SIZE * RES, origin[0] + SIZE * RES, origin[1]), SIZE * RES / 50
    )
    footprint = shapely.transform(outline, lambda xy: np.column_stack(to_grid.transform(xy[:, 0], xy[:, 1])))
    tiles = _read(h.ctx.output_dir / "pyramid.mbtiles", definition)
    for z in levels:
        m = _matrix(definition, z)
        sure_zone, possible_zone = footprint.buffer(-2 * m["cellSize"]), footprint.buffer(2 * m["cellSize"])
        span = m["cellSize"] * 256
        left, top = m["pointOfOrigin"]
        b = possible_zone.bounds
        columns = range(
            max(0, int((b[0] - left) // span)), min(m["matrixWidth"], int((b[2] - left) // span) + 1)
        )
        rows = range(max(0, int((top - b[3]) // span)), min(m["matrixHeight"], int((top - b[1]) // span) + 1))
        candidates = [(x, y) for x in columns for y in rows]
        produced = {(x, y) for (tz, x, y) in tiles if tz == z}
        sure = {t for t in candidates if shapely.box(*_tile_box(m, *t)).intersects(sure_zone)}
        possible = {t for t in candidates if shapely.box(*_tile_box(m, *t)).intersects(possible_zone)}
        assert sure <= produced <= possible, (name, z, sorted(produced ^ sure))

    # Bottom tiles: an independent reprojection of the source onto the reference tile.
    with rasterio.open(source) as src:
        data = src.read()
        src_transform = src.transform
    m = _matrix(definition, bottom)
    compared = 0
    for (z, x, y), image in tiles.items():
        if z != bottom:
            continue
        left, _, _, top = _tile_box(m, x, y)
        expected = np.zeros((4, 256, 256), dtype=np.uint8)
        alpha = np.full((1, SIZE, SIZE), 255, dtype=np.uint8)
        for band, values in enumerate([*data, alpha[0]]):
            reproject(
                values,
                expected[band],
                src_transform=src_transform,
                src_crs=source_crs,
                dst_transform=Affine(m["cellSize"], 0, left, 0, -m["cellSize"], top),
                dst_crs=grid_crs,
                resampling=Resampling.bilinear,
            )
        valid = (expected[3] == 255) & (image[..., 3] == 255)
        if valid.sum() < 1000:
            continue
        diff = np.abs(image[..., :3][valid].astype(float) - np.moveaxis(expected[:3], 0, -1)[valid])
        assert diff.mean() < 2.0, (name, x, y, diff.mean())
        compared += 1
    assert compared >= 1

    # The level above: a resample of the level below (whatever the grid's ratio between levels).
    upper, lower = _matrix(definition, bottom - 1), m
    mosaic_tiles = {(x, y): img for (z, x, y), img in tiles.items() if z == bottom}
    xs, ys = [x for x, _ in mosaic_tiles], [y for _, y in mosaic_tiles]
    mosaic = np.zeros((4, (max(ys) - min(ys) + 1) * 256, (max(xs) - min(xs) + 1) * 256), dtype=np.uint8)
    for (x, y), img in mosaic_tiles.items():
        r, c = (y - min(ys)) * 256, (x - min(xs)) * 256
        mosaic[:, r : r + 256, c : c + 256] = np.moveaxis(img, -1, 0)
    mleft, _, _, mtop = _tile_box(lower, min(xs), min(ys))
    compared = 0
    for (z, x, y), image in tiles.items():
        if z != bottom - 1:
            continue
        left, _, _, top = _tile_box(upper, x, y)
        expected = np.zeros((4, 256, 256), dtype=np.uint8)
        for band in range(4):
            reproject(
                mosaic[band],
                expected[band],
                src_transform=Affine(lower["cellSize"], 0, mleft, 0, -lower["cellSize"], mtop),
                src_crs=grid_crs,
                dst_transform=Affine(upper["cellSize"], 0, left, 0, -upper["cellSize"], top),
                dst_crs=grid_crs,
                resampling=Resampling.average,
            )
        valid = (expected[3] == 255) & (image[..., 3] == 255)
        if valid.sum() < 500:
            continue
        diff = np.abs(image[..., :3][valid].astype(float) - np.moveaxis(expected[:3], 0, -1)[valid])
        assert diff.mean() < 3.0, (name, x, y, diff.mean())
        compared += 1
    assert compared >= 1
