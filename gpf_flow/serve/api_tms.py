"""``GET /statics/tms[/{id}]``: the tile matrix sets the local processings accept (:mod:`gpf_flow.tms`)."""

from __future__ import annotations

from typing import Any

from gpf_flow import tms as grids
from gpf_flow.serve.api_common import ApiError


def tms_names() -> list[str]:
    """Every TMS name: the platform's grids (``PM`` among them) first, then morecantile's registry."""
    return grids.names()


def tms_document(name: str) -> dict[str, Any]:
    """The OGC TileMatrixSet JSON of ``name`` (404 for an unknown id)."""
    try:
        grid = grids.get(name)
    except grids.UnknownTileMatrixSet as exc:
        raise ApiError(404, f"tile matrix set {name!r} not found: GET /api/statics/tms lists them") from exc
    document: dict[str, Any] = grid.model_dump(mode="json", exclude_none=True)
    document["id"] = document["_id"] = document["name"] = name
    return document
