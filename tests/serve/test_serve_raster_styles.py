"""ROK4 styles on the raster WMS of a real ``gpf-flow serve``: a grey (elevation-like) pyramid
published with a palette style and a hillshade style."""

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
from PIL import Image
from test_serve_ogc_support import (
    RASTER_PROCESSING,
    RASTER_SIZE,
    World,
    data_bbox,
    deliver,
    process,
    publish,
    write_square,
)

from gpf_flow.errors import BadRequestError
from gpf_flow.store.local import LocalStore

STRIPES = (10, 60, 120, 200)
"""Values of four vertical stripes, west to east, each a quarter of the raster."""
CLASSES = {
    "identifier": "classes",
    "title": "Classes d'altitude",
    "abstract": "Four colours",
    "keywords": ["MNT"],
    "palette": {
        "no_alpha": False,
        "rgb_continuous": False,
        "alpha_continuous": False,
        "colours": [
            {"value": 0, "red": 255, "green": 0, "blue": 0, "alpha": 255},
            {"value": 50, "red": 0, "green": 255, "blue": 0, "alpha": 255},
            {"value": 100, "red": 0, "green": 0, "blue": 255, "alpha": 255},
            {"value": 150, "red": 255, "green": 255, "blue": 0, "alpha": 255},
        ],
    },
}
EXPECTED = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
RELIEF = {
    "identifier": "relief",
    "title": "Estompage",
    "legend": {"format": "image/png", "url": "http://127.0.0.1:9/relief.png", "width": 90, "height": 30},
    "estompage": {"zenith": 45, "azimuth": 315, "z_factor": 1},
}


