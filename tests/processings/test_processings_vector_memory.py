"""Vector integration memory stays flat: 1M polygons into the GeoPackage store under 300 MB."""

from __future__ import annotations

import pytest
from processings_vectors import integration_peak, write_parcels_gpkg

N = 1_000_000
CAP_MB = 300


@pytest.mark.slow
def test_one_million_polygons_into_geopackage_stay_under_the_cap(tmp_path) -> None:
    upload = tmp_path / "upload"
    write_parcels_gpkg(upload, N)
    count, peak = integration_peak(upload, tmp_path / "out", tmp_path / "home", {"GPF_FLOW_POSTGRES": "off"})
    assert count == N
    assert peak < CAP_MB, f"peak RSS {peak:.0f} MB"
