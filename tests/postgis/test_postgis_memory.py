"""Vector integration into PostGIS keeps its memory flat: 1M polygons under 300 MB."""

from __future__ import annotations

from pathlib import Path

import pytest
from processings_vectors import integration_peak, write_parcels_gpkg

N = 1_000_000
CAP_MB = 300


@pytest.mark.slow
def test_one_million_polygons_into_postgis_stay_under_the_cap(pg_home: Path, tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    write_parcels_gpkg(upload, N)
    count, peak = integration_peak(upload, tmp_path / "out", pg_home, {})
    assert count == N
    assert peak < CAP_MB, f"peak RSS {peak:.0f} MB"
