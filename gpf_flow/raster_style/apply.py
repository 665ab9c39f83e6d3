"""A ROK4 style applied to a decoded raster: the first band's values through terrain and palette."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gpf_flow.raster_style.model import Palette, RasterStyle
from gpf_flow.raster_style.terrain import grey_scale, terrain_values


def palette_rgba(palette: Palette, values: NDArray[np.float64]) -> NDArray[np.float64]:
    """``values`` (any shape) coloured by ``palette``: shape + (4,), RGBA in 0..255 (floats)."""
    stops = np.array([c.value for c in palette.colours])
    colours = np.array([c.rgba for c in palette.colours], dtype=np.float64)
    # Discrete: the colour of the last entry at or below the value (the first one below all).
    index = np.clip(np.searchsorted(stops, values, side="right") - 1, 0, len(stops) - 1)
    out = colours[index]
    continuous = [palette.rgb_continuous] * 3 + [palette.alpha_continuous]
    for band, smooth in enumerate(continuous):
        if smooth:
            out[..., band] = np.interp(values, stops, colours[:, band])
    if palette.no_alpha:
        out[..., 3] = 255.0
    return out


def apply_style(style: RasterStyle, rgba: NDArray[np.uint8], cell: tuple[float, float]) -> NDArray[np.uint8]:
    """``rgba`` (4, H, W) drawn with ``style``; the first band holds the values (grey pyramids).

    ``cell`` is the ground size of a cell (east, north) in metres, for the terrain treatments.
    Pixels without data (alpha 0) stay transparent. A terrain treatment without palette is
    drawn in grey, from 0 (black) up to 255, ``slope_max`` or 360° (white).
    """
    if style.is_identity:
        return rgba
    values = rgba[0].astype(np.float64)
    defined = rgba[3] > 0
    if style.terrain is not None:
        values, known = terrain_values(values, cell, style.terrain)
        if style.palette is None:
            defined &= known
    if style.palette is not None:
        out = palette_rgba(style.palette, values)
    else:
        assert style.terrain is not None
        grey = np.clip(values * (255.0 / grey_scale(style.terrain)), 0.0, 255.0)
        out = np.stack([grey, grey, grey, np.full_like(grey, 255.0)], axis=-1)
    out[..., 3] *= np.where(defined, rgba[3] / 255.0, 0.0)
    return np.moveaxis(np.clip(np.rint(out), 0, 255).astype(np.uint8), -1, 0)
