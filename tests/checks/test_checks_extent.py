"""An upload's ``bbox``: the lon/lat box of every raster and vector layer it holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyogrio.raw import write
from pyproj import Transformer
from rasterio.transform import from_origin

from gpf_flow.checks.extent import data_bbox


def _raster(path: Path, west: float, north: float, crs: str | None) -> None:
    profile = {"driver": "GTiff", "width": 100, "height": 50, "count": 1, "dtype": "uint8"}
    with rasterio.open(path, "w", **profile, crs=crs, transform=from_origin(west, north, 10, 10)) as out:
        out.write(np.ones((1, 50, 100), dtype="uint8"))


def test_rasters_and_layers_are_united_in_lon_lat(tmp_path: Path) -> None:
    _raster(tmp_path / "a.tif", 650_000, 6_862_000, "EPSG:2154")
    points = shapely.to_wkb(shapely.points([2.0, 3.0], [48.0, 49.5]))
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "p.gpkg", points, [], [], driver="GPKG", geometry_type="Point", crs="EPSG:4326")
    (tmp_path / "notes.txt").write_text("not data")
    box = data_bbox(tmp_path)
    assert box is not None
    lonlat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    raster = lonlat.transform_bounds(650_000, 6_861_500, 651_000, 6_862_000, densify_pts=21)
    assert box["west"] == pytest.approx(min(raster[0], 2.0))
    assert box["south"] == pytest.approx(min(raster[1], 48.0))
    assert box["east"] == pytest.approx(max(raster[2], 3.0))
    assert box["north"] == pytest.approx(max(raster[3], 49.5))


def test_declared_srs_stands_in_and_nothing_readable_gives_none(tmp_path: Path) -> None:
    _raster(tmp_path / "no_crs.tif", 650_000, 6_862_000, None)
    assert data_bbox(tmp_path) is None
    box = data_bbox(tmp_path, "EPSG:2154")
    assert box is not None and 2.0 < box["west"] < box["east"] < 3.0
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage")
    assert data_bbox(tmp_path, "EPSG:2154") == box  # unreadable files are the checks' to report
