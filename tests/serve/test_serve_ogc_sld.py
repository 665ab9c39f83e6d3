"""The SLD reader and the Pillow renderer of the vector WMS, on their own."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from test_serve_ogc_support import SLD

from gpf_flow.serve.sld import default_style, parse_color, parse_sld
from gpf_flow.serve.vector_render import StyledFeatures, render

SLD_11 = b"""<?xml version="1.0" encoding="UTF-8"?>
<StyledLayerDescriptor version="1.1.0" xmlns="http://www.opengis.net/sld" xmlns:se="http://www.opengis.net/se"
    xmlns:ogc="http://www.opengis.net/ogc">
  <NamedLayer><se:Name>roads</se:Name><UserStyle><se:Name>roads_style</se:Name><se:FeatureTypeStyle>
    <se:Rule><se:Name>main</se:Name>
      <ogc:Filter><ogc:Or>
        <ogc:PropertyIsEqualTo><ogc:PropertyName>KIND</ogc:PropertyName><ogc:Literal>A</ogc:Literal></ogc:PropertyIsEqualTo>
        <ogc:PropertyIsEqualTo><ogc:PropertyName>kind</ogc:PropertyName><ogc:Literal>B</ogc:Literal></ogc:PropertyIsEqualTo>
      </ogc:Or></ogc:Filter>
      <se:MaxScaleDenominator>50000</se:MaxScaleDenominator>
      <se:LineSymbolizer><se:Stroke><se:SvgParameter name="stroke">#00ff00</se:SvgParameter>
        <se:SvgParameter name="stroke-width">3</se:SvgParameter></se:Stroke></se:LineSymbolizer>
    </se:Rule>
    <se:Rule><se:Name>other</se:Name><se:ElseFilter/>
      <se:LineSymbolizer><se:Stroke><se:SvgParameter name="stroke">#888</se:SvgParameter>
        <se:SvgParameter name="stroke-opacity">0.5</se:SvgParameter></se:Stroke></se:LineSymbolizer>
    </se:Rule>
  </se:FeatureTypeStyle></UserStyle></NamedLayer>
</StyledLayerDescriptor>
"""


def test_parse_sld_10_rules_and_polygon_symbolizers() -> None:
    style = parse_sld(SLD)
    assert style.name == "style_zones"
    assert [r.name for r in style.rules] == ["dep01", "dep38"]
    red = style.rules[0].symbolizers[0]
    assert red.kind == "polygon" and red.fill == (255, 0, 0, 255) and red.stroke == (0, 0, 0, 255)
    assert style.rules[1].symbolizers[0].stroke is None
    assert [r.name for r in style.match({"INSEE_DEP": "01"}, 1000)] == ["dep01"]
    assert style.match({"insee_dep": "73"}, 1000) == []


def test_parse_sld_11_or_filter_else_and_scale() -> None:
    style = parse_sld(SLD_11)
    assert style.name == "roads_style"
    assert [r.name for r in style.match({"kind": "B"}, 10_000)] == ["main"]
    assert [r.name for r in style.match({"kind": "C"}, 10_000)] == ["other"]
    # Beyond the rule's max scale only the else rule draws.
    assert [r.name for r in style.match({"kind": "A"}, 100_000)] == ["other"]
    grey = style.rules[1].symbolizers[0]
    assert grey.stroke == (136, 136, 136, 128) and style.rules[0].symbolizers[0].stroke_width == 3


def test_bad_styles_and_colors() -> None:
    with pytest.raises(ValueError, match="not XML"):
        parse_sld(b"<nope", name="broken")
    with pytest.raises(ValueError, match="no UserStyle"):
        parse_sld(b"<a/>", name="empty")
    assert parse_color("#abc") == (170, 187, 204, 255)
    assert parse_color("#12345g") is None and parse_color("red") is None


def test_render_fill_hole_stroke_and_points() -> None:
    square = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(4, 4), (6, 4), (6, 6), (4, 6)]])
    polygons = StyledFeatures([square], [{"insee_dep": "01"}], parse_sld(SLD))
    points = StyledFeatures([shapely.MultiPoint([(15, 5)])], [{}], default_style("MultiPoint"))
    image = np.asarray(render([polygons, points], (0, 0, 20, 10), 200, 100, 1000))
    assert image.shape == (100, 200, 4)
    assert tuple(image[20, 20]) == (255, 0, 0, 255)  # fill
    assert image[50, 50, 3] == 0  # the hole
    assert tuple(image[0, 50][:3]) == (0, 0, 0)  # stroke on the top edge
    assert tuple(image[50, 40][:3]) == (0, 0, 0)  # and around the hole
    assert image[50, 150, 3] == 255 and image[50, 150, 0] > 200  # the orange point
    assert image[10, 150, 3] == 0
