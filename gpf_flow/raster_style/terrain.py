"""Terrain treatments of an elevation grid: Horn gradients, hillshade, slope, aspect (whole numpy arrays)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gpf_flow.raster_style.model import Aspect, Hillshade, Slope, Terrain

Grid = NDArray[np.float64]


def horn_gradients(z: Grid, dx: float, dy: float) -> tuple[Grid, Grid]:
    """East and north gradients of ``z`` (row 0 to the north) with Horn's 3×3 kernel.

    ``dx``/``dy`` are the cell sizes in the units of ``z`` (metres for an elevation in metres);
    the border cells repeat their neighbours.
    """
    p = np.pad(z, 1, mode="edge")
    nw, n, ne = p[:-2, :-2], p[:-2, 1:-1], p[:-2, 2:]
    w, e = p[1:-1, :-2], p[1:-1, 2:]
    sw, s, se = p[2:, :-2], p[2:, 1:-1], p[2:, 2:]
    east = ((ne + 2 * e + se) - (nw + 2 * w + sw)) / (8 * dx)
    north = ((nw + 2 * n + ne) - (sw + 2 * s + se)) / (8 * dy)
    return east, north


def slope_radians(east: Grid, north: Grid, z_factor: float = 1.0) -> Grid:
    """The slope angle of gradients (radians)."""
    return np.arctan(z_factor * np.hypot(east, north))


def aspect_degrees(east: Grid, north: Grid) -> Grid:
    """The downhill direction, degrees clockwise from north in [0, 360)."""
    return np.mod(np.degrees(np.arctan2(-east, -north)), 360.0)


def hillshade(east: Grid, north: Grid, shade: Hillshade) -> Grid:
    """Lit fraction × 255 of each cell under a sun at ``shade``'s elevation and azimuth (0..255)."""
    slope = slope_radians(east, north, shade.z_factor)
    aspect = np.radians(aspect_degrees(east, north))
    zenith, azimuth = np.radians(90.0 - shade.elevation), np.radians(shade.azimuth)
    lit = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(azimuth - aspect)
    return np.clip(lit, 0.0, 1.0) * 255.0


def terrain_values(z: Grid, cell: tuple[float, float], terrain: Terrain) -> tuple[Grid, NDArray[np.bool_]]:
    """The treatment's values over ``z`` and where they are defined.

    Hillshade is 0..255; slope in degrees or percent (capped at ``slope_max``); aspect in degrees,
    undefined (``nodata``) where the slope is under ``min_slope``.
    """
    east, north = horn_gradients(z, *cell)
    defined = np.ones(z.shape, dtype=bool)
    if isinstance(terrain, Hillshade):
        return hillshade(east, north, terrain), defined
    slope = slope_radians(east, north)
    if isinstance(terrain, Slope):
        value = np.degrees(slope) if terrain.unit == "degree" else 100.0 * np.tan(slope)
        return np.minimum(value, terrain.slope_max), defined
    assert isinstance(terrain, Aspect)
    defined = np.degrees(slope) >= terrain.min_slope
    return np.where(defined, aspect_degrees(east, north), terrain.nodata), defined


def grey_scale(terrain: Terrain) -> float:
    """The value drawn white when a terrain style has no palette (black is 0)."""
    if isinstance(terrain, Hillshade):
        return 255.0
    if isinstance(terrain, Slope):
        return terrain.slope_max
    return 360.0
