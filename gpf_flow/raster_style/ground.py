"""The ground size of a raster's cells, in metres, whatever its CRS (for slopes and hillshades)."""

from __future__ import annotations

from affine import Affine
from pyproj import CRS, Geod, Transformer
from rasterio.transform import xy

_GEOD = Geod(ellps="WGS84")


def cell_metres(crs: CRS, transform: Affine, shape: tuple[int, int]) -> tuple[float, float]:
    """East and north ground sizes of the cell at the middle of a ``shape`` (rows, cols) raster."""
    row, col = shape[0] // 2, shape[1] // 2
    xs, ys = xy(transform, [row, row, row + 1], [col, col + 1, col])
    lons, lats = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    east = _GEOD.inv(lons[0], lats[0], lons[1], lats[1])[2]
    north = _GEOD.inv(lons[0], lats[0], lons[2], lats[2])[2]
    return float(east), float(north)
