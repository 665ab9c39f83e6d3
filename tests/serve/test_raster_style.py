"""ROK4 styles without a server: parse errors, palettes, terrain, legends (hand-checked values)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS

from gpf_flow.raster_style import StyleError, apply_style, palette_rgba, parse_style
from gpf_flow.raster_style.ground import cell_metres
from gpf_flow.raster_style.legend import palette_legend
from gpf_flow.raster_style.model import Aspect, Hillshade, Palette, Slope
from gpf_flow.raster_style.terrain import horn_gradients, terrain_values
from gpf_flow.serve.raster_styles import add_styles, style_requested

RED, GREEN, BLUE = (255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255)


def colour(value: float, rgba: tuple[int, int, int, int]) -> dict[str, Any]:
    return {"value": value, "red": rgba[0], "green": rgba[1], "blue": rgba[2], "alpha": rgba[3]}


def style_doc(**extra: Any) -> dict[str, Any]:
    return {"identifier": "classes", "title": "Classes", "abstract": "", "keywords": ["MNT"], **extra}


def palette(
    *colours: dict[str, Any], rgb: bool = False, alpha: bool = False, no_alpha: bool = False
) -> Palette:
    doc = style_doc(
        palette={
            "rgb_continuous": rgb,
            "alpha_continuous": alpha,
            "no_alpha": no_alpha,
            "colours": list(colours),
        }
    )
    found = parse_style(json.dumps(doc)).palette
    assert found is not None
    return found


# -- parsing -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"title": "no identifier"}, "the style: 'identifier' is a required property"),
        (style_doc(identifier="two words"), "identifier:"),
        (
            style_doc(palette={"colours": [colour(0, RED), {**colour(1, RED), "red": 300}]}),
            "palette.colours[1].red:",
        ),
        (
            style_doc(palette={"colours": [{"value": 0, "red": 1, "green": 2, "blue": 3}]}),
            "'alpha' is a required",
        ),
        (style_doc(palette={"colours": []}), "palette.colours:"),
        (
            style_doc(palette={"colours": [colour(0, RED), colour(5, RED), colour(5, BLUE)]}),
            "palette.colours[2].value: 5 is not above the previous value 5",
        ),
        (style_doc(estompage={"zenith": 120}), "estompage.zenith:"),
        (style_doc(pente={"algo": "Z"}), "pente.algo:"),
        (style_doc(pente={}, exposition={}), "pente and exposition: a style has at most one of them"),
        (style_doc(legend={"width": "big"}), "legend.width:"),
    ],
)
def test_bad_styles_name_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(StyleError) as caught:
        parse_style(json.dumps(doc), "s.json")
    assert str(caught.value).startswith("s.json: ")
    assert field in str(caught.value)


def test_not_json_is_refused() -> None:
    with pytest.raises(StyleError, match="s.json: the document is not valid JSON"):
        parse_style(b"{identifier", "s.json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "s.json: the document is nested more than 16 levels deep"),
        (
            b'{"identifier": "x", "title": NaN}',
            "s.json: the document is not valid JSON: NaN is not a JSON number",
        ),
        (
            b'{"identifier": "x", "title": 1e999}',
            "s.json: the document is not valid JSON: 1e999 is out of the range",
        ),
        (b"\xff\xfe\x00garbage", "s.json: the document is not valid JSON"),
    ],
)
def test_hostile_style_documents_are_refused_cleanly(data: bytes, message: str) -> None:
    with pytest.raises(StyleError) as caught:
        parse_style(data, "s.json")
    assert str(caught.value).startswith(message), caught.value


def test_a_full_style_reads_with_its_parts() -> None:
    doc = style_doc(
        legend={"format": "image/jpeg", "url": "http://127.0.0.1/l.jpg", "width": 80, "height": 40},
        estompage={"zenith": 30, "azimuth": 270, "z_factor": 2},
        palette={"rgb_continuous": True, "colours": [colour(0, RED), colour(255, BLUE)]},
    )
    style = parse_style(json.dumps(doc))
    assert (style.identifier, style.title, style.keywords) == ("classes", "Classes", ("MNT",))
    assert style.legend is not None and (style.legend.format, style.legend.width) == ("image/jpeg", 80)
    assert style.terrain == Hillshade(30.0, 270.0, 2.0)
    assert style.palette is not None and style.palette.rgb_continuous and not style.palette.alpha_continuous
    assert not style.is_identity
    assert parse_style(json.dumps({"identifier": "normal"})).is_identity


# -- palettes --------------------------------------------------------------------------------------
def test_discrete_palette_holds_each_colour_up_to_the_next_value() -> None:
    pal = palette(colour(0, RED), colour(50, GREEN), colour(100, BLUE))
    values = np.array([-5, 0, 49.9, 50, 99.9, 100, 300], dtype=np.float64)
    got = palette_rgba(pal, values)
    assert got.tolist() == [list(c) for c in (RED, RED, RED, GREEN, GREEN, BLUE, BLUE)]


def test_continuous_palette_interpolates_rgb_and_alpha_and_clamps() -> None:
    pal = palette(colour(0, (0, 0, 0, 0)), colour(100, (200, 100, 40, 200)), rgb=True, alpha=True)
    got = palette_rgba(pal, np.array([-10.0, 25.0, 100.0, 150.0]))
    assert got.tolist() == [[0, 0, 0, 0], [50, 25, 10, 50], [200, 100, 40, 200], [200, 100, 40, 200]]


def test_rgb_continuous_alpha_stepwise_and_no_alpha() -> None:
    pal = palette(colour(0, (0, 0, 0, 10)), colour(100, (200, 100, 40, 200)), rgb=True)
    assert palette_rgba(pal, np.array([25.0])).tolist() == [[50, 25, 10, 10]]
    opaque = palette(colour(0, (0, 0, 0, 10)), colour(100, (200, 100, 40, 200)), rgb=True, no_alpha=True)
    assert palette_rgba(opaque, np.array([25.0])).tolist() == [[50, 25, 10, 255]]


def test_apply_style_colours_the_first_band_and_keeps_no_data_transparent() -> None:
    style = parse_style(
        json.dumps(style_doc(palette={"colours": [colour(0, RED), colour(50, GREEN), colour(100, BLUE)]}))
    )
    rgba = np.zeros((4, 1, 3), dtype=np.uint8)
    rgba[:3, 0] = [[10, 60, 120]] * 3
    rgba[3, 0] = [255, 255, 0]  # the last pixel has no data
    out = apply_style(style, rgba, (1.0, 1.0))
    assert out.dtype == np.uint8 and out.shape == (4, 1, 3)
    assert out[:, 0, 0].tolist() == list(RED) and out[:, 0, 1].tolist() == list(GREEN)
    assert out[3, 0, 2] == 0
    identity = parse_style(json.dumps({"identifier": "normal"}))
    assert apply_style(identity, rgba, (1.0, 1.0)) is rgba


# -- terrain -----------------------------------------------------------------------------------------
def plane(east: float, north: float, size: int = 7, cell: float = 10.0) -> np.ndarray:
    """z = east·x + north·y on a grid whose row 0 is the northernmost."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    return east * cols * cell + north * (size - 1 - rows) * cell


