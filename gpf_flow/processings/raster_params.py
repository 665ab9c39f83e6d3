"""Parameters of the raster pyramid processing: tile matrix set, levels, encoding, resampling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from morecantile import TileMatrixSet

from gpf_flow import tms as grids
from gpf_flow.processings.base import ProcessingFailed

# The platform's values (ROK4: raw, jpg, jpg90, png...) → what the encoder does.
COMPRESSIONS = {
    "jpg": "jpg",
    "jpeg": "jpg",
    "jpg90": "jpg90",
    "png": "png",
    "zip": "png",
    "none": "none",
    "raw": "none",
}
# The platform's values (nn, linear, bicubic, lanczos) → rasterio resampling names.
INTERPOLATIONS = {
    "nn": "nearest",
    "nearest": "nearest",
    "nearest-neighbour": "nearest",
    "linear": "bilinear",
    "bilinear": "bilinear",
    "bicubic": "cubic",
    "cubic": "cubic",
    "lanczos": "lanczos",
}
TILE_SIZE = 256


@dataclass(frozen=True)
class RasterPyramidParams:
    """Validated parameters (levels may still be ``None`` = default)."""

    tms_name: str
    """The name as asked (``PM``), recorded in type_infos."""
    tms_id: str
    """The grid's id in :mod:`gpf_flow.tms` (``WebMercatorQuad``, ``2154_5cm``), recorded in the MBTiles."""
    compression: str
    """``jpg``, ``jpg90`` (quality 90), ``png`` or ``none`` (PNG without deflate compression)."""
    resampling: str
    """rasterio resampling name: nearest, bilinear or cubic."""
    bottom_level: int | None
    top_level: int | None
    mask: bool = False
    """``mask: true``: record where the tiles hold data (see :mod:`gpf_flow.processings.raster_mask`)."""

    @property
    def tms(self) -> TileMatrixSet:
        """The grid (a morecantile TileMatrixSet)."""
        return grids.get(self.tms_id)

    @property
    def mime(self) -> str:
        """Tile MIME type for type_infos."""
        return "image/jpeg" if self.compression.startswith("jpg") else "image/png"

    @property
    def tile_format(self) -> str:
        """MBTiles ``format`` value."""
        return "jpg" if self.compression.startswith("jpg") else "png"


def _level(params: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = params.get(name)
        if value is None or value == "":
            continue
        try:
            return int(str(value).strip())
        except ValueError:
            raise ProcessingFailed(f"parameter {name!r} must be a level number, got {value!r}") from None
    return None


def _flag(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "oui"):
        return True
    if text in ("false", "0", "no", "non", ""):
        return False
    raise ProcessingFailed(f"parameter {name!r} must be true or false, got {value!r}")


def _choice(params: Mapping[str, Any], name: str, default: str, table: Mapping[str, str]) -> str:
    value = str(params.get(name) or default).strip()
    found = table.get(value.lower())
    if found is None:
        raise ProcessingFailed(f"parameter {name!r}: unknown value {value!r}; use one of {', '.join(table)}")
    return found


def resolve_tms(name: str) -> str:
    """The grid id for a ``tms`` parameter value, or a clear failure."""
    try:
        return grids.resolve(name)
    except grids.UnknownTileMatrixSet as exc:
        raise ProcessingFailed(str(exc)) from None


def check_tiles(tms: TileMatrixSet, name: str, top: int, bottom: int) -> None:
    """Fail unless levels top..bottom use plain square tiles of :data:`TILE_SIZE` pixels."""
    for z in range(top, bottom + 1):
        m = tms.matrix(z)
        if m.tileWidth != TILE_SIZE or m.tileHeight != TILE_SIZE or m.variableMatrixWidths:
            raise ProcessingFailed(
                f"tile matrix set {name} level {z} does not use plain {TILE_SIZE}x{TILE_SIZE} tiles; "
                "use a grid of the platform (PM, LAMB93, 2154_5cm, WGS84G...)"
            )


def parse_params(params: Mapping[str, Any]) -> RasterPyramidParams:
    """Validate the processing parameters (levels are range-checked later, against the TMS)."""
    tms_name = str(params.get("tms") or "PM").strip()
    return RasterPyramidParams(
        tms_name=tms_name,
        tms_id=resolve_tms(tms_name),
        compression=_choice(params, "compression", "jpg", COMPRESSIONS),
        resampling=_choice(params, "interpolation", "bicubic", INTERPOLATIONS),
        bottom_level=_level(params, "bottom_level", "bottom"),
        top_level=_level(params, "top_level", "top"),
        mask=_flag(params, "mask"),
    )
