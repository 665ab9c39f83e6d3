"""Processing "Intégration de données vecteur livrées en base": VECTOR upload → ``vector.gpkg``.

Every layer of the upload (shapefiles, GeoPackage layers, CSV with a WKT column or a .csvt,
GeoJSON) becomes one table of a GeoPackage, as an ogr2ogr→PostGIS integration would make it:
table and column names lower-cased, geometries promoted to multi, a spatial index, primary key
``fid``, the upload's declared ``srs`` used when a file has none. Read and written in batches
with pyogrio's raw API, so memory stays bounded and aborts are honoured between batches.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyogrio import list_layers, read_info
from pyogrio.errors import DataLayerError, DataSourceError
from pyogrio.raw import read, write
from pyproj import CRS, Transformer
from shapely.geometry import box, mapping
from shapely.ops import unary_union

from gpf_flow.processings.base import ProcessingContext, ProcessingFailed, ProcessingResult

OUTPUT_NAME = "vector.gpkg"
BATCH = 50_000
CSV_OPTIONS = {
    "GEOM_POSSIBLE_NAMES": "WKT,geom,geometry,the_geom,wkt_geom",
    "X_POSSIBLE_NAMES": "x,lon,longitude",
    "Y_POSSIBLE_NAMES": "y,lat,latitude",
    "KEEP_GEOM_COLUMNS": "NO",
}
VECTOR_SUFFIXES = {".shp", ".gpkg", ".csv", ".geojson"}
_FAMILY = {
    0: "Point",
    4: "Point",
    1: "LineString",
    2: "LineString",
    5: "LineString",
    3: "Polygon",
    6: "Polygon",
}
SQL_TYPES = {"i": "integer", "u": "integer", "f": "double precision", "b": "boolean", "M": "timestamp"}


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


def find_layers(folders: list[Path]) -> list[SourceLayer]:
    """The layers of every vector file under the folders, sorted by path."""
    layers: list[SourceLayer] = []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            suffix = path.suffix.lower()
            if suffix not in VECTOR_SUFFIXES:
                continue
            options = CSV_OPTIONS if suffix == ".csv" else {}
            try:
                names = [str(row[0]) for row in list_layers(path)]
            except (DataSourceError, DataLayerError, OSError) as exc:
                raise ProcessingFailed(f"{path.name}: unreadable vector file ({exc})") from None
            layers.extend(SourceLayer(path, name, options) for name in names)
    return layers


def _unique(name: str, taken: set[str]) -> str:
    candidate, i = name, 1
    while candidate in taken:
        candidate = f"{name}_{i}"
        i += 1
    taken.add(candidate)
    return candidate


def table_name(layer: str, taken: set[str]) -> str:
    """A lower-case SQL-friendly table name, unique within the output."""
    name = re.sub(r"[^a-z0-9_]", "_", layer.strip().lower()) or "layer"
    if name[0].isdigit():
        name = f"t_{name}"
    return _unique(name, taken)


def _multi(geometry_type: str | None) -> str | None:
    if geometry_type is None:
        return None
    base = geometry_type.replace(" Z", "").replace(" M", "")
    if base in ("Point", "LineString", "Polygon"):
        return "Multi" + geometry_type
    return geometry_type


def _detected_type(src: SourceLayer) -> str:
    """Geometry type of a layer that declares none (CSV with WKT): Multi<family> if only one is present."""
    _, _, geometry, _ = read(src.path, layer=src.layer, columns=[], max_features=BATCH, **src.options)
    if geometry is None:
        return "Unknown"
    ids = shapely.get_type_id(shapely.from_wkb(geometry))
    families = {_FAMILY.get(int(i)) for i in np.unique(ids) if i >= 0}
    if len(families) == 1 and None not in families:
        return f"Multi{families.pop()}"
    return "Unknown"


def _attribute_types(info: Mapping[str, Any]) -> dict[str, str]:
    """SQL type names of a layer's fields, from pyogrio's ``read_info``."""
    return {
        str(name): SQL_TYPES.get(np.dtype(dtype).kind, "character varying")
        for name, dtype in zip(info["fields"], info["dtypes"], strict=True)
    }


def _srs_name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def integrate_layer(
    ctx: ProcessingContext, src: SourceLayer, table: str, target: Path, declared: str | None
) -> dict[str, Any]:
    """Copy one layer into the GeoPackage, batch by batch; returns its ``relations`` entry."""
    started = time.monotonic()
    info = read_info(src.path, layer=src.layer, force_feature_count=True, **src.options)
    total = int(info["features"])
    if total == 0:
        raise ProcessingFailed(
            f"{src.label}: layer {src.layer!r} is empty (no feature); remove it or fill it"
        )
    crs_text = info["crs"]
    spatial = info["geometry_type"] is not None
    if crs_text is None and spatial:
        if not declared:
            raise ProcessingFailed(f"{src.label}: input has no CRS and the upload declares no srs")
        ctx.log(f"WARNING {src.label}: input has no CRS, using the upload's declared srs {declared}")
        crs_text = declared
    crs = CRS.from_user_input(crs_text) if crs_text else None
    geometry_type = _multi(info["geometry_type"])
    if geometry_type in ("Unknown", "Geometry"):
        geometry_type = _detected_type(src)
    columns: list[str] = []
    taken: set[str] = {"fid", "geom"}
    for name in info["fields"]:
        columns.append(_unique(str(name).strip().lower(), taken))
    written = 0
    while written < total:
        ctx.check_abort()
        meta, _, geometry, field_data = read(
            src.path, layer=src.layer, skip_features=written, max_features=BATCH, **src.options
        )
        n = len(geometry) if geometry is not None else (len(field_data[0]) if len(field_data) else 0)
        if n == 0:
            break
        write(
            target,
            geometry,
            field_data,
            columns,
            driver="GPKG",
            layer=table,
            crs=crs.to_wkt() if crs else None,
            geometry_type=geometry_type,
            promote_to_multi=geometry_type is not None,
            append=written > 0,
            layer_options={"FID": "fid", "GEOMETRY_NAME": "geom", "SPATIAL_INDEX": "YES"},
        )
        written += n
    out = read_info(target, layer=table, force_total_bounds=True)
    bounds = [float(v) for v in out["total_bounds"]] if geometry_type is not None else None
    ctx.log(
        f"{src.label} → table {table}: {out['features']} features, {out['geometry_type']}, "
        f"{_srs_name(crs) if crs else 'no geometry'}, {len(columns)} columns, "
        f"{time.monotonic() - started:.2f} s"
    )
    return {
        "name": table,
        "type": "TABLE",
        "attributes": _attribute_types(out),
        "geometry_type": out["geometry_type"],
        "srs": _srs_name(crs) if crs else None,
        "count": int(out["features"]),
        "extent": bounds,
        "primary_key": ["fid"],
    }


def _extent_4326(relations: list[dict[str, Any]]) -> dict[str, Any] | None:
    shapes = []
    for rel in relations:
        if rel["extent"] is None or any(not np.isfinite(v) for v in rel["extent"]):
            continue
        to_4326 = Transformer.from_crs(rel["srs"], "EPSG:4326", always_xy=True)
        minx, miny, maxx, maxy = rel["extent"]
        shapes.append(box(*to_4326.transform_bounds(minx, miny, maxx, maxy, densify_pts=21)))
    if not shapes:
        return None
    return dict(mapping(unary_union(shapes)))


def run(ctx: ProcessingContext) -> ProcessingResult:
    """Integrate the VECTOR upload(s) into one GeoPackage."""
    started = time.monotonic()
    layers = find_layers([u.path for u in ctx.uploads])
    if not layers:
        raise ProcessingFailed(
            "no vector file found in the upload (expected .shp, .gpkg, .csv or .geojson files)"
        )
    ctx.log(f"found {len(layers)} layer(s): {', '.join(layer.label for layer in layers)}")
    declared = next((str(u.entity["srs"]) for u in ctx.uploads if u.entity.get("srs")), None)
    tmp = ctx.output_dir / ("partial-" + OUTPUT_NAME)
    tmp.unlink(missing_ok=True)
    taken: set[str] = set()
    relations = []
    try:
        for src in layers:
            ctx.check_abort()
            try:
                relations.append(integrate_layer(ctx, src, table_name(src.layer, taken), tmp, declared))
            except (DataSourceError, DataLayerError) as exc:
                raise ProcessingFailed(f"{src.label}: cannot read or write the layer ({exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(ctx.output_dir / OUTPUT_NAME)
    srs_values = {rel["srs"] for rel in relations if rel["srs"]}
    ctx.log(f"wrote {OUTPUT_NAME}: {len(relations)} table(s) in {time.monotonic() - started:.2f} s")
    return ProcessingResult(
        type_infos={"relations": relations, "file": OUTPUT_NAME},
        srs=srs_values.pop() if len(srs_values) == 1 else None,
        extent=_extent_4326(relations),
    )
