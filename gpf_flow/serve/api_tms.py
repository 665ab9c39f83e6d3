"""``GET /statics/tms[/{id}]``: the tile matrix sets the local processings accept (morecantile's)."""

from __future__ import annotations

from typing import Any

from gpf_flow.serve.api_common import ApiError

# The Entrepôt's name for web mercator; the other ids are morecantile's.
ALIASES = {"PM": "WebMercatorQuad"}


def tms_names() -> list[str]:
    """Every TMS id: ``PM`` first, then morecantile's registry."""
    import morecantile

    return [*ALIASES, *morecantile.tms.list()]


def tms_document(name: str) -> dict[str, Any]:
    """The OGC TileMatrixSet JSON of ``name`` (404 for an unknown id)."""
    import morecantile

    real = ALIASES.get(name, name)
    try:
        tms = morecantile.tms.get(real)
    except morecantile.errors.InvalidIdentifier as exc:
        raise ApiError(404, f"tile matrix set {name!r} not found: GET /api/statics/tms lists them") from exc
    document: dict[str, Any] = tms.model_dump(mode="json", exclude_none=True)
    document["_id"] = name
    document["name"] = name
    return document
