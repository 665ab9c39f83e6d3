"""Reading OGC filters into :mod:`gpf_flow.serve.vector_query` trees.

One reader for FES 2.0 (WFS 2.0), OGC Filter 1.1 (WFS 1.1, SLD 1.1) and 1.0 (WFS 1.0, SLD 1.0):
elements are matched by local name, so every namespace of these versions is read alike. Also the
KVP ``sortBy`` of WFS 1.1 (``name A|D``) and 2.0 (``name ASC|DESC``).
"""

from __future__ import annotations

from lxml import etree

from gpf_flow.serve.ows import OgcError, crs_code, is_north_east, parse_crs
from gpf_flow.serve.vector_query import (
    And,
    BBox,
    Between,
    Compare,
    CompareOp,
    Expr,
    Ids,
    IsNull,
    Like,
    Not,
    Or,
    SortKey,
)

_COMPARE: dict[str, CompareOp] = {
    "PropertyIsEqualTo": "=",
    "PropertyIsNotEqualTo": "<>",
    "PropertyIsLessThan": "<",
    "PropertyIsLessThanOrEqualTo": "<=",
    "PropertyIsGreaterThan": ">",
    "PropertyIsGreaterThanOrEqualTo": ">=",
}
_IDS = {"ResourceId", "FeatureId", "GmlObjectId"}
# Filters come from request parameters: no DTD, no entity expansion, no network.
_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)


