"""A ROK4 style applied to a decoded raster: the first band's values through terrain and palette."""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray

from gpf_flow.raster_style.model import Colour, Palette, RasterStyle
from gpf_flow.raster_style.terrain import grey_scale, terrain_values

CHUNK_ROWS = 256
"""Rows styled at a time: the float temporaries of a big map stay a few megabytes."""


def palette_rgba(palette: Palette, values: NDArray[np.floating]) -> NDArray[np.float64]:
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


def drawn_palette(style: RasterStyle) -> Palette | None:
    """The palette a style draws with: its own, or black to white for a terrain style without one."""
    if style.palette is not None or style.terrain is None:
        return style.palette
    top = grey_scale(style.terrain)
    ramp = (Colour(0.0, (0, 0, 0, 255)), Colour(top, (255, 255, 255, 255)))
    return Palette(ramp, rgb_continuous=True, alpha_continuous=True)


@functools.lru_cache(maxsize=64)
def _lookup(palette: Palette) -> NDArray[np.uint8]:
    """The colours of the 256 values of an 8-bit band: (256, 4)."""
    return _to_bytes(palette_rgba(palette, np.arange(256, dtype=np.float64)))


def _to_bytes(rgba: NDArray[np.float64]) -> NDArray[np.uint8]:
    return np.clip(np.rint(rgba), 0, 255).astype(np.uint8)


def apply_style(style: RasterStyle, rgba: NDArray[np.uint8], cell: tuple[float, float]) -> NDArray[np.uint8]:
    """``rgba`` (4, H, W) drawn with ``style``; the first band holds the values (grey pyramids).

    ``cell`` is the ground size of a cell (east, north) in metres, for the terrain treatments.
    Pixels without data (alpha 0) stay transparent. A terrain treatment without palette is
    drawn in grey, from 0 (black) up to 255, ``slope_max`` or 360° (white).
    """
    palette = drawn_palette(style)
    if palette is None:
        return rgba
    height = rgba.shape[1]
    out = np.empty((height, rgba.shape[2], 4), dtype=np.uint8)
    if style.terrain is None:
        out[:] = _lookup(palette)[rgba[0]]
    else:
        for start in range(0, height, CHUNK_ROWS):
            # One row of overlap on each side: the 3×3 kernel sees its true neighbours.
            stop = min(height, start + CHUNK_ROWS)
            low, high = max(0, start - 1), min(height, stop + 1)
            values, known = terrain_values(rgba[0, low:high].astype(np.float32), cell, style.terrain)
            part = palette_rgba(palette, values[start - low : stop - low])
            if style.palette is None:
                part[..., 3] *= known[start - low : stop - low]
            out[start:stop] = _to_bytes(part)
    alpha = out[..., 3].astype(np.uint16) * rgba[3] + 127
    out[..., 3] = (alpha // 255).astype(np.uint8)
    return np.moveaxis(out, -1, 0)