def test_horn_gradients_of_a_plane() -> None:
    east, north = horn_gradients(plane(2.0, 3.0), 10.0, 10.0)
    assert np.allclose(east[1:-1, 1:-1], 2.0) and np.allclose(north[1:-1, 1:-1], 3.0)


def test_hillshade_flat_and_facing_the_sun() -> None:
    flat, _ = terrain_values(np.zeros((5, 5)), (10.0, 10.0), Hillshade(45.0, 315.0, 1.0))
    assert np.allclose(flat, 255 * math.cos(math.radians(45)))  # 180.3
    # Rising to the south-east with a unit gradient: a 45° slope facing north-west, the sun's side.
    a = 1 / math.sqrt(2)
    lit, _ = terrain_values(plane(a, -a), (10.0, 10.0), Hillshade(45.0, 315.0, 1.0))
    assert np.allclose(lit[1:-1, 1:-1], 255.0)
    # The same slope facing south-east, away from a sun 45° high: in its own shadow.
    dark, _ = terrain_values(plane(-a, a), (10.0, 10.0), Hillshade(45.0, 315.0, 1.0))
    assert np.allclose(dark[1:-1, 1:-1], 0.0)


def test_slope_in_degrees_and_percent() -> None:
    degrees, _ = terrain_values(plane(1.0, 0.0), (10.0, 10.0), Slope("degree", 90.0))
    percent, _ = terrain_values(plane(1.0, 0.0), (10.0, 10.0), Slope("percent", 90.0))
    assert np.allclose(degrees[1:-1, 1:-1], 45.0) and np.allclose(percent[1:-1, 1:-1], 90.0)  # capped


def test_aspect_faces_downhill_and_is_undefined_on_flat_ground() -> None:
    west, known = terrain_values(plane(1.0, 0.0), (10.0, 10.0), Aspect(1.0, -1.0))  # rising to the east
    assert np.allclose(west[1:-1, 1:-1], 270.0) and known.all()
    south, _ = terrain_values(plane(0.0, 1.0), (10.0, 10.0), Aspect(1.0, -1.0))  # rising to the north
    assert np.allclose(south[1:-1, 1:-1], 180.0)
    flat, known = terrain_values(np.zeros((4, 4)), (10.0, 10.0), Aspect(1.0, -1.0))
    assert (flat == -1.0).all() and not known.any()


