"""Names as ``ogr2ogr`` gives them in PostgreSQL (``LAUNDER=YES``), shared by PostGIS and GeoPackage."""

from __future__ import annotations

import re

FID_COLUMN = "ogc_fid"
GEOMETRY_COLUMN = "wkb_geometry"
MAX_IDENTIFIER = 63
_LAUNDERED = re.compile(r"[\s'\-#.]")


def launder(name: str) -> str:
    """Lower-cased, with spaces, quotes, ``-``, ``#`` and ``.`` turned into ``_`` (63 bytes at most)."""
    out = _LAUNDERED.sub("_", name.strip().lower()) or "layer"
    return out.encode()[:MAX_IDENTIFIER].decode(errors="ignore")


def unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_1``, ``name_2``... when already taken; the result is added to ``taken``."""
    candidate, i = name, 1
    while candidate in taken:
        candidate = f"{name}_{i}"
        i += 1
    taken.add(candidate)
    return candidate


def column_names(fields: list[str]) -> list[str]:
    """Laundered, unique column names for a layer's fields (never the FID or geometry column)."""
    taken = {FID_COLUMN, GEOMETRY_COLUMN}
    return [unique(launder(str(f)), taken) for f in fields]
