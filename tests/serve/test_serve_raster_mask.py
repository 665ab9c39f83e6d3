"""WMS-RASTER over a JPEG pyramid built with ``mask: true``: PNG maps are transparent off the data.

A real ``gpf-flow serve`` and the local store's workers build two JPEG pyramids of a Lambert-93
raster with nodata areas (with and without masks); a GetMap aligned on the bottom level's pixels
must be transparent exactly where the source has no data (and the mask-less one opaque there).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin
from test_serve_ogc_support import RASTER_PROCESSING, deliver, process, publish

from gpf_flow.store.local import LocalStore

# Aligned on the 2154_1m grid: level 15 has 4 m cells from the origin (0, 12 000 000).
X0, TOP, SIZE, RES = 870_000.0, 6_572_000.0, 200, 4.0
MARGIN = 50  # map pixels around the data


def valid_area() -> np.ndarray:
    """Where the generated raster has data: not its first 60 columns, nor a block in its middle."""
    valid = np.ones((SIZE, SIZE), dtype=bool)
    valid[:, :60] = False
    valid[80:120, 100:150] = False
    return valid


def write_holed(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(3).integers(20, 230, (3, SIZE, SIZE), dtype=np.uint8)
    data[:, ~valid_area()] = 0
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": SIZE,
        "height": SIZE,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:2154",
        "nodata": 0,
        "transform": from_origin(X0, TOP, RES, RES),
    }
    with rasterio.open(folder / "holed.tif", "w", **profile) as dst:
        dst.write(data)


@pytest.fixture(scope="module")
def layers(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("mask")
    store = LocalStore(server.home, public_url=server.base_url)
    try:
        write_holed(tmp / "raster")
        upload = deliver(store, tmp / "raster", "MASK_RASTER", "RASTER")
        params = {"tms": "2154_1m", "compression": "jpg", "interpolation": "nn", "bottom": "15", "top": "13"}
        for name, extra in (("masked", {"mask": True}), ("unmasked", {})):
            pyramid = process(store, RASTER_PROCESSING, upload, f"pyr_{name}", {**params, **extra})
            publish(store, "WMS-RASTER", f"map_{name}", {"used_data": [{"stored_data": pyramid["_id"]}]})
        # a PM pyramid (drawn by MapProxy when it has no mask): masked, it is drawn by our renderer
        pm = {
            "tms": "PM",
            "compression": "jpg",
            "interpolation": "nn",
            "bottom": "16",
            "top": "14",
            "mask": True,
        }
        pyramid = process(store, RASTER_PROCESSING, upload, "pyr_pm", pm)
        publish(store, "WMS-RASTER", "map_pm", {"used_data": [{"stored_data": pyramid["_id"]}]})
        yield server.base_url
    finally:
        store.close()


def get_map(base_url: str, layer: str, fmt: str = "image/png") -> np.ndarray:
    """The map of the data's box plus a margin, one map pixel per bottom-level pixel (RGBA)."""
    pad = MARGIN * RES
    bbox = (X0 - pad, TOP - SIZE * RES - pad, X0 + SIZE * RES + pad, TOP + pad)
    side = SIZE + 2 * MARGIN
    params = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetMap",
        "LAYERS": layer,
        "STYLES": "",
        "CRS": "EPSG:2154",
        "BBOX": ",".join(map(str, bbox)),
        "WIDTH": str(side),
        "HEIGHT": str(side),
        "FORMAT": fmt,
        "TRANSPARENT": "TRUE",
    }
    response = httpx.get(f"{base_url}/wms-r", params=params, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(fmt)
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))


def expected_alpha() -> np.ndarray:
    out = np.zeros((SIZE + 2 * MARGIN, SIZE + 2 * MARGIN), dtype=np.uint8)
    out[MARGIN : MARGIN + SIZE, MARGIN : MARGIN + SIZE] = valid_area() * 255
    return out


def test_png_map_is_transparent_exactly_outside_the_data(layers: str) -> None:
    image = get_map(layers, "map_masked")
    alpha = image[..., 3]
    want = expected_alpha()
    assert np.array_equal(alpha, want), f"{int((alpha != want).sum())} pixels differ"


def test_without_mask_the_jpeg_pyramid_is_opaque_over_its_tiles(layers: str) -> None:
    alpha = get_map(layers, "map_unmasked")[..., 3]
    inside = expected_alpha() == 255
    assert (alpha[inside] == 255).all()
    # the holes inside the data are painted (white), not transparent: what the mask changes
    hole = np.zeros_like(inside)
    hole[MARGIN + 80 : MARGIN + 120, MARGIN + 100 : MARGIN + 150] = True
    assert (alpha[hole] == 255).all()