class FilterError(ValueError):
    """A filter that cannot be read; the message says what to fix."""


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _elements(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _text(el: etree._Element) -> str:
    return "".join(el.itertext()).strip()


def _property(el: etree._Element) -> str:
    for child in _elements(el):
        if _local(child) in ("ValueReference", "PropertyName"):
            name = _text(child)
            # Qualified names (zones:code) and simple XPaths (zones/code) name the column last.
            name = name.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
            if name:
                return name
    raise FilterError(f"{_local(el)} needs a PropertyName (ValueReference in FES 2.0)")


def _literals(el: etree._Element) -> list[str]:
    return [_text(c) for c in el.iter() if isinstance(c.tag, str) and _local(c) == "Literal"]


def _match_case(el: etree._Element) -> bool:
    return str(el.get("matchCase", "true")).lower() != "false"


def fid_of(text: str) -> int:
    """The numeric id of a feature id such as ``zones.12``; ``FilterError`` when it is not one."""
    tail = text.strip().rsplit(".", 1)[-1]
    try:
        fid = int(tail)
    except ValueError:
        raise FilterError(f"feature id {text!r} is not of the form <type>.<number>") from None
    if not 0 <= fid < 2**63:
        raise FilterError(f"feature id {text!r} is out of range")
    return fid


def like_pattern(pattern: str, wild: str, single: str, escape: str) -> str:
    """An OGC ``PropertyIsLike`` pattern as a SQL ``LIKE`` pattern escaped with ``\\``."""
    out, escaped = [], False
    for ch in pattern:
        if escaped:
            out.append("\\" + ch if ch in "%_\\" else ch)
            escaped = False
        elif escape and ch == escape:
            escaped = True
        elif ch == wild:
            out.append("%")
        elif ch == single:
            out.append("_")
        elif ch in "%_\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def envelope(el: etree._Element, default_crs: str, official_axes: bool) -> BBox:
    """A ``gml:Envelope`` (GML 3) or ``gml:Box`` (GML 2) as a :class:`BBox` in x/y order."""
    srs = el.get("srsName") or default_crs
    try:
        crs = crs_code(srs)
        if crs != "CRS:84":
            parse_crs(crs)
    except OgcError as exc:
        raise FilterError(exc.message) from None
    lower = [c for c in el.iter() if isinstance(c.tag, str) and _local(c) in ("lowerCorner", "upperCorner")]
    numbers: list[float] = []
    try:
        if len(lower) == 2:
            numbers = [float(v) for c in lower for v in _text(c).split()]
        else:
            coords = next(
                (c for c in el.iter() if isinstance(c.tag, str) and _local(c) == "coordinates"), None
            )
            if coords is not None:
                numbers = [float(v) for pair in _text(coords).split() for v in pair.split(",")]
    except ValueError:
        raise FilterError(f"{_local(el)} has coordinates that are not numbers") from None
    if len(numbers) != 4:
        raise FilterError(f"{_local(el)} needs two corners of two numbers each")
    x0, y0, x1, y1 = numbers
    axes_swapped = official_axes and srs.lower().startswith(("urn:", "http")) and is_north_east(crs)
    if axes_swapped:
        x0, y0, x1, y1 = y0, x0, y1, x1
    if crs == "CRS:84":
        crs = "EPSG:4326"
    return BBox((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), crs)


def _read(el: etree._Element, default_crs: str, official_axes: bool) -> Expr:
    kind = _local(el)
    if kind in _COMPARE:
        values = _literals(el)
        if len(values) != 1:
            raise FilterError(f"{kind} needs one PropertyName and one Literal")
        return Compare(_property(el), _COMPARE[kind], values[0], _match_case(el))
    if kind == "PropertyIsLike":
        values = _literals(el)
        if len(values) != 1:
            raise FilterError("PropertyIsLike needs one PropertyName and one Literal")
        escape = el.get("escapeChar") or el.get("escape") or "\\"
        pattern = like_pattern(values[0], el.get("wildCard", "*"), el.get("singleChar", "?"), escape)
        return Like(_property(el), pattern, _match_case(el))
    if kind == "PropertyIsNull":
        return IsNull(_property(el))
    if kind == "PropertyIsBetween":
        bounds = {
            _local(c): _literals(c) for c in _elements(el) if _local(c) in ("LowerBoundary", "UpperBoundary")
        }
        low, high = bounds.get("LowerBoundary") or [], bounds.get("UpperBoundary") or []
        if len(low) != 1 or len(high) != 1:
            raise FilterError("PropertyIsBetween needs a LowerBoundary and an UpperBoundary Literal")
        return Between(_property(el), low[0], high[0])
    if kind in ("And", "Or"):
        parts = tuple(_read(c, default_crs, official_axes) for c in _elements(el))
        if len(parts) < 2:
            raise FilterError(f"{kind} needs at least two operands")
        return And(parts) if kind == "And" else Or(parts)
    if kind == "Not":
        operands = _elements(el)
        if len(operands) != 1:
            raise FilterError("Not needs exactly one operand")
        return Not(_read(operands[0], default_crs, official_axes))
    if kind == "BBOX":
        boxes = [c for c in el.iter() if isinstance(c.tag, str) and _local(c) in ("Envelope", "Box")]
        if not boxes:
            raise FilterError("BBOX needs a gml:Envelope (or a gml:Box in Filter 1.0)")
        return envelope(boxes[0], default_crs, official_axes)
    raise FilterError(
        f"filter operator {kind!r} is not supported (use PropertyIs*, And, Or, Not, BBOX or ResourceId)"
    )


def read_filter(root: etree._Element, default_crs: str, *, official_axes: bool = True) -> Expr:
    """The expression of a parsed ``Filter`` element (as SLD rules embed them)."""
    if _local(root) != "Filter":
        raise FilterError(f"the filter's root element must be Filter, not {_local(root)}")
    children = _elements(root)
    if not children:
        raise FilterError("the filter is empty")
    ids = [c for c in children if _local(c) in _IDS]
    if ids:
        if len(ids) != len(children):
            raise FilterError("a filter with feature ids cannot have other operators")
        gml_id = "{http://www.opengis.net/gml}id"
        return Ids(tuple(fid_of(c.get("rid") or c.get("fid") or c.get(gml_id) or "") for c in ids))
    if len(children) != 1:
        raise FilterError("a filter has one operator at its root (wrap several in And or Or)")
    return _read(children[0], default_crs, official_axes)


def parse_filter(text: str | bytes, default_crs: str, *, official_axes: bool = True) -> Expr:
    """The expression of a ``Filter`` document.

    ``default_crs`` applies to envelopes without ``srsName``; ``official_axes`` (WFS 1.1/2.0)
    reads URN/URL-named CRSs in their official axis order, as those versions say.
    """
    try:
        root = etree.fromstring(text.encode() if isinstance(text, str) else text, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise FilterError(f"the filter is not well-formed XML: {exc}") from None
    return read_filter(root, default_crs, official_axes=official_axes)


def parse_sort(text: str) -> tuple[SortKey, ...]:
    """``name [ASC|DESC|A|D]`` items separated by commas."""
    keys = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        words = item.split()
        if len(words) == 1:
            name, order = words[0], "ASC"
        elif len(words) == 2:
            name, order = words
        else:
            raise FilterError(f"bad sortBy item {item!r} (use name ASC or name DESC)")
        order = order.upper()
        if order not in ("ASC", "DESC", "A", "D"):
            raise FilterError(f"bad sort order {order!r} in sortBy (use ASC or DESC)")
        keys.append(SortKey(name.rsplit(":", 1)[-1], descending=order in ("DESC", "D")))
    return tuple(keys)
