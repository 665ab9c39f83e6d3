"""ROK4 raster styles (statics ``ROK4-STYLE``): reading, applying to pixels, drawing legends."""

from gpf_flow.raster_style.apply import apply_style, palette_rgba
from gpf_flow.raster_style.model import RasterStyle, StyleError, parse_style

__all__ = ["RasterStyle", "StyleError", "apply_style", "palette_rgba", "parse_style"]