def test_jpeg_map_of_a_masked_layer_is_white_off_the_data(layers: str) -> None:
    image = get_map(layers, "map_masked", "image/jpeg")[..., :3]
    # JPEG has no alpha: the background is white (8 px away from the data, past JPEG's ringing)
    left_hole = image[8:-8, 8 : MARGIN + 60 - 8]
    middle_hole = image[MARGIN + 88 : MARGIN + 112, MARGIN + 108 : MARGIN + 142]
    assert left_hole.min() > 240 and middle_hole.min() > 240
    assert image[MARGIN + 20 : MARGIN + 60, MARGIN + 70 : MARGIN + 90].min() < 200  # data is not white


def away_from_edges(mask: np.ndarray, px: int) -> np.ndarray:
    """Pixels whose (2 px + 1)² neighbourhood all have the same value in ``mask``."""
    padded = np.pad(mask, px, mode="edge")
    same = np.ones_like(mask, dtype=bool)
    h, w = mask.shape
    for dy in range(2 * px + 1):
        for dx in range(2 * px + 1):
            same &= padded[dy : dy + h, dx : dx + w] == mask
    return same


def test_masked_pm_pyramid_is_transparent_off_the_data(layers: str) -> None:
    alpha = get_map(layers, "map_pm")[..., 3]
    want = expected_alpha()
    sure = away_from_edges(want, 3)  # reprojected from Web Mercator: edges move by a pixel or two
    assert np.array_equal(alpha[sure], want[sure]), f"{int((alpha[sure] != want[sure]).sum())} pixels differ"


def one_tile_maps(
    base_url: str, layer: str, grid: str, z: int, fmt: str, transparent: str
) -> list[np.ndarray]:
    """For a tile of level ``z`` at the data's west edge (partly data, partly nodata): the map that
    is exactly that tile (answered from the pyramid) and the same map drawn by the renderer
    (``BGCOLOR``, white as by default, keeps it off the one-tile path)."""
    from pyproj import Transformer

    from gpf_flow import tms as grids

    level = grids.level(grids.get(grid), z)
    code = "EPSG:2154" if grid != "WebMercatorQuad" else "EPSG:3857"
    x, y = Transformer.from_crs("EPSG:2154", code, always_xy=True).transform(X0 + 60 * RES, TOP - 40 * RES)
    col, row = int((x - level.left) // level.span), int((level.top - y) // level.span)
    left, top = level.left + col * level.span, level.top - row * level.span
    params = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": layer, "STYLES": "",
        "CRS": code, "BBOX": ",".join(repr(v) for v in (left, top - level.span, left + level.span, top)),
        "WIDTH": str(level.tile), "HEIGHT": str(level.tile), "FORMAT": fmt, "TRANSPARENT": transparent,
    }  # fmt: skip
    out = []
    for extra in ({}, {"BGCOLOR": "0xFFFFFF"}):
        response = httpx.get(f"{base_url}/wms-r", params={**params, **extra}, timeout=60)
        assert response.status_code == 200, response.text
        out.append(np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA")).astype(int))
    return out


@pytest.mark.parametrize(
    ("fmt", "transparent"), [("image/png", "TRUE"), ("image/png", "FALSE"), ("image/jpeg", "FALSE")]
)
@pytest.mark.parametrize(
    ("layer", "grid", "z"), [("map_pm", "WebMercatorQuad", 16), ("map_masked", "2154_1m", 15)]
)
def test_a_map_that_is_one_masked_tile_keeps_the_mask(
    layers: str, layer: str, grid: str, z: int, fmt: str, transparent: str
) -> None:
    stored, drawn = one_tile_maps(layers, layer, grid, z, fmt, transparent)
    if transparent == "TRUE":
        assert (stored[..., 3] == 0).any() and (stored[..., 3] == 255).any()  # an edge tile

    # colour under a transparent pixel is no colour: compare premultiplied
    def premultiplied(rgba: np.ndarray) -> np.ndarray:
        return np.concatenate([rgba[..., :3] * rgba[..., 3:] // 255, rgba[..., 3:]], axis=-1)

    assert np.abs(premultiplied(stored) - premultiplied(drawn)).max() <= (4 if fmt == "image/jpeg" else 1)
