"""Styles of the raster WMS: a configuration's ROK4 styles (``type_infos.styles``, static ids).

The capabilities list them (``<Style>`` with ``<LegendURL>``), ``STYLES=`` picks one per layer
(empty or ``default``: the data as stored), and GetLegendGraphic answers the style's own legend
(a redirect to its ``legend.url``) or an image drawn from its palette.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlencode

from lxml import etree
from PIL import Image

from gpf_flow.errors import NotFoundError
from gpf_flow.raster_style import RasterStyle, StyleError, parse_style
from gpf_flow.raster_style.apply import drawn_palette
from gpf_flow.raster_style.legend import palette_legend
from gpf_flow.serve.ows import OgcError, require
from gpf_flow.serve.published import PublishedLayer
from gpf_flow.store.base import LocalCapabilities

log = logging.getLogger("gpf_flow.serve")
XLINK = "http://www.w3.org/1999/xlink"
DEFAULT = "default"
"""The style name of the data as stored (MapProxy's own)."""


def style_requested(params: Mapping[str, str]) -> bool:
    """Whether a GetMap (upper-case keys) asks for a style.

    A styled map is never the stored tiles: any path answering a GetMap with stored tile bytes
    (MapProxy, a map that is exactly one tile) must check this first and step aside.
    """
    return any(s.strip() and s.strip().lower() != DEFAULT for s in params.get("STYLES", "").split(","))


class StyleBook:
    """The parsed styles of published raster layers, re-read when a static's file changes."""

    def __init__(self, store: LocalCapabilities) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._cache: dict[tuple[Path, float], RasterStyle | None] = {}

    def _read(self, static_id: str) -> RasterStyle | None:
        try:
            path = self.store.static_file(static_id)
            key = (path, path.stat().st_mtime)
        except (NotFoundError, OSError):
            log.warning("raster style %s: no such static, not offered", static_id)
            return None
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        try:
            style: RasterStyle | None = parse_style(path.read_bytes(), f"static {static_id}")
        except StyleError as exc:
            log.warning("%s; the style is not offered", exc)
            style = None
        with self._lock:
            self._cache[key] = style
        return style

    def of(self, layer: PublishedLayer) -> list[RasterStyle]:
        """The layer's readable styles, in the configuration's order (one per identifier)."""
        ids = layer.type_infos.get("styles") or []
        found: dict[str, RasterStyle] = {}
        for static_id in ids if isinstance(ids, list) else []:
            style = self._read(str(static_id))
            if style is not None:
                found.setdefault(style.identifier, style)
        return list(found.values())

    def for_map(
        self, layers: Sequence[PublishedLayer], params: Mapping[str, str]
    ) -> list[RasterStyle | None]:
        """The style of each layer of a GetMap (None: as stored); ``StyleNotDefined`` if unknown."""
        asked = [s.strip() for s in params.get("STYLES", "").split(",")]
        if len(asked) not in (1, len(layers)):
            raise OgcError("StyleNotDefined", "STYLES must name one style per layer (or be empty)", "styles")
        if len(asked) == 1:
            asked *= len(layers)
        return [self.pick(layer, name) for layer, name in zip(layers, asked, strict=True)]

    def pick(self, layer: PublishedLayer, name: str) -> RasterStyle | None:
        """The layer's style named ``name`` (None for ``""`` or ``default``)."""
        if not name or name.lower() == DEFAULT:
            return None
        styles = {s.identifier: s for s in self.of(layer)}
        if name not in styles:
            offered = ", ".join([DEFAULT, *styles])
            raise OgcError(
                "StyleNotDefined",
                f"layer {layer.layer_name!r} has no style {name!r} (use {offered})",
                "styles",
            )
        return styles[name]


def legend_url(base: str, layer: str, style: RasterStyle) -> tuple[str, str, int | None, int | None]:
    """(url, format, width, height) of a style's legend: its own, else our GetLegendGraphic."""
    if style.legend is not None:
        own = style.legend
        return own.url, own.format, own.width, own.height
    query = urlencode(
        {
            "SERVICE": "WMS",
            "VERSION": "1.3.0",
            "REQUEST": "GetLegendGraphic",
            "LAYER": layer,
            "STYLE": style.identifier,
            "FORMAT": "image/png",
        }
    )
    image = _drawn(style)
    size = image.size if image is not None else (None, None)
    return f"{base}?{query}", "image/png", size[0], size[1]


def add_styles(capabilities: bytes, styles: Mapping[str, Sequence[RasterStyle]]) -> bytes:
    """MapProxy's capabilities with each layer's ROK4 styles after its own ``default`` style."""
    root = etree.fromstring(capabilities)
    ns = etree.QName(root).namespace

    def tag(name: str) -> str:
        return f"{{{ns}}}{name}" if ns else name

    get_map = root.find(f".//{tag('GetMap')}//{tag('OnlineResource')}")
    base = (get_map.get(f"{{{XLINK}}}href") if get_map is not None else None) or "/wms-r"
    base = base.split("?")[0]
    for layer in root.iter(tag("Layer")):
        name = layer.find(tag("Name"))
        if name is None or not styles.get(name.text or ""):
            continue
        at = _insert_index(layer)
        for offset, style in enumerate(styles[name.text or ""]):
            layer.insert(at + offset, _style_element(tag, base, name.text or "", style))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _insert_index(layer: etree._Element) -> int:
    """Where a new ``<Style>`` goes: after the last one, else before scale limits and sub-layers."""
    children = list(layer)
    names = [etree.QName(c).localname if isinstance(c.tag, str) else "" for c in children]
    if "Style" in names:
        return len(names) - names[::-1].index("Style")
    for k, local in enumerate(names):
        if local in ("MinScaleDenominator", "MaxScaleDenominator", "ScaleHint", "Layer"):
            return k
    return len(children)


def _style_element(make: Callable[[str], str], base: str, layer: str, style: RasterStyle) -> etree._Element:
    element = etree.Element(make("Style"))
    etree.SubElement(element, make("Name")).text = style.identifier
    etree.SubElement(element, make("Title")).text = style.title
    if style.abstract:
        etree.SubElement(element, make("Abstract")).text = style.abstract
    url, media, width, height = legend_url(base, layer, style)
    legend = etree.SubElement(element, make("LegendURL"))
    if width and height:
        legend.set("width", str(width))
        legend.set("height", str(height))
    etree.SubElement(legend, make("Format")).text = media
    link = etree.SubElement(legend, make("OnlineResource"), nsmap={"xlink": XLINK})
    link.set(f"{{{XLINK}}}type", "simple")
    link.set(f"{{{XLINK}}}href", url)
    return element


def _drawn(style: RasterStyle) -> Image.Image | None:
    palette = drawn_palette(style)
    return palette_legend(palette) if palette is not None else None


def legend_graphic(
    book: StyleBook, layers: Mapping[str, PublishedLayer], params: Mapping[str, str]
) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status, headers, body) answering a GetLegendGraphic of the raster WMS."""
    name = require(params, "LAYER")
    layer = layers.get(name)
    if layer is None:
        raise OgcError("LayerNotDefined", f"no published WMS-RASTER layer named {name!r}", "layer")
    fmt = params.get("FORMAT", "image/png").strip().lower() or "image/png"
    if fmt != "image/png":
        raise OgcError("InvalidFormat", f"FORMAT {fmt} is not offered (use image/png)", "format")
    asked = params.get("STYLE", "").strip()
    styles = book.of(layer)
    style = book.pick(layer, asked) if asked else (styles[0] if styles else None)
    if style is None:
        raise OgcError(
            "StyleNotDefined",
            f"layer {name!r} has no legend for the data as stored (name one of its styles)",
            "style",
        )
    if style.legend is not None:
        return "302 Found", [("Location", style.legend.url), ("Content-Length", "0")], b""
    palette = drawn_palette(style)
    if palette is None:
        raise OgcError("StyleNotDefined", f"style {style.identifier!r} has no legend", "style")
    buf = io.BytesIO()
    palette_legend(palette).save(buf, "PNG")
    body = buf.getvalue()
    return "200 OK", [("Content-Type", "image/png"), ("Content-Length", str(len(body)))], body
