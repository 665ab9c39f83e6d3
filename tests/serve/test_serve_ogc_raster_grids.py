"""Pyramids on the platform's grids (PM, 2154_5cm, 4326) served as WMTS, TMS and WMS-RASTER.

Clients read them as real clients do (OWSLib, GDAL's WMTS and WMS drivers through rasterio), at
full resolution and at overview levels, and the pixels are compared with an independent read of
the source raster.
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
from lxml import etree
from owslib.wms import WebMapService
from owslib.wmts import WebMapTileService
from PIL import Image
from pyproj import Transformer
from rasterio.windows import Window, from_bounds
from test_serve_ogc_support import (
    RASTER_PROCESSING,
    RASTER_RES,
    RASTER_SIZE,
    X0,
    Y0,
    World,
    deliver,
    process,
    publish,
    write_raster,
)

from gpf_flow.store.local import LocalStore

GRIDS = {"PM": 22, "2154_5cm": 23, "4326": 20}
# The centre half of the source, in Lambert-93: every client read below covers it.
INNER = (X0 + 500, Y0 + 500, X0 + 1500, Y0 + 1500)
PYRAMIDS: dict[str, dict[str, Any]] = {}
"""The stored data built by the module's fixture, by grid."""


@pytest.fixture(scope="module")
def world(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Path]]:
    tmp = tmp_path_factory.mktemp("ogc-grids")
    store = LocalStore(server.home, public_url=server.base_url)
    try:
        source = write_raster(tmp / "raster")
        upload = deliver(store, tmp / "raster", "GRIDS_RASTER", "RASTER")
        world = World(store=store, base_url=server.base_url)
        for grid in GRIDS:
            params = {"compression": "png", "tms": grid, "interpolation": "linear"}
            pyramid = PYRAMIDS[grid] = process(store, RASTER_PROCESSING, upload, f"grid_{grid}", params)
            used = {"used_data": [{"stored_data": pyramid["_id"]}]}
            publish(store, "WMTS-TMS", f"tiles_{grid}", used)
            publish(store, "WMS-RASTER", f"map_{grid}", {**used, "getfeatureinfo": {"stored_data": True}})
        yield world, source
    finally:
        store.close()


