"""Parameters of the raster pyramid processing: tile matrix set, levels, encoding, resampling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import morecantile
from morecantile import TileMatrixSet

from gpf_flow.processings.base import ProcessingFailed

# Géoplateforme names → morecantile ids. Any morecantile id is accepted too (if it is a quadtree).
TMS_ALIASES = {"PM": "WebMercatorQuad", "WGS84G": "WorldCRS84Quad", "4326": "WorldCRS84Quad"}
COMPRESSIONS = {"jpg": "jpg", "jpeg": "jpg", "png": "png", "none": "none", "raw": "none"}
INTERPOLATIONS = {"nearest": "nearest", "bilinear": "bilinear", "bicubic": "cubic", "cubic": "cubic"}
TILE_SIZE = 256


@dataclass(frozen=True)
class RasterPyramidParams:
    """Validated parameters (levels may still be ``None`` = default)."""

    tms_name: str
    """The name as asked (``PM``), recorded in type_infos."""
    tms_id: str
    """The morecantile id (``WebMercatorQuad``)."""
    compression: str
    """``jpg``, ``png`` or ``none`` (PNG without deflate compression)."""
    resampling: str
    """rasterio resampling name: nearest, bilinear or cubic."""
    bottom_level: int | None
    top_level: int | None

    @property
    def tms(self) -> TileMatrixSet:
        """The morecantile TileMatrixSet."""
        return morecantile.tms.get(self.tms_id)

    @property
    def mime(self) -> str:
        """Tile MIME type for type_infos."""
        return "image/jpeg" if self.compression == "jpg" else "image/png"

    @property
    def tile_format(self) -> str:
        """MBTiles ``format`` value."""
        return "jpg" if self.compression == "jpg" else "png"


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


def _choice(params: Mapping[str, Any], name: str, default: str, table: Mapping[str, str]) -> str:
    value = str(params.get(name) or default).strip()
    found = table.get(value.lower())
    if found is None:
        raise ProcessingFailed(f"parameter {name!r}: unknown value {value!r}; use one of {', '.join(table)}")
    return found


def valid_tms_names() -> list[str]:
    """Names accepted by the ``tms`` parameter."""
    return sorted(TMS_ALIASES) + sorted(morecantile.tms.list())


def resolve_tms(name: str) -> str:
    """The morecantile id for a ``tms`` parameter value, or a clear failure."""
    wanted = TMS_ALIASES.get(name.upper(), TMS_ALIASES.get(name, name))
    for known in morecantile.tms.list():
        if known.lower() == wanted.lower():
            return str(known)
    raise ProcessingFailed(f"unknown tile matrix set {name!r}; valid values: {', '.join(valid_tms_names())}")


def check_quadtree(tms: TileMatrixSet, top: int, bottom: int) -> None:
    """Fail unless levels top..bottom form a 256-pixel quadtree (what the pyramid builder needs)."""
    for z in range(top, bottom + 1):
        m = tms.matrix(z)
        if m.tileWidth != TILE_SIZE or m.tileHeight != TILE_SIZE or m.variableMatrixWidths:
            raise ProcessingFailed(
                f"tile matrix set {tms.id} level {z} does not use plain {TILE_SIZE}x{TILE_SIZE} tiles; "
                "use PM (WebMercatorQuad) or WorldCRS84Quad"
            )
        if z > top:
            parent = tms.matrix(z - 1)
            ratio = parent.cellSize / m.cellSize
            if abs(ratio - 2) > 1e-6 or m.pointOfOrigin != parent.pointOfOrigin:
                raise ProcessingFailed(
                    f"tile matrix set {tms.id} is not a quadtree between levels {z - 1} and {z}; "
                    "use PM (WebMercatorQuad) or WorldCRS84Quad"
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
    )
