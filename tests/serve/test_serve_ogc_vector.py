"""WMS-VECTOR (SLD styles, Pillow renderer), WFS 2.0 and downloads over data built by the real processings."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from lxml import etree
from owslib.wfs import WebFeatureService
from owslib.wms import WebMapService
from PIL import Image
from pyproj import Transformer
from test_serve_ogc_support import X0, Y0, ZONE_CODES, World, build_world, check_preview, publish

from gpf_flow.store.local import LocalStore

ZONES_BOX = (X0, Y0, X0 + 2000, Y0 + 500)  # the four zones, in EPSG:2154
TYPE = "zones_wfs:zones"


@pytest.fixture(scope="module")
def world(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store = LocalStore(server.home, public_url=server.base_url)
    try:
        yield build_world(
            store, tmp_path_factory.mktemp("ogc-vector"), server.base_url, ("vector", "archive")
        )
    finally:
        store.close()


def wms(world: World) -> WebMapService:
    return WebMapService(
        f"{world.base_url}/wms-v?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities", version="1.3.0"
    )


def wfs(world: World) -> WebFeatureService:
    url = world.offerings["wfs"].offering["urls"][0]["url"]
    return WebFeatureService(url, version="2.0.0")


def box_in(crs: str) -> tuple[float, float, float, float]:
    if crs == "EPSG:2154":
        return ZONES_BOX
    x0, y0, x1, y1 = Transformer.from_crs("EPSG:2154", crs, always_xy=True).transform_bounds(*ZONES_BOX)
    return x0, y0, x1, y1


def test_wms_vector_capabilities(world: World) -> None:
    service = wms(world)
    assert {"zones_styled", "zones_plain"} <= set(service.contents)
    layer = service["zones_styled"]
    assert {"EPSG:3857", "EPSG:4326", "EPSG:2154"} <= set(layer.crsOptions)
    assert "style_zones" in layer.styles
    assert layer.queryable == 1 and service["zones_plain"].queryable == 0
    w, s, e, n = layer.boundingBoxWGS84
    x0, y0, x1, y1 = box_in("EPSG:4326")
    assert w == pytest.approx(x0, abs=1e-6) and n == pytest.approx(y1, abs=1e-6)


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:4326", "EPSG:2154"])
def test_wms_vector_getmap_uses_the_sld(world: World, crs: str) -> None:
    x0, y0, x1, y1 = box_in(crs)
    img = wms(world).getmap(
        layers=["zones_styled"],
        srs=crs,
        bbox=(x0, y0, x1, y1),
        size=(400, 100),
        format="image/png",
        transparent=True,
    )
    pixels = np.asarray(Image.open(io.BytesIO(img.read())).convert("RGBA"))
    assert pixels.shape == (100, 400, 4)
    # Zones 1–2 (insee_dep 01) red, zone 3 (38) blue, zone 4 (73) matches no rule: transparent.
    assert tuple(pixels[50, 50]) == (255, 0, 0, 255)
    assert tuple(pixels[50, 150]) == (255, 0, 0, 255)
    assert tuple(pixels[50, 250]) == (0, 0, 255, 255)
    assert pixels[50, 350, 3] == 0


def test_wms_vector_default_style_hole_and_jpeg(world: World) -> None:
    service = wms(world)
    img = service.getmap(
        layers=["zones_plain"],
        srs="EPSG:2154",
        bbox=ZONES_BOX,
        size=(400, 100),
        format="image/png",
        transparent=True,
    )
    pixels = np.asarray(Image.open(io.BytesIO(img.read())).convert("RGBA"))
    assert pixels[50, 50, 3] > 0 and pixels[50, 310, 3] > 0  # every zone drawn by the default style
    assert pixels[50, 350, 3] == 0  # the hole of zone 4
    outside = service.getmap(
        layers=["zones_plain"],
        srs="EPSG:2154",
        bbox=(X0 - 9000, Y0 - 9000, X0 - 5000, Y0 - 5000),
        size=(64, 64),
        format="image/png",
        transparent=True,
    )
    assert (np.asarray(Image.open(io.BytesIO(outside.read())).convert("RGBA"))[..., 3] == 0).all()
    jpeg = service.getmap(
        layers=["zones_plain"],
        srs="EPSG:3857",
        bbox=box_in("EPSG:3857"),
        size=(4096, 1024),
        format="image/jpeg",
    )
    image = Image.open(io.BytesIO(jpeg.read()))
    assert image.format == "JPEG" and image.size == (4096, 1024)


def test_wms_vector_getfeatureinfo(world: World) -> None:
    info = wms(world).getfeatureinfo(
        layers=["zones_styled"],
        srs="EPSG:2154",
        bbox=ZONES_BOX,
        size=(400, 100),
        format="image/png",
        query_layers=["zones_styled"],
        info_format="application/json",
        xy=(250, 50),
    )
    doc = json.loads(info.read())
    assert [f["properties"]["code"] for f in doc["features"]] == ["Z03"]
    params = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetFeatureInfo",
        "LAYERS": "zones_plain",
        "QUERY_LAYERS": "zones_plain",
        "CRS": "EPSG:2154",
        "BBOX": ",".join(map(str, ZONES_BOX)),
        "WIDTH": "400",
        "HEIGHT": "100",
        "I": "50",
        "J": "50",
        "INFO_FORMAT": "text/plain",
        "STYLES": "",
    }
    refused = httpx.get(f"{world.base_url}/wms-v", params=params)
    assert refused.status_code == 400 and b"LayerNotQueryable" in refused.content


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"LAYERS": "nope"}, "LayerNotDefined"),
        ({"CRS": "EPSG:32631"}, "InvalidCRS"),
        ({"CRS": "EPSG:zzz"}, "InvalidCRS"),
        ({"BBOX": "1,2,3"}, "InvalidParameterValue"),
        ({"BBOX": "5,5,1,1"}, "InvalidParameterValue"),
        ({"FORMAT": "image/gif"}, "InvalidFormat"),
        ({"STYLES": "unknown_style"}, "StyleNotDefined"),
        ({"WIDTH": "4097"}, "InvalidParameterValue"),
    ],
)
def test_wms_vector_exceptions(world: World, change: dict[str, str], code: str) -> None:
    params = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetMap",
        "LAYERS": "zones_styled",
        "STYLES": "",
        "CRS": "EPSG:2154",
        "BBOX": ",".join(map(str, ZONES_BOX)),
        "WIDTH": "64",
        "HEIGHT": "64",
        "FORMAT": "image/png",
        **change,
    }
    response = httpx.get(f"{world.base_url}/wms-v", params=params)
    assert response.status_code == 400
    root = etree.fromstring(response.content)
    assert etree.QName(root).localname == "ServiceExceptionReport"
    assert root[0].get("code") == code


def test_wfs_capabilities_and_describe(world: World) -> None:
    service = wfs(world)
    assert TYPE in service.contents
    meta = service.contents[TYPE]
    assert meta.title == "Zones"
    assert {c.getcode() for c in meta.crsOptions} >= {"EPSG:2154", "EPSG:4326", "EPSG:3857"}
    schema = service.get_schema(TYPE)
    assert {"code", "nom", "population", "insee_dep"} <= set(schema["properties"])


def test_wfs_getfeature_counts_match_the_source(world: World) -> None:
    service = wfs(world)
    doc = json.loads(service.getfeature(typename=[TYPE], outputFormat="application/json").read())
    assert doc["numberMatched"] == doc["numberReturned"] == len(ZONE_CODES)
    assert sorted(f["properties"]["code"] for f in doc["features"]) == ZONE_CODES
    # lon/lat coordinates by default
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 5 < lon < 6 and 46 < lat < 47
    gml = etree.fromstring(service.getfeature(typename=[TYPE]).read())
    assert etree.QName(gml).localname == "FeatureCollection" and gml.get("numberMatched") == "4"
    members = gml.findall("{http://www.opengis.net/wfs/2.0}member")
    assert len(members) == 4
    assert members[0].find(".//{http://www.opengis.net/gml/3.2}MultiSurface") is not None


def test_wfs_bbox_paging_hits_and_srsname(world: World) -> None:
    service = wfs(world)
    # Zone 2 only (x 500..1000 inside, not touching the others).
    inner = (X0 + 600, Y0 + 100, X0 + 900, Y0 + 400, "urn:ogc:def:crs:EPSG::2154")
    doc = json.loads(service.getfeature(typename=[TYPE], bbox=inner, outputFormat="application/json").read())
    assert [f["properties"]["code"] for f in doc["features"]] == ["Z02"]
    # The same box in lon/lat: OWSLib sends it lat,lon for the urn form, as WFS 2.0 wants.
    t = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    x0, y0, x1, y1 = t.transform_bounds(*inner[:4])
    doc = json.loads(
        service.getfeature(
            typename=[TYPE],
            bbox=(x0, y0, x1, y1, "urn:ogc:def:crs:EPSG::4326"),
            outputFormat="application/json",
        ).read()
    )
    assert [f["properties"]["code"] for f in doc["features"]] == ["Z02"]
    page = json.loads(
        service.getfeature(
            typename=[TYPE], maxfeatures=2, startindex=1, outputFormat="application/json"
        ).read()
    )
    assert page["numberMatched"] == 4 and [f["properties"]["code"] for f in page["features"]] == [
        "Z02",
        "Z03",
    ]
    hits = httpx.get(
        f"{world.base_url}/wfs",
        params={
            "SERVICE": "WFS",
            "VERSION": "2.0.0",
            "REQUEST": "GetFeature",
            "TYPENAMES": TYPE,
            "RESULTTYPE": "hits",
        },
    )
    root = etree.fromstring(hits.content)
    assert root.get("numberMatched") == "4" and root.get("numberReturned") == "0"
    native = json.loads(
        service.getfeature(
            typename=[TYPE], srsname="urn:ogc:def:crs:EPSG::2154", outputFormat="application/json"
        ).read()
    )
    x, y = native["features"][0]["geometry"]["coordinates"][0][0][0]
    assert X0 - 1 <= x <= X0 + 2001 and Y0 - 1 <= y <= Y0 + 501


def test_wfs_exceptions(world: World) -> None:
    base = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature"}
    for extra, code in [
        ({"TYPENAMES": "nope"}, "InvalidParameterValue"),
        ({}, "MissingParameterValue"),
        ({"TYPENAMES": TYPE, "COUNT": "x"}, "InvalidParameterValue"),
        ({"TYPENAMES": TYPE, "SRSNAME": "EPSG:nope"}, "InvalidParameterValue"),
        ({"TYPENAMES": TYPE, "OUTPUTFORMAT": "shape-zip"}, "InvalidParameterValue"),
    ]:
        response = httpx.get(f"{world.base_url}/wfs", params={**base, **extra})
        assert response.status_code == 400, extra
        root = etree.fromstring(response.content)
        assert etree.QName(root).localname == "ExceptionReport"
        assert root[0].get("exceptionCode") == code, extra


def test_deleted_wfs_offering_stops_serving(world: World) -> None:
    store = world.store
    vdb = world.offerings["wfs"].stored_data
    relation = {"native_name": "zones", "public_name": "zones"}
    _, offering = publish(
        store, "WFS", "zones_temp", {"used_data": [{"stored_data": vdb["_id"], "relations": [relation]}]}
    )
    assert "zones_temp:zones" in wfs(world).contents
    store.delete_entity("offering", offering["_id"])
    assert "zones_temp:zones" not in wfs(world).contents
    response = httpx.get(
        f"{world.base_url}/wfs",
        params={
            "SERVICE": "WFS",
            "VERSION": "2.0.0",
            "REQUEST": "GetFeature",
            "TYPENAMES": "zones_temp:zones",
        },
    )
    assert response.status_code == 400


def test_download_listing_and_files(world: World) -> None:
    url = world.offerings["download"].offering["urls"][0]["url"]
    assert url.endswith("/download/archive_dl")
    listing = httpx.get(url, params={"f": "json"}).json()
    paths = sorted(f["path"] for f in listing["files"])
    assert paths == ["data.zip", "docs/readme.txt"]
    html = httpx.get(url).text
    assert "docs/readme.txt" in html and "data.zip" in html
    entry = next(f for f in listing["files"] if f["path"] == "data.zip")
    whole = httpx.get(entry["url"])
    assert whole.status_code == 200 and len(whole.content) == entry["size"]
    assert zipfile.ZipFile(io.BytesIO(whole.content)).testzip() is None
    part = httpx.get(entry["url"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == whole.content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{entry['size']}"
    assert httpx.get(f"{url}/docs/../../../etc/passwd").status_code == 404
    assert httpx.get(f"{url}/docs/missing.txt").status_code == 404
    assert httpx.get(f"{world.base_url}/download/nope").status_code == 404


@pytest.mark.parametrize("key", ["wms_v", "wfs", "download"])
def test_preview_page_shows_the_layer_in_chromium(world: World, key: str, tmp_path: Path) -> None:
    dom = check_preview(world.offerings[key].offering, tmp_path / "profile")
    if key == "wms_v":
        assert "leaflet-tile-loaded" in dom
    if key == "wfs":
        assert 'data-features="4"' in dom
    if key == "download":
        assert "docs/readme.txt" in dom


def test_preview_of_unknown_offering_is_404(world: World) -> None:
    assert httpx.get(f"{world.base_url}/preview/00000000-0000-0000-0000-000000000000").status_code == 404
    assert httpx.get(f"{world.base_url}/static/leaflet/leaflet.js").status_code == 200


@pytest.mark.parametrize(
    ("crs", "bbox"),
    [
        ("EPSG:4326", (-90, -180, 90, 180)),
        ("EPSG:3857", (-2e7, -2e7, 2e7, 2e7)),
        ("EPSG:2154", (-1e8, -1e8, 1e8, 1e8)),
    ],
)
def test_wms_vector_world_maps_still_show_the_data(world: World, crs: str, bbox: tuple[float, ...]) -> None:
    """A map far wider than the data CRS's area of use is clipped to the data, not lost."""
    params = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "zones_plain", "STYLES": "",
        "CRS": crs, "BBOX": ",".join(map(str, bbox)), "WIDTH": "2048", "HEIGHT": "1024",
        "FORMAT": "image/png", "TRANSPARENT": "TRUE",
    }  # fmt: skip
    response = httpx.get(f"{world.base_url}/wms-v", params=params)
    assert response.status_code == 200
    assert (np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))[..., 3] > 0).any()
