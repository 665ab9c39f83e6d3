"""Tile matrix sets: the Géoplateforme's grids (shipped as OGC 2D-TMS JSON), and tile addressing.

The grids are the ROK4 tile matrix sets the platform builds pyramids on (``PM``, ``LAMB93``,
``2154_5cm``, ``4326``, ``WGS84G``, overseas UTM grids...), stored in ``data/`` and loaded with
morecantile. ``PM`` and ``WGS84G`` name morecantile's own ``WebMercatorQuad`` and ``WorldCRS84Quad``
(the same grids, cell for cell), the ids earlier pyramids record. Any other morecantile id is
accepted too.

Tile rows: the API and the grids count rows from the top (XYZ); MBTiles files store TMS rows,
counted from the bottom of the level's matrix. :func:`tms_row` is the one place that flips them.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources

import morecantile
from morecantile import TileMatrixSet

ALIASES = {"PM": "WebMercatorQuad", "WGS84G": "WorldCRS84Quad"}
"""Platform names served by an identical morecantile grid (kept: existing pyramids record these ids)."""


class UnknownTileMatrixSet(ValueError):
    """Raised for a tile matrix set name that is neither a platform grid nor a morecantile id."""


@functools.cache
def _platform() -> dict[str, TileMatrixSet]:
    grids: dict[str, TileMatrixSet] = {}
    for entry in resources.files(__package__).joinpath("data").iterdir():
        if entry.name.endswith(".json"):
            document = json.loads(entry.read_text(encoding="utf-8"))
            name = entry.name.removesuffix(".json")  # ROK4 names a grid by its file (ids may differ)
            # morecantile refuses dots in ids ("LAMB93_2.5m"): our registry is keyed by the real name.
            document["id"] = name.replace(".", "_")
            grids[name] = TileMatrixSet.model_validate(document)
    return grids


def platform_names() -> list[str]:
    """Names of the platform's grids (ROK4 tile matrix sets), sorted."""
    return sorted(_platform())


WORLD_GRIDS = ("4326", "PM", "WGS84G")


def names() -> list[str]:
    """Every accepted name: the world grids, the platform's other grids, then morecantile's ids."""
    platform = [n for n in platform_names() if n not in WORLD_GRIDS]
    others = [n for n in morecantile.tms.list() if n not in platform]
    return [*WORLD_GRIDS, *platform, *sorted(others)]


def resolve(name: str) -> str:
    """The id of the grid a ``tms`` parameter names (case-insensitive), or :class:`UnknownTileMatrixSet`."""
    wanted = name.strip()
    for alias, real in ALIASES.items():
        if wanted.lower() == alias.lower():
            return real
    for known in [*_platform(), *morecantile.tms.list()]:
        if known.lower() == wanted.lower():
            return str(known)
    raise UnknownTileMatrixSet(f"unknown tile matrix set {name!r}; valid values: {', '.join(names())}")


@functools.cache
def get(name: str) -> TileMatrixSet:
    """The grid a name designates (platform name, alias or morecantile id).

    Identify a grid by :func:`resolve`'s answer, not by ``.id`` (morecantile's ids cannot hold dots).
    """
    real = resolve(name)
    platform = _platform()
    return platform[real] if real in platform else morecantile.tms.get(real)


def advertised(grid_id: str) -> TileMatrixSet:
    """The grid as services advertise it: the platform's own definition when an alias stands for it.

    ``WebMercatorQuad`` goes to level 24 where the platform's ``PM`` stops at 21; the levels they
    share are the same. (``WGS84G`` keeps morecantile's CRS84 definition, which clients know.)
    """
    if grid_id == ALIASES["PM"]:
        return _platform()["PM"]
    return get(grid_id)


def public_name(grid_id: str) -> str:
    """The platform's name for a grid id (``WebMercatorQuad`` → ``PM``), as services advertise it."""
    for alias, real in ALIASES.items():
        if real == grid_id:
            return alias
    return grid_id


def tms_row(grid: TileMatrixSet, zoom: int, row: int) -> int:
    """Flip a row between XYZ (0 at the top) and TMS (0 at the bottom) at ``zoom``; its own inverse."""
    return int(grid.matrix(zoom).matrixHeight) - 1 - row


@dataclass(frozen=True)
class Level:
    """One level's geometry in the grid's CRS, x/y (east/north) order."""

    left: float
    top: float
    cell: float
    """Pixel size."""
    tile: int
    """Tile size in pixels (square tiles)."""
    width: int
    """Matrix size in tiles."""
    height: int

    @property
    def span(self) -> float:
        """Ground size of one tile."""
        return self.cell * self.tile

    def tile_range(self, bounds: tuple[float, float, float, float]) -> tuple[int, int, int, int] | None:
        """``(x0, y0, x1, y1)`` inclusive XYZ range of the tiles touching ``bounds`` (or None)."""
        west, south, east, north = bounds
        x0 = max(0, math.floor((west - self.left) / self.span))
        x1 = min(self.width - 1, math.ceil((east - self.left) / self.span) - 1)
        y0 = max(0, math.floor((self.top - north) / self.span))
        y1 = min(self.height - 1, math.ceil((self.top - south) / self.span) - 1)
        if x0 > x1 or y0 > y1:
            return None
        return x0, y0, x1, y1


def level(grid: TileMatrixSet, zoom: int) -> Level:
    """The geometry of level ``zoom`` (square tiles, no variable widths: every platform grid)."""
    m = grid.matrix(zoom)
    corner = grid.xy_bounds(morecantile.Tile(0, 0, zoom))
    left, top = float(corner.left), float(corner.top)
    return Level(left, top, float(m.cellSize), int(m.tileWidth), int(m.matrixWidth), int(m.matrixHeight))


NEST_TOLERANCE_PX = 0.05
"""Largest misalignment (in pixels of the finer level) under which two levels count as a quadtree step."""


def nests(grid: TileMatrixSet, zoom: int) -> bool:
    """True when level ``zoom`` is a 2×2 split of level ``zoom - 1`` (a quadtree step).

    Exact for PM, 2154_*, WGS84G; LAMB93's cell sizes are not exact halves, so its coarse levels
    drift apart by up to a tenth of a pixel across the matrix (not a quadtree there) while its
    fine levels stay within a thousandth (a quadtree in all but name).
    """
    if zoom <= grid.minzoom:
        return False
    fine, coarse = level(grid, zoom), level(grid, zoom - 1)
    tolerance = NEST_TOLERANCE_PX * fine.cell
    if fine.tile != coarse.tile or abs(fine.left - coarse.left) > tolerance:
        return False
    if abs(fine.top - coarse.top) > tolerance:
        return False
    # A parent's far edge against its children's, at the far end of the matrix.
    drift = max(coarse.width, coarse.height) * coarse.tile * abs(coarse.cell - 2 * fine.cell)
    return drift <= tolerance
