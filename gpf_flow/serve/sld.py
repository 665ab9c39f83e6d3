"""A small SLD 1.0/1.1 reader: rules with simple filters, polygon/line/point symbolizers.

Supported: ``Rule`` with ``ogc:Filter`` (read by :mod:`gpf_flow.serve.fes`: comparisons, ``Like``,
``Between``, ``Null``, ``And``/``Or``/``Not``), ``ElseFilter``, ``Min``/``MaxScaleDenominator``;
``PolygonSymbolizer`` (Fill, Stroke), ``LineSymbolizer`` (Stroke), ``PointSymbolizer`` (Mark with
Fill/Stroke and Size). ``CssParameter`` (1.0) and ``SvgParameter`` (1.1) are both read.
Anything else is ignored, so a richer style still draws its basic colours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from gpf_flow.serve.fes import FilterError, read_filter
from gpf_flow.serve.vector_query import Expr, evaluate

RGBA = tuple[int, int, int, int]


@dataclass(frozen=True)
class Symbolizer:
    """How to draw one geometry kind."""

    kind: str
    """``polygon``, ``line`` or ``point``."""
    fill: RGBA | None = None
    stroke: RGBA | None = None
    stroke_width: float = 1.0
    size: float = 6.0
    mark: str = "circle"


@dataclass(frozen=True)
class Rule:
    """One rule: a filter (None = always), an else flag, scale limits and symbolizers."""

    name: str = ""
    filter: Expr | None = None
    else_filter: bool = False
    min_scale: float = 0.0
    max_scale: float = float("inf")
    symbolizers: tuple[Symbolizer, ...] = ()

    def applies(self, scale: float) -> bool:
        """True when the map scale is within the rule's scale range."""
        return self.min_scale <= scale < self.max_scale


@dataclass(frozen=True)
class Style:
    """A named list of rules."""

    name: str
    rules: tuple[Rule, ...] = field(default=())

    def match(self, props: Mapping[str, Any], scale: float) -> list[Rule]:
        """The rules drawing a feature with these properties (``ElseFilter`` rules if no other)."""
        active = [r for r in self.rules if r.applies(scale)]
        hits = [r for r in active if not r.else_filter and (r.filter is None or evaluate(r.filter, props))]
        if hits:
            return hits
        return [r for r in active if r.else_filter]


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and _local(c) == name]


def _first(el: etree._Element | None, name: str) -> etree._Element | None:
    if el is None:
        return None
    for c in el.iter():
        if isinstance(c.tag, str) and _local(c) == name:
            return c
    return None


def _params(el: etree._Element | None) -> dict[str, str]:
    if el is None:
        return {}
    out = {}
    for c in el:
        if isinstance(c.tag, str) and _local(c) in ("CssParameter", "SvgParameter"):
            out[str(c.get("name"))] = "".join(c.itertext()).strip()
    return out


def parse_color(text: str | None, opacity: str | float | None = None) -> RGBA | None:
    """``#rrggbb`` (or ``#rgb``) plus an opacity in 0–1 as RGBA."""
    if not text:
        return None
    value = text.strip().lstrip("#")
    if len(value) == 3:
        value = "".join(ch * 2 for ch in value)
    try:
        r, g, b = int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    except ValueError:
        return None
    alpha = 1.0 if opacity in (None, "") else float(opacity)
    return r, g, b, max(0, min(255, round(alpha * 255)))


def _fill(el: etree._Element | None) -> RGBA | None:
    p = _params(el)
    return parse_color(p.get("fill", "#808080"), p.get("fill-opacity")) if el is not None else None


def _stroke(el: etree._Element | None) -> tuple[RGBA | None, float]:
    if el is None:
        return None, 1.0
    p = _params(el)
    return parse_color(p.get("stroke", "#000000"), p.get("stroke-opacity")), float(p.get("stroke-width") or 1)


def _symbolizer(el: etree._Element) -> Symbolizer | None:
    kind = _local(el)
    if kind == "PolygonSymbolizer":
        stroke, width = _stroke(_first(el, "Stroke"))
        return Symbolizer("polygon", fill=_fill(_first(el, "Fill")), stroke=stroke, stroke_width=width)
    if kind == "LineSymbolizer":
        stroke, width = _stroke(_first(el, "Stroke"))
        return Symbolizer("line", stroke=stroke, stroke_width=width)
    if kind == "PointSymbolizer":
        mark = _first(el, "Mark")
        stroke, width = _stroke(_first(mark, "Stroke"))
        size_el = _first(el, "Size")
        name_el = _first(mark, "WellKnownName")
        return Symbolizer(
            "point",
            fill=_fill(_first(mark, "Fill")) if mark is not None else (128, 128, 128, 255),
            stroke=stroke,
            stroke_width=width,
            size=float((size_el.text or "6").strip()) if size_el is not None else 6.0,
            mark=(name_el.text or "circle").strip().lower() if name_el is not None else "circle",
        )
    return None


def _filter(el: etree._Element) -> Expr | None:
    try:
        return read_filter(el, "EPSG:4326")
    except FilterError:
        # An operator this reader does not know: the rule draws every feature, as before.
        return None


def _scale(el: etree._Element, name: str, default: float) -> float:
    found = _children(el, name)
    return float(str(found[0].text or default).strip()) if found else default


def parse_sld(data: bytes, name: str = "style") -> Style:
    """The first user style of an SLD document; ``ValueError`` if it is not an SLD."""
    try:
        root = etree.fromstring(data)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"style {name!r} is not XML: {exc}") from exc
    user_style = _first(root, "UserStyle")
    if user_style is None:
        raise ValueError(f"style {name!r} has no UserStyle")
    title = _first(user_style, "Name")
    rules = []
    for rule_el in (e for e in user_style.iter() if isinstance(e.tag, str) and _local(e) == "Rule"):
        filters = _children(rule_el, "Filter")
        symbolizers = tuple(
            s
            for s in (
                _symbolizer(c) for c in rule_el if isinstance(c.tag, str) and _local(c).endswith("Symbolizer")
            )
            if s is not None
        )
        rule_name = _children(rule_el, "Name")
        rules.append(
            Rule(
                name=(rule_name[0].text or "") if rule_name else "",
                filter=_filter(filters[0]) if filters else None,
                else_filter=bool(_children(rule_el, "ElseFilter")),
                min_scale=_scale(rule_el, "MinScaleDenominator", 0.0),
                max_scale=_scale(rule_el, "MaxScaleDenominator", float("inf")),
                symbolizers=symbolizers,
            )
        )
    return Style(name=(title.text or name) if title is not None else name, rules=tuple(rules))


def default_style(geometry_type: str) -> Style:
    """The style used when a relation names none: one rule per geometry kind."""
    kind = geometry_type.lower()
    if "polygon" in kind:
        sym = Symbolizer("polygon", fill=(120, 160, 220, 160), stroke=(40, 70, 140, 255), stroke_width=1)
    elif "line" in kind:
        sym = Symbolizer("line", stroke=(200, 60, 40, 255), stroke_width=2)
    else:
        sym = Symbolizer("point", fill=(230, 120, 20, 255), stroke=(90, 40, 0, 255), size=7)
    return Style(name="default", rules=(Rule(name="default", symbolizers=(sym,)),))
