"""Drawing styled vector features into an image with Pillow ``ImageDraw``.

Fills and strokes are drawn as 8-bit masks, one per (rule, symbolizer), then composited with
the symbolizer's colour and opacity; polygon holes are cut out of the fill mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from PIL import Image, ImageDraw, ImageFont

from gpf_flow.serve.sld import RGBA, Rule, Style, Symbolizer

# OGC "standardized rendering pixel size": 0.28 mm.
PIXEL_SIZE_M = 0.00028


@dataclass
class StyledFeatures:
    """Geometries already in the map's CRS, their properties and the style to draw them with."""

    geometries: Sequence[shapely.Geometry | None]
    properties: Sequence[dict[str, object]]
    style: Style


def scale_denominator(bbox: Sequence[float], width: int, meters_per_unit: float = 1.0) -> float:
    """The map scale denominator of a map of ``width`` pixels over ``bbox``."""
    return (bbox[2] - bbox[0]) * meters_per_unit / width / PIXEL_SIZE_M


def _to_pixels(geoms: Sequence[shapely.Geometry | None], bbox: Sequence[float], w: int, h: int) -> np.ndarray:
    x0, y0, x1, y1 = bbox
    sx, sy = w / (x1 - x0), h / (y1 - y0)

    def affine(coords: np.ndarray) -> np.ndarray:
        out = np.empty_like(coords)
        out[:, 0] = (coords[:, 0] - x0) * sx
        out[:, 1] = (y1 - coords[:, 1]) * sy
        return out

    return shapely.transform(np.asarray(geoms, dtype=object), affine)


def _ring(coords: np.ndarray) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in coords[:, :2]]


def _draw_fill(mask: ImageDraw.ImageDraw, geom: shapely.Geometry) -> None:
    for poly in shapely.get_parts(geom):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        exterior = _ring(shapely.get_coordinates(poly.exterior))
        if len(exterior) >= 3:
            mask.polygon(exterior, fill=255)
        for hole in poly.interiors:
            ring = _ring(shapely.get_coordinates(hole))
            if len(ring) >= 3:
                mask.polygon(ring, fill=0)


def _draw_stroke(mask: ImageDraw.ImageDraw, geom: shapely.Geometry, width: float) -> None:
    lines = (
        shapely.get_parts(shapely.boundary(geom)) if "Polygon" in geom.geom_type else shapely.get_parts(geom)
    )
    w = max(1, round(width))
    for line in lines:
        if line.is_empty or line.geom_type not in ("LineString", "LinearRing"):
            continue
        mask.line(_ring(shapely.get_coordinates(line)), fill=255, width=w, joint="curve" if w > 2 else None)


def _draw_point(fill: ImageDraw.ImageDraw | None, geom: shapely.Geometry, sym: Symbolizer) -> None:
    r = sym.size / 2
    for x, y in shapely.get_coordinates(geom)[:, :2]:
        box = (float(x) - r, float(y) - r, float(x) + r, float(y) + r)
        if fill is not None:
            if sym.mark == "square":
                fill.rectangle(box, fill=255)
            else:
                fill.ellipse(box, fill=255)


def _composite(canvas: Image.Image, mask: Image.Image, color: RGBA) -> Image.Image:
    if mask.getbbox() is None:
        return canvas
    alpha = mask if color[3] == 255 else mask.point(lambda v: v * color[3] // 255)
    layer = Image.new("RGBA", canvas.size, color[:3] + (0,))
    layer.putalpha(alpha)
    return Image.alpha_composite(canvas, layer)


def render(
    layers: Sequence[StyledFeatures], bbox: Sequence[float], width: int, height: int, scale: float
) -> Image.Image:
    """An RGBA image (transparent background) of the features over ``bbox`` (map CRS)."""
    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    for item in layers:
        pixels = _to_pixels(item.geometries, bbox, width, height)
        # (rule index, symbolizer index) -> [fill mask, stroke mask]
        masks: dict[tuple[int, int], tuple[Image.Image, Image.Image]] = {}
        rule_index = {id(rule): i for i, rule in enumerate(item.style.rules)}
        for geom, props in zip(pixels, item.properties, strict=True):
            if geom is None or geom.is_empty:
                continue
            for rule in item.style.match(props, scale):
                for k, sym in enumerate(rule.symbolizers):
                    key = (rule_index[id(rule)], k)
                    if key not in masks:
                        masks[key] = (Image.new("L", (width, height), 0), Image.new("L", (width, height), 0))
                    fill_draw, stroke_draw = (ImageDraw.Draw(m) for m in masks[key])
                    if sym.kind == "polygon":
                        if sym.fill is not None:
                            _draw_fill(fill_draw, geom)
                        if sym.stroke is not None:
                            _draw_stroke(stroke_draw, geom, sym.stroke_width)
                    elif sym.kind == "line":
                        if sym.stroke is not None:
                            _draw_stroke(stroke_draw, geom, sym.stroke_width)
                    else:
                        _draw_point(fill_draw, geom, sym)
        for (ri, si), (fill_mask, stroke_mask) in sorted(masks.items()):
            sym = item.style.rules[ri].symbolizers[si]
            if sym.fill is not None and sym.kind != "line":
                canvas = _composite(canvas, fill_mask, sym.fill)
            if sym.stroke is not None:
                canvas = _composite(canvas, stroke_mask, sym.stroke)
    return canvas


def _swatch_geometry(kind: str, width: int, height: int) -> shapely.Geometry:
    if kind == "polygon":
        return shapely.box(2, 2, width - 2, height - 2)
    if kind == "line":
        return shapely.LineString([(2, 2), (width - 2, height - 2)])
    return shapely.Point(width / 2, height / 2)


def legend(rules: Sequence[Rule], swatch: tuple[int, int], *, labels: bool = True) -> Image.Image:
    """A legend: one swatch per rule drawn with its symbolizers, its name on the right.

    Without labels and with one rule, the image is the swatch alone (GetLegendGraphic's ``RULE``).
    """
    w, h = swatch
    font = ImageFont.load_default()
    names = [r.name or "" for r in rules] if labels else []
    text_w = max((round(font.getlength(n)) for n in names), default=0)
    width = w + (text_w + 6 if text_w else 0)
    canvas = Image.new("RGBA", (width, max(1, h * len(rules))), (0, 0, 0, 0))
    for k, rule in enumerate(rules):
        # Each symbolizer alone in a rule without filter nor scale limits: the swatch always draws.
        items = [
            StyledFeatures([_swatch_geometry(s.kind, w, h)], [{}], Style("legend", (Rule(symbolizers=(s,)),)))
            for s in rule.symbolizers
        ]
        canvas.alpha_composite(render(items, (0, 0, w, h), w, h, 0.0), (0, k * h))
        if labels and rule.name:
            ImageDraw.Draw(canvas).text(
                (w + 4, k * h + h / 2), rule.name, fill=(0, 0, 0, 255), font=font, anchor="lm"
            )
    return canvas
