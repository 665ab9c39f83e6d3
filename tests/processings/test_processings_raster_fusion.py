"""Fusion de pyramides raster: pyramids of one grid merged, later inputs on top, transparency kept."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from processings_rasters import ORIGIN_X, ORIGIN_Y

from gpf_flow.processings import raster_fusion, raster_pyramid
from gpf_flow.processings.base import ProcessingAborted, ProcessingFailed

PARAMS = {"compression": "png", "bottom_level": "16", "top_level": "12"}


def flat(folder: Path, colour: tuple[int, int, int], dx: float, size: int = 300) -> Path:
    folder.mkdir()
    data = np.stack([np.full((size, size), c, dtype=np.uint8) for c in colour])
    transform = Affine(2.0, 0, ORIGIN_X + dx, 0, -2.0, ORIGIN_Y)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8"}
    with rasterio.open(folder / "flat.tif", "w", crs="EPSG:2154", transform=transform, **profile) as dst:
        dst.write(data)
    return folder


def pyramid(make_ctx, folder: Path, name: str, params=PARAMS) -> tuple[dict, Path]:
    h = make_ctx(uploads=[({"type": "RASTER"}, folder)], parameters=params)
    result = raster_pyramid.run(h.ctx)
    entity = {
        "_id": name,
        "name": name,
        "type_infos": result.type_infos,
        "extent": result.extent,
        "srs": result.srs,
    }
    return entity, h.ctx.output_dir


def tiles(path: Path) -> dict[tuple[int, int, int], np.ndarray]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    return {(z, x, r): np.asarray(Image.open(io.BytesIO(d)).convert("RGBA")) for z, x, r, d in rows}


@pytest.mark.parametrize("shift", [300.0, 5000.0], ids=["partly overlapping", "no overlap"])
def test_later_input_wins_where_both_have_data(make_ctx, tmp_path, shift) -> None:
    red = pyramid(make_ctx, flat(tmp_path / "red", (200, 40, 40), 0.0), "red")
    blue = pyramid(make_ctx, flat(tmp_path / "blue", (40, 40, 200), shift), "blue")
    h = make_ctx(stored_data=[red, blue])
    result = raster_fusion.run(h.ctx)
    merged = tiles(h.ctx.output_dir / "pyramid.mbtiles")
    a, b = tiles(red[1] / "pyramid.mbtiles"), tiles(blue[1] / "pyramid.mbtiles")
    assert set(merged) == set(a) | set(b)
    for key, image in merged.items():
        if key not in b:
            assert np.array_equal(image, a[key])
        elif key not in a:
            assert np.array_equal(image, b[key])
        else:  # both: blue wherever blue has data, red shows through elsewhere
            blue_here = b[key][..., 3] == 255
            assert np.abs(image[blue_here].astype(int) - b[key][blue_here]).max() <= 1
            red_only = (a[key][..., 3] == 255) & (b[key][..., 3] == 0)
            assert np.abs(image[red_only].astype(int) - a[key][red_only]).max() <= 1
            assert blue_here.any() and red_only.any()
            assert (image[..., 3] >= np.maximum(a[key][..., 3], b[key][..., 3])).all()
    overlapping = {k for k in set(a) & set(b) if k[0] == 16}
    assert bool(overlapping) == (shift < 1000)  # shared bottom tiles only where the data overlaps
    assert result.type_infos["tiles"] == {str(z): sum(1 for k in merged if k[0] == z) for z in range(12, 17)}
    assert result.type_infos["bbox"][2] >= blue[0]["type_infos"]["bbox"][2]


def test_pyramids_on_different_grids_are_refused(make_ctx, tmp_path) -> None:
    pm = pyramid(make_ctx, flat(tmp_path / "pm", (200, 40, 40), 0.0), "pm")
    other = {"compression": "png", "tms": "LAMB93_10cm", "bottom_level": "15", "top_level": "14"}
    lamb = pyramid(make_ctx, flat(tmp_path / "lamb", (40, 40, 200), 0.0), "lamb", other)
    h = make_ctx(stored_data=[pm, lamb])
    with pytest.raises(ProcessingFailed, match="same grid and format"):
        raster_fusion.run(h.ctx)


def test_aborted_fusion_leaves_inputs_intact_and_no_output(make_ctx, tmp_path) -> None:
    red = pyramid(make_ctx, flat(tmp_path / "red", (200, 40, 40), 0.0), "red")
    blue = pyramid(make_ctx, flat(tmp_path / "blue", (40, 40, 200), 300.0), "blue")
    before = [(p / "pyramid.mbtiles").read_bytes() for _, p in (red, blue)]
    h = make_ctx(stored_data=[red, blue])
    h.abort.set()
    with pytest.raises(ProcessingAborted):
        raster_fusion.run(h.ctx)
    assert [(p / "pyramid.mbtiles").read_bytes() for _, p in (red, blue)] == before
    assert list(h.ctx.output_dir.iterdir()) == []
