"""What a VECTOR upload holds: SQL scripts and vector layers, read the way GDAL reads them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyogrio import list_layers
from pyogrio.errors import DataLayerError, DataSourceError
from pyogrio.raw import read

CSV_OPTIONS = {
    "GEOM_POSSIBLE_NAMES": "WKT,geom,geometry,the_geom,wkt_geom",
    "X_POSSIBLE_NAMES": "x,lon,longitude",
    "Y_POSSIBLE_NAMES": "y,lat,latitude",
    "KEEP_GEOM_COLUMNS": "NO",
}
VECTOR_SUFFIXES = {".shp", ".gpkg", ".csv", ".geojson", ".json", ".fgb", ".gml", ".kml"}
SQL_SUFFIX = ".sql"
_FAMILY = {
    0: "Point",
    4: "Point",
    1: "LineString",
    2: "LineString",
    5: "LineString",
    3: "Polygon",
    6: "Polygon",
}
# PostgreSQL type of each OGR field type, as ogr2ogr creates them.
OGR_TO_SQL = {
    "OFTInteger": "integer",
    "OFTInteger64": "bigint",
    "OFTReal": "double precision",
    "OFTString": "character varying",
    "OFTDate": "date",
    "OFTTime": "time without time zone",
    "OFTDateTime": "timestamp with time zone",
    "OFTBinary": "bytea",
}
SUBTYPE_TO_SQL = {"OFSTBoolean": "boolean", "OFSTInt16": "smallint", "OFSTFloat32": "real"}


class SourceError(Exception):
    """A file of the upload cannot be read."""


@dataclass(frozen=True)
class SourceLayer:
    """One layer to integrate."""

    path: Path
    layer: str
    options: Mapping[str, str]

    @property
    def label(self) -> str:
        """How logs and errors name the layer (file, plus layer for GeoPackages)."""
        return f"{self.path.name}:{self.layer}" if self.path.suffix.lower() == ".gpkg" else self.path.name


@dataclass(frozen=True)
class SqlScript:
    """One ``.sql`` file of the upload."""

    path: Path

    @property
    def label(self) -> str:
        """The file name."""
        return self.path.name


def find_sources(folders: list[Path]) -> list[SourceLayer | SqlScript]:
    """SQL scripts and vector layers under the folders, in path order (lots apply in that order)."""
    found: list[SourceLayer | SqlScript] = []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            suffix = path.suffix.lower()
            if suffix == SQL_SUFFIX:
                found.append(SqlScript(path))
                continue
            if suffix not in VECTOR_SUFFIXES:
                continue
            options = CSV_OPTIONS if suffix == ".csv" else {}
            try:
                names = [str(row[0]) for row in list_layers(path)]
            except (DataSourceError, DataLayerError, OSError) as exc:
                raise SourceError(f"{path.name}: unreadable vector file ({exc})") from None
            found.extend(SourceLayer(path, name, options) for name in names)
    return found


def field_types(info: Mapping[str, Any]) -> list[str]:
    """PostgreSQL types of a layer's fields (pyogrio ``read_info``), as ogr2ogr would create them."""
    subtypes = info.get("ogr_subtypes") or ["OFSTNone"] * len(info["fields"])
    return [
        SUBTYPE_TO_SQL.get(str(sub)) or OGR_TO_SQL.get(str(ogr), "character varying")
        for ogr, sub in zip(info["ogr_types"], subtypes, strict=True)
    ]


def multi_type(geometry_type: str | None, src: SourceLayer) -> str | None:
    """The promoted geometry type (``Polygon`` → ``MultiPolygon``); detected for untyped CSV layers."""
    if geometry_type is None:
        return None
    base = geometry_type.replace(" Z", "").replace(" M", "")
    if base in ("Point", "LineString", "Polygon"):
        return "Multi" + base
    if base in ("Unknown", "Geometry", "GeometryCollection"):
        _, _, geometry, _ = read(src.path, layer=src.layer, columns=[], max_features=50_000, **src.options)
        if geometry is None:
            return "Geometry"
        ids = shapely.get_type_id(shapely.from_wkb(geometry))
        families = {_FAMILY.get(int(i)) for i in np.unique(ids) if i >= 0}
        if len(families) == 1 and None not in families:
            return f"Multi{families.pop()}"
        return "Geometry"
    return base