def test_hillshade_is_the_same_across_the_chunks_a_big_raster_is_styled_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gpf_flow.raster_style import apply

    monkeypatch.setattr(apply, "CHUNK_ROWS", 16)
    style = parse_style(json.dumps(style_doc(estompage={"zenith": 45, "azimuth": 315})))
    rgba = np.full((4, 60, 100), 255, dtype=np.uint8)
    rows, cols = np.mgrid[0:60, 0:100]
    rgba[0] = cols + 2 * (59 - rows)  # a plane: 1 m up per metre east, 2 m per metre north
    out = apply_style(style, rgba, (1.0, 1.0))
    slope = math.atan(math.sqrt(5))
    aspect = math.atan2(-1, -2)  # downhill: south-south-west
    lit = math.cos(math.radians(45)) * math.cos(slope) + math.sin(math.radians(45)) * math.sin(
        slope
    ) * math.cos(math.radians(315) - aspect)
    assert (out[0, 1:-1, 1:-1] == round(255 * lit)).all()  # rows 15/16, 31/32... included
    assert (out[3] == 255).all()


def test_cell_metres_in_projected_and_geographic_crs() -> None:
    east, north = cell_metres(CRS.from_epsg(2154), Affine(5, 0, 870_000, 0, -5, 6_572_000), (400, 400))
    assert east == pytest.approx(5.0, rel=2e-3) and north == pytest.approx(5.0, rel=2e-3)
    east, north = cell_metres(CRS.from_epsg(4326), Affine(0.001, 0, 5.0, 0, -0.001, 45.2), (400, 400))
    assert east == pytest.approx(111_320 * math.cos(math.radians(45.0)) * 0.001, rel=5e-3)
    assert north == pytest.approx(111.1, rel=5e-3)


# -- legends and capabilities ---------------------------------------------------------------------------
def test_discrete_legend_has_one_swatch_per_colour() -> None:
    image = palette_legend(palette(colour(0, RED), colour(50, GREEN), colour(100, BLUE)))
    assert image.height == 60 and image.width > 40
    assert [image.getpixel((5, y)) for y in (10, 30, 50)] == [RED, GREEN, BLUE]


def test_continuous_legend_is_a_ramp_through_the_colours() -> None:
    image = palette_legend(palette(colour(0, (0, 0, 0, 255)), colour(10, (200, 0, 0, 255)), rgb=True))
    top, bottom = image.getpixel((5, 9)), image.getpixel((5, 30))
    assert top[0] < 15 and bottom[0] > 185  # each value at the middle of its row
    assert 80 < image.getpixel((5, 20))[0] < 120


def test_style_requested_ignores_empty_and_default() -> None:
    assert not style_requested({"STYLES": ""}) and not style_requested({"STYLES": "default,"})
    assert not style_requested({}) and style_requested({"STYLES": ",classes"})


CAPS = b"""<?xml version="1.0"?>
<WMS_Capabilities xmlns="http://www.opengis.net/wms" version="1.3.0"
  xmlns:xlink="http://www.w3.org/1999/xlink">
<Capability><Request><GetMap><DCPType><HTTP><Get>
<OnlineResource xlink:href="http://127.0.0.1:9/wms-r/service?"/></Get></HTTP></DCPType></GetMap></Request>
<Layer><Title>root</Title>
<Layer><Name>elevation</Name><Title>E</Title><Style><Name>default</Name><Title>default</Title></Style>
<Layer><Name>child</Name><Title>c</Title></Layer></Layer>
</Layer></Capability></WMS_Capabilities>"""


def test_add_styles_after_the_default_one_with_a_legend_url() -> None:
    from lxml import etree

    style = parse_style(json.dumps(style_doc(palette={"colours": [colour(0, RED), colour(5, BLUE)]})))
    root = etree.fromstring(add_styles(CAPS, {"elevation": [style]}))
    ns = {"w": "http://www.opengis.net/wms", "x": "http://www.w3.org/1999/xlink"}
    layer = root.find(".//w:Layer[w:Name='elevation']", ns)
    assert [etree.QName(c).localname for c in layer] == ["Name", "Title", "Style", "Style", "Layer"]
    added = layer.findall("w:Style", ns)[1]
    assert added.findtext("w:Name", namespaces=ns) == "classes"
    legend = added.find("w:LegendURL", ns)
    assert legend.get("height") == "40" and int(legend.get("width")) > 20  # two rows, values on the right
    href = legend.find("w:OnlineResource", ns).get("{http://www.w3.org/1999/xlink}href")
    assert href.startswith("http://127.0.0.1:9/wms-r/service?SERVICE=WMS")
    assert "REQUEST=GetLegendGraphic" in href and "STYLE=classes" in href and "LAYER=elevation" in href
