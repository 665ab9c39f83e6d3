"""WMS-RASTER (MapProxy) and WMTS/TMS over pyramids built by the real raster processing."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from lxml import etree
from owslib.wms import WebMapService
from owslib.wmts import WebMapTileService
from PIL import Image
from test_serve_ogc_support import World, build_world, check_preview, data_bbox

from gpf_flow.store.local import LocalStore


@pytest.fixture(scope="module")
def world(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store = LocalStore(server.home, public_url=server.base_url)
    try:
        yield build_world(store, tmp_path_factory.mktemp("ogc-raster"), server.base_url, ("raster",))
    finally:
        store.close()


def wms(world: World) -> WebMapService:
    return WebMapService(
        f"{world.base_url}/wms-r?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities", version="1.3.0"
    )


def rgba(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def test_capabilities_list_layers_crs_and_extent(world: World) -> None:
    service = wms(world)
    assert {"ortho_png", "ortho_jpg"} <= set(service.contents)
    layer = service["ortho_png"]
    assert {"EPSG:3857", "EPSG:4326", "EPSG:2154"} <= set(layer.crsOptions)
    w, s, e, n = layer.boundingBoxWGS84
    x0, y0, x1, y1 = data_bbox("EPSG:4326")
    assert w == pytest.approx(x0, abs=1e-3) and n == pytest.approx(y1, abs=1e-3)
    assert {"image/png", "image/jpeg"} <= set(service.getOperationByName("GetMap").formatOptions)
    assert (
        world.offerings["wms_r"]
        .offering["urls"][0]["url"]
        .endswith("/wms-r?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities")
    )


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:4326", "EPSG:2154"])
@pytest.mark.parametrize("size", [(256, 256), (300, 150)])
def test_getmap_data_inside_transparent_outside(world: World, crs: str, size: tuple[int, int]) -> None:
    x0, y0, x1, y1 = data_bbox(crs)
    dx, dy = x1 - x0, y1 - y0
    # The map is twice the data's size, the data in its middle.
    bbox = (x0 - dx / 2, y0 - dy / 2, x1 + dx / 2, y1 + dy / 2)
    img = wms(world).getmap(
        layers=["ortho_png"], srs=crs, bbox=bbox, size=size, format="image/png", transparent=True
    )
    pixels = rgba(img.read())
    w, h = size
    assert pixels.shape == (h, w, 4)
    center = pixels[h // 2, w // 2]
    assert center[3] == 255 and not (center[:3] >= 250).all()  # data (never white) in the middle
    assert pixels[2, 2, 3] == 0 and pixels[h - 3, w - 3, 3] == 0  # transparent corners
    opaque = (pixels[..., 3] > 0).mean()
    assert 0.15 < opaque < 0.35  # about a quarter of the map


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:4326", "EPSG:2154"])
@pytest.mark.parametrize("layer", ["ortho_jpg", "ortho_png"])
def test_opaque_map_has_the_pixels_of_the_transparent_one_on_white(
    world: World, crs: str, layer: str
) -> None:
    """Opaque maps go to the MapProxy app that merges JPEG caches as RGB; transparent ones to the
    RGBA one: the same map, flattened on white, must have the same pixels (data and outside)."""
    x0, y0, x1, y1 = data_bbox(crs)
    dx, dy = x1 - x0, y1 - y0
    bbox = (x0 - dx / 3, y0 - dy / 5, x1 - dx / 4, y1 + dy / 7)  # off the tiles, across the data's edge
    maps = {}
    for transparent in ("TRUE", "FALSE"):
        params = {
            "SERVICE": "WMS", "VERSION": "1.1.1", "REQUEST": "GetMap", "LAYERS": layer, "STYLES": "",
            "SRS": crs, "BBOX": ",".join(map(str, bbox)), "WIDTH": "300", "HEIGHT": "200",
            "FORMAT": "image/png", "TRANSPARENT": transparent,
        }  # fmt: skip
        r = httpx.get(f"{world.base_url}/wms-r", params=params)
        assert r.status_code == 200, r.text[:300]
        maps[transparent] = rgba(r.content).astype(np.float64)
    see_through, opaque = maps["TRUE"], maps["FALSE"]
    assert (opaque[..., 3] == 255).all()
    assert 0.2 < (see_through[..., 3] == 0).mean() < 0.8  # the map shows data and outside
    a = see_through[..., 3:] / 255
    on_white = see_through[..., :3] * a + 255 * (1 - a)
    diff = np.abs(on_white - opaque[..., :3])
    assert diff.mean() < 0.5, diff.mean()
    assert np.percentile(diff, 99) <= 8  # only the resampled rim of the data may differ a little


def test_getmap_jpeg_and_big_size(world: World) -> None:
    bbox = data_bbox("EPSG:3857")
    img = wms(world).getmap(
        layers=["ortho_jpg"], srs="EPSG:3857", bbox=bbox, size=(4096, 2048), format="image/jpeg"
    )
    data = img.read()
    assert data[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(data)).size == (4096, 2048)


def test_axis_order_epsg4326_in_130(world: World) -> None:
    """BBOX in 1.3.0 EPSG:4326 is lat,lon: the swapped box (lon,lat) lands far away, on nothing."""
    x0, y0, x1, y1 = data_bbox("EPSG:4326")
    base = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetMap",
        "LAYERS": "ortho_png",
        "STYLES": "",
        "CRS": "EPSG:4326",
        "WIDTH": "64",
        "HEIGHT": "64",
        "FORMAT": "image/png",
        "TRANSPARENT": "TRUE",
    }
    right = httpx.get(f"{world.base_url}/wms-r", params={**base, "BBOX": f"{y0},{x0},{y1},{x1}"})
    wrong = httpx.get(f"{world.base_url}/wms-r", params={**base, "BBOX": f"{x0},{y0},{x1},{y1}"})
    assert right.status_code == wrong.status_code == 200
    assert rgba(right.content)[32, 32, 3] == 255
    assert (rgba(wrong.content)[..., 3] == 0).all()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"LAYERS": "nope"}, "LayerNotDefined"),
        ({"CRS": "EPSG:9999"}, "InvalidCRS"),
        ({"BBOX": "1,2,3"}, "InvalidParameterValue"),
        ({"BBOX": "10,10,0,0"}, None),
        ({"WIDTH": "5000"}, "InvalidParameterValue"),
    ],
)
def test_bad_requests_give_service_exceptions(world: World, change: dict[str, str], code: str | None) -> None:
    params = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetMap",
        "LAYERS": "ortho_png",
        "STYLES": "",
        "CRS": "EPSG:3857",
        "BBOX": ",".join(map(str, data_bbox("EPSG:3857"))),
        "WIDTH": "64",
        "HEIGHT": "64",
        "FORMAT": "image/png",
        **change,
    }
    response = httpx.get(f"{world.base_url}/wms-r", params=params)
    assert response.status_code == 400
    root = etree.fromstring(response.content)
    assert etree.QName(root).localname == "ServiceExceptionReport"
    exc = root[0]
    assert etree.QName(exc).localname == "ServiceException"
    if code:
        assert exc.get("code") == code


def test_wmts_capabilities_and_gettile(world: World) -> None:
    url = world.offerings["wmts"].offering["urls"]
    wmts_url = next(u["url"] for u in url if u["type"] == "WMTS")
    service = WebMapTileService(wmts_url)
    assert "ortho_tiles" in service.contents
    assert "PM" in service.tilematrixsets and len(service.tilematrixsets["PM"].tilematrix) == 22
    layer = service.contents["ortho_tiles"]
    limits = layer.tilematrixsetlinks["PM"].tilematrixlimits
    z = max(int(k) for k in limits)
    lim = limits[str(z)]
    tile = service.gettile(
        layer="ortho_tiles",
        tilematrixset="PM",
        tilematrix=str(z),
        row=lim.mintilerow,
        column=lim.mintilecol,
        format="image/jpeg",
    )
    assert Image.open(io.BytesIO(tile.read())).size == (256, 256)
    # REST and TMS (XYZ rows) give the same tile; outside the pyramid: 404.
    rest = httpx.get(
        f"{world.base_url}/wmts/ortho_tiles/normal/PM/{z}/{lim.mintilerow}/{lim.mintilecol}.jpeg"
    )
    tms_url = next(u["url"] for u in url if u["type"] == "TMS")
    xyz = httpx.get(
        tms_url.replace("{z}", str(z)).replace("{x}", str(lim.mintilecol)).replace("{y}", str(lim.mintilerow))
    )
    assert rest.status_code == xyz.status_code == 200
    assert rest.content == xyz.content
    assert xyz.headers["content-type"] == "image/jpeg"
    assert httpx.get(f"{world.base_url}/tms/1.0.0/ortho_tiles/{z}/0/0.jpeg").status_code == 404
    assert (
        httpx.get(
            f"{world.base_url}/tms/1.0.0/ortho_tiles/{z}/{lim.mintilecol}/{lim.mintilerow}.png"
        ).status_code
        == 404
    )
    kvp = httpx.get(
        f"{world.base_url}/wmts",
        params={
            "SERVICE": "WMTS",
            "REQUEST": "GetTile",
            "VERSION": "1.0.0",
            "LAYER": "ortho_tiles",
            "STYLE": "normal",
            "TILEMATRIXSET": "PM",
            "TILEMATRIX": str(z),
            "TILEROW": "0",
            "TILECOL": "0",
            "FORMAT": "image/jpeg",
        },
    )
    assert kvp.status_code == 404 and b"TileOutOfRange" in kvp.content


def test_unpublished_offering_is_no_longer_served(world: World, tmp_path: Path) -> None:
    from test_serve_ogc_support import publish

    store = world.store
    pyramid = world.offerings["wms_r"].stored_data
    conf, offering = publish(
        store, "WMS-RASTER", "ortho_temp", {"used_data": [{"stored_data": pyramid["_id"]}]}
    )
    bbox = ",".join(map(str, data_bbox("EPSG:3857")))
    params = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetMap",
        "LAYERS": "ortho_temp",
        "STYLES": "",
        "CRS": "EPSG:3857",
        "BBOX": bbox,
        "WIDTH": "32",
        "HEIGHT": "32",
        "FORMAT": "image/png",
    }
    assert httpx.get(f"{world.base_url}/wms-r", params=params).status_code == 200
    assert httpx.get(f"{world.base_url}/preview/{offering['_id']}").status_code == 200
    store.delete_entity("offering", offering["_id"])  # unpublishes
    response = httpx.get(f"{world.base_url}/wms-r", params=params)
    assert response.status_code == 400 and b"LayerNotDefined" in response.content
    assert "ortho_temp" not in wms(world).contents
    assert httpx.get(f"{world.base_url}/preview/{offering['_id']}").status_code == 404


@pytest.mark.parametrize("key", ["wms_r", "wmts"])
def test_preview_page_shows_the_map_in_chromium(world: World, key: str, tmp_path: Path) -> None:
    dom = check_preview(world.offerings[key].offering, tmp_path / "profile")
    assert "leaflet-tile-loaded" in dom


def test_getfeatureinfo_where_the_configuration_asks(world: World) -> None:
    service = wms(world)
    assert service["ortho_png"].queryable == 1 and service["ortho_jpg"].queryable == 0
    x0, y0, x1, y1 = data_bbox("EPSG:3857")
    dx = x1 - x0
    bbox = (x0 - dx, y0, x1, y1)  # data in the right half
    asked = {
        "layers": ["ortho_png"],
        "srs": "EPSG:3857",
        "bbox": bbox,
        "size": (200, 100),
        "format": "image/png",
    }
    inside = service.getfeatureinfo(
        **asked, query_layers=["ortho_png"], info_format="application/json", xy=(150, 50)
    )
    values = json.loads(inside.read())["features"][0]["properties"]["values"]
    assert values is not None and len(values) >= 3 and not all(v >= 250 for v in values[:3])
    outside = service.getfeatureinfo(
        **asked, query_layers=["ortho_png"], info_format="text/plain", xy=(20, 50)
    )
    assert outside.read().decode().strip() == "ortho_png: no data"
    params = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetFeatureInfo", "LAYERS": "ortho_jpg",
        "STYLES": "", "QUERY_LAYERS": "ortho_jpg", "CRS": "EPSG:3857", "BBOX": ",".join(map(str, bbox)),
        "WIDTH": "200", "HEIGHT": "100", "I": "150", "J": "50", "INFO_FORMAT": "text/plain",
    }  # fmt: skip
    refused = httpx.get(f"{world.base_url}/wms-r", params=params)
    assert refused.status_code == 400 and b"LayerNotQueryable" in refused.content


@pytest.mark.parametrize("path", ["/wms-r", "/wms-v"])
def test_both_wms_advertise_the_map_size_cap(world: World, path: str) -> None:
    from gpf_flow.serve.ows import MAX_MAP_SIZE

    url = f"{world.base_url}{path}?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities"
    root = etree.fromstring(httpx.get(url, timeout=30).content)
    ns = {"wms": "http://www.opengis.net/wms"}
    assert root.findtext("wms:Service/wms:MaxWidth", namespaces=ns) == str(MAX_MAP_SIZE)
    assert root.findtext("wms:Service/wms:MaxHeight", namespaces=ns) == str(MAX_MAP_SIZE)
    too_wide = (
        f"{world.base_url}{path}?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=x&STYLES=&CRS=EPSG:4326"
        f"&BBOX=45,5,46,6&WIDTH={MAX_MAP_SIZE + 1}&HEIGHT=10&FORMAT=image/png"
    )
    answer = httpx.get(too_wide, timeout=30)
    assert answer.status_code != 500 and b"ServiceException" in answer.content
    assert b"image/png" not in answer.headers.get("content-type", "").encode()
