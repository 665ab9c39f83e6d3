"""Pyramid images: 2×2 reduction as ROK4 builds a level from the one below, and tile encoding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from processings_rasters import write_tiles

from gpf_flow.processings import raster_pyramid
from gpf_flow.processings.raster_image import Picture, encode_tile, halve


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


def _edge_bands(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """``(C, H, W)`` bands of an orthophoto's edge: alpha 0 or 255 over ragged data, colour 0 off it."""
    alpha = (rng.random((size, size)) < rng.random()).astype(np.uint8) * 255
    alpha[:, : rng.integers(0, size)] = 255  # a solid part, as inside the data
    colour = rng.integers(0, 256, (channels - 1, size, size), dtype=np.uint8)
    colour[:, alpha == 0] = 0
    return np.concatenate([colour, alpha[None]])


def _premultiplied(bands: np.ndarray) -> Picture:
    """The same picture on the general path (``LA``/``RGBA`` through premultiplied conversions)."""
    mode = "LA" if len(bands) == 2 else "RGBA"
    image = Image.merge(mode, [Image.fromarray(np.ascontiguousarray(b)) for b in bands])
    return Picture(image, np.ascontiguousarray(bands[-1]))


def test_binary_alpha_pictures_halve_and_encode_as_the_premultiplied_path() -> None:
    rng = np.random.default_rng(11)
    for trial in range(40):
        channels = 2 if trial % 4 == 0 else 4
        bands = _edge_bands(rng, channels, 64)
        fast, general = Picture.from_bands(bands), _premultiplied(bands)
        assert fast.binary and not general.binary
        for _ in range(3):  # 64 → 32 → 16 → 8
            fast, general = fast.halved(), general.halved()
            assert np.array_equal(fast.array(), general.array()), trial
            for compression in ("jpg", "png"):
                assert fast.encode((0, 0, 8, 8), compression) == general.encode((0, 0, 8, 8), compression)
            if fast.alpha is None:
                break


def test_colour_off_the_data_or_partial_alpha_takes_the_premultiplied_path() -> None:
    bands = _edge_bands(np.random.default_rng(5), 4, 32)
    assert Picture.from_bands(bands).binary
    tinted = bands.copy()
    tinted[0, tinted[-1] == 0] = 7  # colour where there is no data: not its premultiplied form
    soft = bands.copy()
    soft[-1, 0, 0] = 128  # a partly transparent pixel
    soft[:-1, 0, 0] = 50
    for other in (tinted, soft):
        picture = Picture.from_bands(other)
        assert not picture.binary and picture.image.mode == "RGBA"
        assert np.array_equal(picture.halved().array(), _premultiplied(other).halved().array())


def test_a_small_mosaic_has_a_tile_at_every_level(make_ctx, tmp_path) -> None:
    # 300 m of data is far below a pixel of levels 0-2 (39 to 156 km): they still get their tile.
    root = tmp_path / "up"
    write_tiles(root, 2, 150, 1.0)
    h = make_ctx(uploads=[({"type": "RASTER", "srs": "EPSG:2154"}, root)], parameters={"bottom_level": 17})
    result = raster_pyramid.run(h.ctx)
    assert all(result.type_infos["tiles"][str(z)] >= 1 for z in range(0, 18)), result.type_infos["tiles"]
