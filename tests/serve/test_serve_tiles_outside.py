"""Tiles asked where a pyramid has no data: an error by default, an empty tile with ``EMPTYTILE=blank``.

The same answer on the three tile routes (WMTS KVP, WMTS REST, TMS) of a real ``gpf-flow serve``,
for a PNG and a JPEG pyramid built by the local store's worker.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from pyproj import Transformer
from test_serve_ogc_support import RASTER_PROCESSING, X0, Y0, deliver, process, publish, write_raster

from gpf_flow.store.local import LocalStore
from gpf_flow.tms import get, level

LEVEL = 14  # the 2 km sample is a few tiles here; tile 0/0 is far from it
FORMATS = {"png": "image/png", "jpeg": "image/jpeg"}


@pytest.fixture(scope="module")
def base_url(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("outside")
    store = LocalStore(server.home, public_url=server.base_url)
    try:
        write_raster(tmp / "raster")
        upload = deliver(store, tmp / "raster", "OUTSIDE_RASTER", "RASTER")
        for ext in FORMATS:
            params = {"tms": "PM", "compression": "jpg" if ext == "jpeg" else "png", "bottom": "15"}
            pyramid = process(store, RASTER_PROCESSING, upload, f"pyr_{ext}", params)
            publish(store, "WMTS-TMS", f"out_{ext}", {"used_data": [{"stored_data": pyramid["_id"]}]})
        yield server.base_url
    finally:
        store.close()


def fetch(
    base_url: str, route: str, ext: str, z: int, x: int, y: int, empty: dict[str, str]
) -> httpx.Response:
    """One tile through ``route`` (kvp, rest or tms), with the extra query parameters ``empty``."""
    layer = f"out_{ext}"
    if route == "tms":
        return httpx.get(f"{base_url}/tms/1.0.0/{layer}/{z}/{x}/{y}.{ext}", params=empty)
    if route == "rest":
        return httpx.get(f"{base_url}/wmts/{layer}/normal/PM/{z}/{y}/{x}.{ext}", params=empty)
    params = {
        "SERVICE": "WMTS",
        "REQUEST": "GetTile",
        "VERSION": "1.0.0",
        "LAYER": layer,
        "STYLE": "normal",
        "TILEMATRIXSET": "PM",
        "TILEMATRIX": str(z),
        "TILEROW": str(y),
        "TILECOL": str(x),
        "FORMAT": FORMATS[ext],
        **empty,
    }
    return httpx.get(f"{base_url}/wmts", params=params)


def data_tile() -> tuple[int, int]:
    """The level-14 tile holding the sample's centre (1 km from its edges)."""
    lon, lat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True).transform(X0 + 1000, Y0 + 1000)
    tile = get("WebMercatorQuad").tile(lon, lat, LEVEL)
    return int(tile.x), int(tile.y)


ROUTES = ["kvp", "rest", "tms"]


@pytest.mark.parametrize("ext", list(FORMATS))
@pytest.mark.parametrize("route", ROUTES)
def test_default_is_an_error(base_url: str, route: str, ext: str) -> None:
    response = fetch(base_url, route, ext, LEVEL, 0, 0, {})
    assert response.status_code == 404
    if route == "kvp":
        assert b"TileOutOfRange" in response.content and b"ExceptionReport" in response.content


@pytest.mark.parametrize("ext", list(FORMATS))
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("spelling", [{"EMPTYTILE": "blank"}, {"emptytile": "BLANK"}])
def test_blank_answers_the_formats_empty_tile(
    base_url: str, route: str, ext: str, spelling: dict[str, str]
) -> None:
    response = fetch(base_url, route, ext, LEVEL, 0, 0, spelling)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == FORMATS[ext]
    image = Image.open(io.BytesIO(response.content))
    size = level(get("WebMercatorQuad"), LEVEL).tile
    assert image.size == (size, size) and image.format == ("PNG" if ext == "png" else "JPEG")
    pixels = np.asarray(image.convert("RGBA"))
    if ext == "png":
        assert (pixels[..., 3] == 0).all()  # fully transparent
    else:
        assert (pixels[..., :3] >= 250).all()  # white, the JPEG pyramids' background


@pytest.mark.parametrize("ext", list(FORMATS))
@pytest.mark.parametrize("route", ROUTES)
def test_blank_changes_nothing_where_there_is_data(base_url: str, route: str, ext: str) -> None:
    x, y = data_tile()
    plain = fetch(base_url, route, ext, LEVEL, x, y, {})
    blank = fetch(base_url, route, ext, LEVEL, x, y, {"EMPTYTILE": "blank"})
    assert plain.status_code == blank.status_code == 200
    assert plain.content == blank.content
    # and the stored tile is not the empty one
    assert np.asarray(Image.open(io.BytesIO(plain.content)).convert("RGBA"))[..., :3].std() > 1


@pytest.mark.parametrize("route", ROUTES)
def test_outside_the_grid_stays_an_error(base_url: str, route: str) -> None:
    response = fetch(base_url, route, "png", LEVEL, 2**LEVEL + 5, 0, {"EMPTYTILE": "blank"})
    assert response.status_code == 404
    if route == "kvp":
        assert b"TileOutOfRange" in response.content


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_value_is_a_client_error(base_url: str, route: str) -> None:
    response = fetch(base_url, route, "png", LEVEL, 0, 0, {"EMPTYTILE": "sometimes"})
    assert response.status_code == 400
    assert b"EMPTYTILE must be one of error, blank" in response.content
    if route == "kvp":
        assert b"InvalidParameterValue" in response.content