def write_stripes(folder: Path) -> Path:
    """A one-band 8-bit GeoTIFF in EPSG:2154 (the generated raster's extent), four value stripes."""
    folder.mkdir(parents=True, exist_ok=True)
    values = np.repeat(np.array(STRIPES, dtype=np.uint8), RASTER_SIZE // len(STRIPES))
    band = np.tile(values, (RASTER_SIZE, 1))
    return write_square(folder / "mnt.tif", band[np.newaxis])


@pytest.fixture(scope="module")
def world(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store = LocalStore(server.home, public_url=server.base_url)
    tmp = tmp_path_factory.mktemp("raster-styles")
    try:
        write_stripes(tmp / "mnt")
        upload = deliver(store, tmp / "mnt", "MNT_STRIPES", "RASTER")
        pyramid = process(store, RASTER_PROCESSING, upload, "mnt_pyramid", {"compression": "png"})
        ids = []
        for doc in (CLASSES, RELIEF):
            path = tmp / f"{doc['identifier']}.json"
            path.write_text(json.dumps(doc), encoding="utf-8")
            ids.append(store.create_static(path, str(doc["identifier"]), "ROK4-STYLE")["_id"])
        publish(store, "WMS-RASTER", "mnt", {"used_data": [{"stored_data": pyramid["_id"]}], "styles": ids})
        yield World(store=store, base_url=server.base_url)
    finally:
        store.close()


def get_map(world: World, styles: str, **extra: str) -> httpx.Response:
    params = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetMap",
        "LAYERS": "mnt",
        "STYLES": styles,
        "CRS": "EPSG:2154",
        "BBOX": ",".join(map(str, data_bbox("EPSG:2154"))),
        "WIDTH": "400",
        "HEIGHT": "400",
        "FORMAT": "image/png",
        "TRANSPARENT": "TRUE",
        **extra,
    }
    return httpx.get(f"{world.base_url}/wms-r", params=params)


def stripe_centres(pixels: np.ndarray) -> list[tuple[int, ...]]:
    """The RGBA at the middle of each stripe of a 400×400 map of the data's extent."""
    return [tuple(int(v) for v in pixels[200, 50 + 100 * k]) for k in range(len(STRIPES))]


def rgba(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def test_capabilities_list_the_styles_with_legends(world: World) -> None:
    service = WebMapService(f"{world.base_url}/wms-r?SERVICE=WMS&REQUEST=GetCapabilities", version="1.3.0")
    styles = service["mnt"].styles
    assert {"classes", "relief"} <= set(styles)
    assert styles["classes"]["title"] == "Classes d'altitude"
    drawn = styles["classes"]["legend"]
    assert "REQUEST=GetLegendGraphic" in drawn and "STYLE=classes" in drawn and "LAYER=mnt" in drawn
    assert styles["relief"]["legend"] == RELIEF["legend"]["url"]  # the style's own legend
    assert styles["relief"]["legend_width"] == "90"
    old = WebMapService(f"{world.base_url}/wms-r?SERVICE=WMS&REQUEST=GetCapabilities", version="1.1.1")
    assert {"classes", "relief"} <= set(old["mnt"].styles)


def test_getmap_with_the_palette_style_has_its_colours(world: World) -> None:
    response = get_map(world, "classes")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    centres = stripe_centres(rgba(response.content))
    assert [c[:3] for c in centres] == EXPECTED and all(c[3] == 255 for c in centres)


def test_getmap_without_style_is_the_data_as_stored(world: World) -> None:
    for styles in ("", "default"):
        centres = stripe_centres(rgba(get_map(world, styles).content))
        for (r, g, b, a), value in zip(centres, STRIPES, strict=True):
            assert a == 255 and r == g == b and abs(r - value) <= 1


def test_getmap_with_the_hillshade_style(world: World) -> None:
    pixels = rgba(get_map(world, "relief").content)
    # Inside a stripe the ground is flat: lit at cos(45°) (180). The 50 m steps between stripes
    # are cliffs facing west, 45° off a sun 45° high: darker than flat ground (0.71·cos S +
    # 0.5·sin S < 0.71 for slopes S steeper than 70°), over a few pixels only.
    for r, g, b, a in stripe_centres(pixels):
        assert a == 255 and r == g == b and abs(r - 180) <= 1
    step = pixels[200, 80:120, 0].astype(int)
    assert step.min() < 170 and (step == 180).sum() > 20


def test_unknown_style_is_an_ogc_exception(world: World) -> None:
    for styles, extra in (("nope", {}), ("classes,relief", {})):
        response = get_map(world, styles, **extra)
        assert response.status_code == 400
        root = etree.fromstring(response.content)
        assert etree.QName(root).localname == "ServiceExceptionReport"
        assert root[0].get("code") == "StyleNotDefined"


def test_getlegendgraphic(world: World) -> None:
    base = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetLegendGraphic", "LAYER": "mnt"}
    drawn = httpx.get(f"{world.base_url}/wms-r", params={**base, "STYLE": "classes", "FORMAT": "image/png"})
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/png"
    image = rgba(drawn.content)
    assert image.shape[0] == 80  # one 20-pixel row per colour
    assert [tuple(int(v) for v in image[10 + 20 * k, 5, :3]) for k in range(4)] == EXPECTED
    own = httpx.get(f"{world.base_url}/wms-r", params={**base, "STYLE": "relief"})
    assert own.status_code == 302 and own.headers["location"] == RELIEF["legend"]["url"]
    unknown = httpx.get(f"{world.base_url}/wms-r", params={**base, "STYLE": "nope"})
    assert unknown.status_code == 400 and b"StyleNotDefined" in unknown.content


def test_a_bad_style_static_is_refused_at_upload(world: World, tmp_path: Path) -> None:
    bad = json.loads(json.dumps(CLASSES))
    bad["palette"]["colours"][2]["blue"] = 256
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(BadRequestError, match=r"palette\.colours\[2\]\.blue"):
        world.store.create_static(path, "bad", "ROK4-STYLE")
    assert world.store.list_entities("static", {"name": "bad"}).total == 0
    # Replacing a style's file goes through the same check; the old file stays.
    good = world.store.list_entities("static", {"name": "classes"}).items[0]
    with pytest.raises(BadRequestError, match=r"palette\.colours\[2\]\.blue"):
        world.store.replace_static_file(good["_id"], path)
    assert json.loads(world.store.static_file(good["_id"]).read_bytes()) == CLASSES


def test_a_configuration_names_rok4_style_statics_only(world: World, tmp_path: Path) -> None:
    sld = tmp_path / "style.sld"
    sld.write_text("<StyledLayerDescriptor/>", encoding="utf-8")
    other = world.store.create_static(sld, "not_rok4", "GEOSERVER-STYLE")
    pyramid = world.store.list_entities("stored_data", {"name": "mnt_pyramid"}).items[0]
    for styles, message in (
        ([other["_id"]], r"type_infos\.styles\[0\]: static .* is a GEOSERVER-STYLE, not a ROK4-STYLE"),
        (["nope"], r"type_infos\.styles\[0\]: static 'nope' does not exist"),
        ("classes", r"'type_infos\.styles' must be a list"),
    ):
        body = {"used_data": [{"stored_data": pyramid["_id"]}], "styles": styles}
        with pytest.raises(BadRequestError, match=message):
            world.store.create_entity(
                "configuration",
                {"type": "WMS-RASTER", "name": "x", "layer_name": "mnt_x", "type_infos": body},
            )


def test_the_api_shows_a_style_static_as_the_dto_says(server: Any, world: World) -> None:
    with server.client() as api:
        found = api.get(f"{server.ds}/statics", params={"name": "relief"}).json()
        detail = api.get(f"{server.ds}/statics/{found[0]['_id']}").json()
    # StaticFileRok4StyleDetailsDto: the style's identifier and its own legend
    assert detail["type"] == "ROK4-STYLE"
    assert detail["type_infos"] == {"identifier": "relief", "legend_url": RELIEF["legend"]["url"]}


def test_a_styled_map_that_is_one_stored_tile_is_styled(world: World) -> None:
    """The one-tile path (stored bytes) steps aside for a style."""
    from gpf_flow import tms as grids
    from gpf_flow.serve.mbtiles import MBTiles

    (path,) = (world.store.home / "stored_data").glob("*/pyramid.mbtiles")  # this module's one pyramid
    pyramid = MBTiles(path)
    z = pyramid.info.maxzoom
    c0, c1, r0, r1 = pyramid.ranges[z]
    col, row = (c0 + c1) // 2, (r0 + r1) // 2
    level = grids.level(pyramid.info.grid, z)
    left, top = level.left + col * level.span, level.top - row * level.span
    bbox = (left, top - level.span, left + level.span, top)
    box = {"CRS": "EPSG:3857", "BBOX": ",".join(map(repr, bbox)), "WIDTH": "256", "HEIGHT": "256"}
    plain = get_map(world, "", **box)
    styled = get_map(world, "classes", **box)
    assert plain.status_code == styled.status_code == 200
    assert plain.content == pyramid.tile(z, col, row)  # the stored tile, as is
    colours = {tuple(p[:3]) for p in rgba(styled.content).reshape(-1, 4) if p[3] == 255}
    assert colours and colours <= set(EXPECTED)  # the palette's colours, not the stored greys
