"""Legend images of ROK4 styles drawn with Pillow: palette swatches or a colour ramp, values on the right.

:func:`~gpf_flow.raster_style.apply.drawn_palette` gives the palette of a style (grey for a
terrain style without one)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gpf_flow.raster_style.apply import palette_rgba
from gpf_flow.raster_style.model import Palette

SWATCH = (20, 20)
"""Width of the colour column, height of one palette entry (pixels)."""
TEXT = (0, 0, 0, 255)


def _label(value: float) -> str:
    return f"{value:g}"


def palette_legend(palette: Palette) -> Image.Image:
    """One row per palette entry: a swatch (discrete) or a ramp (continuous), with the values."""
    w, h = SWATCH
    font = ImageFont.load_default()
    stops = [c.value for c in palette.colours]
    if palette.rgb_continuous or palette.alpha_continuous:
        labels = [_label(v) for v in stops]
    elif len(stops) == 1:
        labels = ["all values"]
    else:
        labels = [f"< {_label(stops[1])}"]
        labels += [f"{_label(a)} to {_label(b)}" for a, b in zip(stops[1:-1], stops[2:], strict=True)]
        labels.append(f">= {_label(stops[-1])}")
    text_w = max(round(font.getlength(t)) for t in labels)
    canvas = Image.new("RGBA", (w + 6 + text_w, h * len(stops)), (0, 0, 0, 0))
    values = _row_values(palette, stops, h)
    colours = palette_rgba(palette, values)
    bar = np.repeat(np.clip(np.rint(colours), 0, 255).astype(np.uint8)[:, None, :], w, axis=1)
    canvas.paste(Image.fromarray(bar, "RGBA"), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for k, text in enumerate(labels):
        draw.text((w + 4, k * h + h / 2), text, fill=TEXT, font=font, anchor="lm")
    return canvas


def _row_values(palette: Palette, stops: list[float], h: int) -> np.ndarray:
    """The value each pixel row shows: an entry's value across its row (discrete), or a ramp
    through the entries, each at the middle of its row (continuous)."""
    rows = np.arange(h * len(stops), dtype=np.float64)
    if not (palette.rgb_continuous or palette.alpha_continuous):
        return np.asarray(stops, dtype=np.float64)[(rows // h).astype(int)]
    centres = np.arange(len(stops)) * h + (h - 1) / 2
    return np.interp(rows, centres, stops)
