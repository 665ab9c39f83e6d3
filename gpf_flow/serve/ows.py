"""What the OGC services share: KVP parameters, exception reports, CRS axis order, templates."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
from pyproj import CRS
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

SUPPORTED_CRS = ("EPSG:3857", "EPSG:4326", "EPSG:2154", "CRS:84")
"""CRS every map service offers."""

XML = "text/xml; charset=utf-8"


def _max_map_size() -> int:
    try:
        value = int(os.environ.get("GPF_FLOW_SERVE_MAX_MAP_SIZE", ""))
    except ValueError:
        return 4096
    return value if value > 0 else 4096


MAX_MAP_SIZE = _max_map_size()
"""Largest WIDTH and HEIGHT of a map (advertised as ``MaxWidth``/``MaxHeight``);
``GPF_FLOW_SERVE_MAX_MAP_SIZE`` changes it."""

MAX_COORDINATE = 1e10
"""Largest absolute BBOX coordinate accepted: far beyond any CRS's extent, far below overflow."""


class OgcError(Exception):
    """A bad request, answered as an OGC exception report (status 400 unless told)."""

    def __init__(self, code: str, message: str, locator: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.locator = locator
        self.status = status


@functools.cache
def templates() -> jinja2.Environment:
    """The package's jinja2 templates (XML autoescaped)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("gpf_flow.serve", "templates"),
        autoescape=lambda name: not (name or "").endswith(".txt.j2"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, media_type: str = XML, status: int = 200, **context: Any) -> Response:
    """A response rendered from one template."""
    return Response(
        templates().get_template(name).render(**context), status_code=status, media_type=media_type
    )


def kvp(request: Request) -> dict[str, str]:
    """Query parameters with upper-cased keys (OGC KVP keys are case-insensitive)."""
    return {key.upper(): value for key, value in request.query_params.items()}


def require(params: Mapping[str, str], name: str) -> str:
    """A mandatory KVP parameter, or a ``MissingParameterValue`` error."""
    value = params.get(name.upper(), "").strip()
    if not value:
        raise OgcError("MissingParameterValue", f"parameter {name} is missing", locator=name.lower())
    return value


def check_service(params: Mapping[str, str], service: str) -> None:
    """``InvalidParameterValue`` unless ``SERVICE`` is absent or ``service`` (any case)."""
    asked = params.get("SERVICE", service).upper()
    if asked != service:
        raise OgcError("InvalidParameterValue", f"SERVICE must be {service}, not {asked}", "service")


async def answer_kvp(
    request: Request,
    dispatch: Callable[[Request, Mapping[str, str]], Response],
    report: Callable[[OgcError], Response],
) -> Response:
    """Run a KVP service's (blocking) ``dispatch`` in the thread pool; an ``OgcError`` → ``report``."""
    params = kvp(request)
    try:
        return await run_in_threadpool(dispatch, request, params)
    except OgcError as error:
        return report(error)


def wms_exception(error: OgcError) -> Response:
    """A WMS 1.3.0 ``ServiceExceptionReport``."""
    return render("wms_exception.xml.j2", status=error.status, error=error)


def ows_exception(error: OgcError, version: str = "2.0.0") -> Response:
    """An OWS 1.1 ``ExceptionReport`` (what WFS 2.0 and WMTS 1.0 answer)."""
    return render("ows_exception.xml.j2", status=error.status, error=error, version=version)


@functools.lru_cache(maxsize=64)
def parse_crs(name: str) -> CRS:
    """A CRS from a name such as ``EPSG:2154``, ``CRS:84`` or ``urn:ogc:def:crs:EPSG::4326``."""
    if len(name) > 200 or not name.isprintable():
        raise OgcError("InvalidCRS", f"unknown CRS {name[:100]!r}", locator="crs")
    try:
        return CRS.from_user_input(name)
    except Exception as exc:  # pyproj raises CRSError, but also others for odd input
        raise OgcError("InvalidCRS", f"unknown CRS {name!r}", locator="crs") from exc


def crs_code(name: str, *, error_code: str = "InvalidCRS", locator: str = "crs") -> str:
    """The ``EPSG:n`` (or ``CRS:84``) short form of a CRS name; ``error_code`` (``InvalidCRS`` for
    WMS, ``InvalidParameterValue`` for WFS) when it is not a CRS of the EPSG registry."""
    text = name.strip()
    upper = text.upper()
    if upper in ("CRS:84", "OGC:CRS84") or upper.endswith("CRS84"):
        return "CRS:84"
    code = ""
    if upper.startswith("EPSG:"):
        code = upper[5:]
    elif "EPSG" in upper:
        # urn:ogc:def:crs:EPSG::4326 and http://www.opengis.net/def/crs/EPSG/0/4326
        code = upper.replace("/", ":").rstrip(":").split(":")[-1]
    if code.isascii() and code.isdigit() and len(code) <= 9:
        try:
            parse_crs("EPSG:" + code)
        except OgcError:
            pass  # the registry has no such code
        else:
            return "EPSG:" + code
    raise OgcError(error_code, f"unknown CRS {text[:100]!r}", locator=locator)


def is_north_east(code: str) -> bool:
    """True when the CRS's official axis order is northing first (EPSG:4326 in WMS 1.3.0)."""
    if code == "CRS:84":
        return False
    axes = parse_crs(code).axis_info
    return bool(axes) and axes[0].direction.lower() in ("north", "south")


def parse_bbox(text: str, *, locator: str = "bbox") -> tuple[float, float, float, float]:
    """Four numbers ``minx,miny,maxx,maxy`` (in the CRS's axis order); ``InvalidParameterValue`` else."""
    shown = text[:200]
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) != 4:
        raise OgcError(
            "InvalidParameterValue",
            f"bad BBOX {shown!r}: 4 numbers needed, not {len(parts)}",
            locator=locator,
        )
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise OgcError("InvalidParameterValue", f"bad BBOX {shown!r}: not numbers", locator=locator) from exc
    if not all(math.isfinite(v) and abs(v) <= MAX_COORDINATE for v in values):
        raise OgcError(
            "InvalidParameterValue",
            f"bad BBOX {shown!r}: coordinates must be finite and within ±{MAX_COORDINATE:g}",
            locator=locator,
        )
    x0, y0, x1, y1 = values
    if not (x0 < x1 and y0 < y1):
        raise OgcError(
            "InvalidParameterValue", f"bad BBOX {text!r}: min must be below max on both axes", locator=locator
        )
    return x0, y0, x1, y1


def parse_size(params: Mapping[str, str], name: str, maximum: int | None = None) -> int:
    """A map's ``WIDTH`` or ``HEIGHT``: an integer in 1..``maximum`` (default :data:`MAX_MAP_SIZE`),
    else ``InvalidParameterValue`` naming it."""
    limit = maximum or MAX_MAP_SIZE
    raw = require(params, name)
    try:
        value = int(raw)
    except ValueError:
        raise OgcError(
            "InvalidParameterValue", f"{name} must be an integer, not {raw[:50]!r}", locator=name.lower()
        ) from None
    if not 0 < value <= limit:
        raise OgcError(
            "InvalidParameterValue",
            f"{name} must be within 1..{limit} (MaxWidth/MaxHeight)",
            locator=name.lower(),
        )
    return value
