"""Whether a dataset's own CRS is the one its upload declares (``srs``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=64)
def _declared(srs: str) -> Any:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return CRS.from_user_input(srs)
    except CRSError:
        return None


def crs_mismatch(declared_srs: str, data_crs: Any) -> str | None:
    """None when the data's CRS (WKT, ``EPSG:n``, a pyproj/rasterio CRS, or None: no CRS in the
    data) is the declared one; otherwise the data's CRS as ``EPSG:n`` or its name."""
    if data_crs is None or not declared_srs:
        return None
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    declared = _declared(declared_srs)
    if declared is None:
        return None  # the srs itself is checked when the upload is created
    try:
        data = CRS.from_user_input(data_crs.to_wkt() if hasattr(data_crs, "to_wkt") else data_crs)
    except CRSError:
        return None
    if declared.equals(data, ignore_axis_order=True):
        return None
    data_code = data.to_epsg(min_confidence=70)
    if data_code is not None and data_code == declared.to_epsg():
        return None
    return f"EPSG:{data_code}" if data_code is not None else data.name
