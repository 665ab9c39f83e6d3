"""Pyramid images: 2×2 reduction as ROK4 builds a level from the one below, and tile encoding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from processings_rasters import write_tiles

from gpf_flow.processings import raster_pyramid
from gpf_flow.processings.raster_image import encode_tile, halve


def test_halving_averages_the_children_with_data_and_keeps_any_data() -> None:
    image = np.zeros((4, 4, 4), dtype=np.uint8)
    image[0, 0] = (200, 100, 40, 255)  # one child with data among four
    image[0:2, 2:4] = (10, 20, 30, 255)  # four children with data
    image[2, 2], image[3, 3] = (100, 100, 100, 255), (200, 200, 200, 255)  # two of four
    out = halve(image).astype(int)
    assert out.shape == (2, 2, 4)
    # colours within one level of the exact means (Pillow premultiplies alpha in 8 bits)
    assert np.abs(out[0, 0] - (200, 100, 40, 255)).max() <= 1  # not darkened by the empty children
    assert np.abs(out[0, 1] - (10, 20, 30, 255)).max() <= 1
    assert np.abs(out[1, 1] - (150, 150, 150, 255)).max() <= 1
    assert out[1, 0, 3] == 0  # no data below: none here
    assert (out[:, :, 3] != 0).sum() == 3


def test_opaque_halving_is_the_box_mean() -> None:
    rng = np.random.default_rng(3)
    image = np.full((512, 512, 4), 255, dtype=np.uint8)
    image[..., :3] = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    mean = image[..., :3].reshape(256, 2, 256, 2, 3).astype(float).mean(axis=(1, 3))
    out = halve(image)
    assert (out[..., 3] == 255).all()
    assert np.abs(out[..., :3] - mean).max() <= 0.5 + 1e-9


def test_jpeg_blends_partial_pixels_onto_white_and_skips_empty_tiles() -> None:
    tile = np.zeros((256, 256, 4), dtype=np.uint8)
    assert encode_tile(tile, "jpg") is None
    tile[:, :128] = (0, 0, 0, 255)
    decoded = np.asarray(Image.open(io.BytesIO(encode_tile(tile, "jpg") or b"")).convert("RGB"), dtype=float)
    assert decoded[:, :120].mean() < 10 and decoded[:, 136:].mean() > 245


def test_a_small_mosaic_has_a_tile_at_every_level(make_ctx, tmp_path) -> None:
    # 300 m of data is far below a pixel of levels 0-2 (39 to 156 km): they still get their tile.
    root = tmp_path / "up"
    write_tiles(root, 2, 150, 1.0)
    h = make_ctx(uploads=[({"type": "RASTER", "srs": "EPSG:2154"}, root)], parameters={"bottom_level": 17})
    result = raster_pyramid.run(h.ctx)
    assert all(result.type_infos["tiles"][str(z)] >= 1 for z in range(0, 18)), result.type_infos["tiles"]