def source_mean(bounds_2154: tuple[float, float, float, float]) -> np.ndarray:
    """Mean RGB of the source over a Lambert-93 box: an independent read of the input."""
    yy, xx = np.mgrid[0:RASTER_SIZE, 0:RASTER_SIZE]
    red = (60 + (xx * 120) // RASTER_SIZE).astype(float)
    green = (40 + (yy * 100) // RASTER_SIZE).astype(float)
    top = Y0 + RASTER_SIZE * RASTER_RES
    c0, c1 = int((bounds_2154[0] - X0) / RASTER_RES), int((bounds_2154[2] - X0) / RASTER_RES)
    r0, r1 = int((top - bounds_2154[3]) / RASTER_RES), int((top - bounds_2154[1]) / RASTER_RES)
    return np.array([red[r0:r1, c0:c1].mean(), green[r0:r1, c0:c1].mean(), 90.0])


def read_source(path: Path, bounds_2154: tuple[float, float, float, float]) -> np.ndarray:
    with rasterio.open(path) as src:
        data = src.read(window=from_bounds(*bounds_2154, transform=src.transform))
    return data.reshape(3, -1).mean(axis=1)


def to(crs: str, bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = Transformer.from_crs("EPSG:2154", crs, always_xy=True).transform_bounds(*bounds)
    return float(x0), float(y0), float(x1), float(y1)


def test_wmts_advertises_each_grid_with_its_limits(world: tuple[World, Path]) -> None:
    w, _ = world
    service = WebMapTileService(f"{w.base_url}/wmts?SERVICE=WMTS&REQUEST=GetCapabilities")
    for grid, levels in GRIDS.items():
        assert len(service.tilematrixsets[grid].tilematrix) == levels, grid
        layer = service.contents[f"tiles_{grid}"]
        assert list(layer.tilematrixsetlinks) == [grid]
        limits = layer.tilematrixsetlinks[grid].tilematrixlimits
        assert max(int(z) for z in limits) == levels - 1  # stored levels, then the filled ones
    assert "EPSG::2154" in service.tilematrixsets["2154_5cm"].crs
    assert "EPSG::4326" in service.tilematrixsets["4326"].crs
    # EPSG:4326 is lat/lon: the top-left corner is (90, -180).
    assert service.tilematrixsets["4326"].tilematrix["0"].topleftcorner == (90.0, -180.0)


@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("pixels", [None, 32])  # full resolution (a window), and an overview level
def test_gdal_wmts_reads_the_source_pixels(world: tuple[World, Path], grid: str, pixels: int | None) -> None:
    w, source = world
    expected = read_source(source, INNER)
    url = f"WMTS:{w.base_url}/wmts?SERVICE=WMTS&REQUEST=GetCapabilities,layer=tiles_{grid}"
    with rasterio.open(url) as ds:
        crs = ds.crs.to_string()
        window = from_bounds(*to(crs if grid != "4326" else "EPSG:4326", INNER), transform=ds.transform)
        if pixels is None:  # full resolution: a small window in the middle of INNER
            cx, cy = window.col_off + window.width / 2, window.row_off + window.height / 2
            window = Window(cx - 128, cy - 128, 256, 256)
            data = ds.read(window=window)
        else:
            data = ds.read(window=window, out_shape=(ds.count, pixels, pixels))
    rgb = data[:3].reshape(3, -1).astype(float)
    assert rgb.mean() > 20  # not the all-zero read of missing levels
    if pixels is not None:
        assert np.abs(rgb.mean(axis=1) - expected).max() < 4.0, (rgb.mean(axis=1), expected)
    else:
        centre = ((INNER[0] + INNER[2]) / 2, (INNER[1] + INNER[3]) / 2)
        half = 128 * 0.15  # the full-resolution window is a few hundred metres at most
        expected_centre = source_mean(
            (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
        )
        assert np.abs(rgb.mean(axis=1) - expected_centre).max() < 12.0, (rgb.mean(axis=1), expected_centre)


@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize(
    ("version", "crs"),
    [
        ("1.3.0", "EPSG:2154"),
        ("1.3.0", "EPSG:3857"),
        ("1.3.0", "EPSG:4326"),
        ("1.3.0", "CRS:84"),
        ("1.1.1", "EPSG:4326"),
    ],
)
def test_wms_getmap_in_every_crs(world: tuple[World, Path], grid: str, version: str, crs: str) -> None:
    w, source = world
    service = WebMapService(f"{w.base_url}/wms-r", version=version)
    layer = service[f"map_{grid}"]
    assert {"EPSG:2154", "EPSG:3857", "EPSG:4326"} <= set(layer.crsOptions)
    bbox = to("EPSG:4326" if crs == "CRS:84" else crs, INNER)
    if version == "1.3.0" and crs == "EPSG:4326":
        bbox = (bbox[1], bbox[0], bbox[3], bbox[2])  # lat/lon in 1.3.0
    params = {
        "SERVICE": "WMS",
        "VERSION": version,
        "REQUEST": "GetMap",
        "LAYERS": f"map_{grid}",
        "STYLES": "",
        "CRS" if version == "1.3.0" else "SRS": crs,
        "BBOX": ",".join(map(str, bbox)),
        "WIDTH": "64",
        "HEIGHT": "64",
        "FORMAT": "image/png",
        "TRANSPARENT": "TRUE",
    }
    response = httpx.get(f"{w.base_url}/wms-r", params=params)
    assert response.status_code == 200, response.text
    pixels = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA")).astype(float)
    assert (pixels[..., 3] == 255).mean() > 0.95
    assert np.abs(pixels[..., :3].reshape(-1, 3).mean(axis=0) - read_source(source, INNER)).max() < 4.0


@pytest.mark.parametrize("grid", ["2154_5cm", "4326"])
def test_gdal_wms_driver_reads_the_map(world: tuple[World, Path], grid: str) -> None:
    w, source = world
    x0, y0, x1, y1 = to("EPSG:2154", INNER)
    url = (
        f"WMS:{w.base_url}/wms-r?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=map_{grid}"
        f"&SRS=EPSG:2154&BBOX={x0},{y0},{x1},{y1}&FORMAT=image/png"
    )
    with rasterio.open(url) as ds:
        data = ds.read(out_shape=(ds.count, 64, 64))
    rgb = data[:3].reshape(3, -1).astype(float).mean(axis=1)
    assert np.abs(rgb - read_source(source, INNER)).max() < 4.0, rgb


def test_getfeatureinfo_reads_the_pixel_on_its_grid(world: tuple[World, Path]) -> None:
    w, _ = world
    x, y = X0 + 1000, Y0 + 1000
    expected = source_mean((x - 5, y - 5, x + 5, y + 5))
    bbox = (x - 100, y - 100, x + 100, y + 100)
    response = httpx.get(
        f"{w.base_url}/wms-r",
        params={
            "SERVICE": "WMS",
            "VERSION": "1.3.0",
            "REQUEST": "GetFeatureInfo",
            "LAYERS": "map_2154_5cm",
            "QUERY_LAYERS": "map_2154_5cm",
            "STYLES": "",
            "CRS": "EPSG:2154",
            "BBOX": ",".join(map(str, bbox)),
            "WIDTH": "100",
            "HEIGHT": "100",
            "I": "50",
            "J": "50",
            "INFO_FORMAT": "application/json",
        },
    )
    assert response.status_code == 200, response.text
    values = response.json()["features"][0]["properties"]["values"]
    assert np.abs(np.array(values[:3]) - expected).max() < 6, (values, expected)


def test_tms_documents(world: tuple[World, Path]) -> None:
    w, _ = world
    service = etree.fromstring(httpx.get(f"{w.base_url}/tms/1.0.0/").content)
    maps = {m.get("title"): m for m in service.iter("TileMap")}
    assert {f"tiles_{g}" for g in GRIDS} <= set(maps)
    assert maps["tiles_2154_5cm"].get("profile") == "2154_5cm"
    doc = etree.fromstring(httpx.get(maps["tiles_2154_5cm"].get("href")).content)
    assert doc.findtext("SRS") == "EPSG:2154"
    origin = doc.find("Origin")
    assert (float(origin.get("x")), float(origin.get("y"))) == (0.0, 12_000_000.0)
    sets = doc.findall("TileSets/TileSet")
    assert float(sets[-1].get("units-per-pixel")) == pytest.approx(0.05)
    # A tile the TileMap announces is served; the same level's tile far away is not.
    bottom = max(int(s.get("order")) for s in sets)
    assert httpx.get(f"{w.base_url}/tms/1.0.0/tiles_2154_5cm/{bottom}/0/0.png").status_code == 404
    assert httpx.get(f"{w.base_url}/tms/1.0.0/nope").status_code == 404


def test_configured_levels_limit_what_is_served(world: tuple[World, Path]) -> None:
    w, source = world
    stored = PYRAMIDS["PM"]
    infos = stored["type_infos"]
    # The first levels of a 2 km square hold no tile (the data is below a pixel there).
    bottom, top = int(infos["bottom_level"]), min(int(z) for z, n in infos["tiles"].items() if n)
    used = {"stored_data": stored["_id"], "bottom_level": str(bottom - 2), "top_level": str(top + 3)}
    publish(w.store, "WMTS-TMS", "tiles_limited", {"used_data": [used]})
    publish(w.store, "WMS-RASTER", "map_limited", {"used_data": [used]})
    service = WebMapTileService(f"{w.base_url}/wmts?SERVICE=WMTS&REQUEST=GetCapabilities")
    limits = service.contents["tiles_limited"].tilematrixsetlinks["PM"].tilematrixlimits
    assert min(int(z) for z in limits) == top + 3
    full = service.contents["tiles_PM"].tilematrixsetlinks["PM"].tilematrixlimits
    lim = full[str(bottom)]
    url = f"{w.base_url}/tms/1.0.0/{{}}/{bottom}/{lim.mintilecol}/{lim.mintilerow}.png"
    stored_tile, limited_tile = httpx.get(url.format("tiles_PM")), httpx.get(url.format("tiles_limited"))
    assert stored_tile.status_code == limited_tile.status_code == 200
    assert stored_tile.content != limited_tile.content  # resampled from level bottom - 2, not read
    above = full[str(top + 2)]
    gone = httpx.get(
        f"{w.base_url}/tms/1.0.0/tiles_limited/{top + 2}/{above.mintilecol}/{above.mintilerow}.png"
    )
    assert (
        httpx.get(
            f"{w.base_url}/tms/1.0.0/tiles_PM/{top + 2}/{above.mintilecol}/{above.mintilerow}.png"
        ).status_code
        == 200
    )
    assert gone.status_code == 404
    image = WebMapService(f"{w.base_url}/wms-r", version="1.3.0").getmap(
        layers=["map_limited"],
        srs="EPSG:2154",
        bbox=INNER,
        size=(64, 64),
        format="image/png",
        transparent=True,
    )
    pixels = np.asarray(Image.open(io.BytesIO(image.read())).convert("RGBA")).astype(float)
    assert np.abs(pixels[..., :3].reshape(-1, 3).mean(axis=0) - read_source(source, INNER)).max() < 4.0
