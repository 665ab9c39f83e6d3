"""Vector check: every file opens with pyogrio and every feature's geometry reads.

Features are read in batches (bounded memory). A feature whose geometry is missing or is not
valid WKB counts as damage: GDAL reads the records of a damaged shapefile as NULL geometries
rather than failing. A shapefile whose header length differs from its size is damaged too.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import Any

from gpf_flow.checks._support import ErrorBudget, check_each, select, suffix_of
from gpf_flow.checks.base import CheckContext

VECTOR_EXTENSIONS = (".shp", ".gpkg", ".geojson", ".json", ".csv", ".gml", ".kml", ".fgb", ".sqlite")
SIDECAR_EXTENSIONS = (
    *(".shx", ".dbf", ".prj", ".cpg", ".qpj", ".sbn", ".sbx", ".qix"),
    *(".csvt", ".vrt"),  # GDAL's CSV sidecars (column types) and virtual layers
    *(".xml", ".txt", ".md", ".qmd"),
)
SQL_EXTENSIONS = (".sql",)
"""SQL scripts a VECTOR-DB integration runs in the stored data's schema (checked as UTF-8 text)."""
BATCH = 5000


def _shape_header_problems(path: Path) -> list[str]:
    """The .shp and .shx headers must state the files' real lengths (in 16-bit words)."""
    problems: list[str] = []
    index = _sibling(path, ".shx")
    for member in (path, index):
        if member is None:
            continue
        size = member.stat().st_size
        with member.open("rb") as handle:
            header = handle.read(28)
        if len(header) < 28:
            problems.append(f"{member.name}: {size} bytes, too short for a shapefile header (100 bytes)")
            continue
        code, words = struct.unpack(">i", header[0:4])[0], struct.unpack(">i", header[24:28])[0]
        if code != 9994:
            problems.append(f"{member.name}: not a shapefile (file code {code}, expected 9994)")
        elif words * 2 != size:
            problems.append(
                f"{member.name}: header says {words * 2} bytes but the file has {size} (truncated or damaged)"
            )
    if index is None:
        problems.append("missing .shx index next to the .shp")
    if _sibling(path, ".dbf") is None:
        problems.append("missing .dbf attribute table next to the .shp")
    return problems


def _sibling(path: Path, suffix: str) -> Path | None:
    """The file next to ``path`` with another extension, in lower or upper case."""
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.is_file():
            return candidate
    return None


def _read_batch(path: Path, layer: str, skip: int, count: int) -> tuple[Any, Any, Any, list[str]]:
    """(meta, fids, geometries, warnings) of ``count`` features from ``skip``."""
    from pyogrio import raw

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        meta, fids, geometries, _fields = raw.read(
            path, layer=layer, skip_features=skip, max_features=count, return_fids=True
        )
    return meta, fids, geometries, [str(w.message) for w in caught]


def _check_geometries(budget: ErrorBudget, layer: str, fids: Any, geometries: Any) -> None:
    import numpy as np
    import shapely

    parsed = shapely.from_wkb(geometries, on_invalid="ignore")
    missing = np.array([g is None for g in geometries], dtype=bool)
    unreadable = np.array([p is None for p in parsed], dtype=bool) & ~missing
    for index in np.flatnonzero(missing):
        budget.error(f"layer {layer}: feature {fids[index]} has no geometry (unreadable record)")
    for index in np.flatnonzero(unreadable):
        budget.error(f"layer {layer}: feature {fids[index]} has a geometry that does not parse")


def _check_layer(ctx: CheckContext, budget: ErrorBudget, path: Path, layer: str) -> int:
    """Read a layer batch by batch; a batch that fails is re-read feature by feature to name them."""
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

    failures = (DataSourceError, DataLayerError, FieldError, GeometryError, OSError, ValueError)
    expected = int(pyogrio.read_info(path, layer=layer).get("features") or -1)
    total = 0
    while expected < 0 or total < expected:
        if ctx.is_aborted():
            return total
        try:
            meta, fids, geometries, messages = _read_batch(path, layer, total, BATCH)
        except failures:
            if expected < 0:
                raise
            for position in range(total, min(total + BATCH, expected)):
                try:
                    meta, fids, geometries, messages = _read_batch(path, layer, position, 1)
                except failures as exc:
                    budget.error(f"layer {layer}: feature #{position} cannot be read: {exc}")
                    continue
                if meta.get("geometry_type") is not None and len(fids):
                    _check_geometries(budget, layer, fids, geometries)
            total = min(total + BATCH, expected)
            continue
        for message in messages:
            budget.error(f"layer {layer}: {message}")
        if meta.get("geometry_type") is not None and geometries is not None and len(fids):
            _check_geometries(budget, layer, fids, geometries)
        total += len(fids)
        if len(fids) < BATCH:
            break
    return total


def _shape_count(path: Path) -> int | None:
    """The number of records in a shapefile's .shx index (its size after the 100-byte header / 8)."""
    index = _sibling(path, ".shx")
    if index is None:
        return None
    size = index.stat().st_size
    return (size - 100) // 8 if size >= 100 and (size - 100) % 8 == 0 else None


def _attribute_problems(path: Path) -> list[str]:
    """Every problem of the shapefile's .dbf, read before GDAL (which may fail on it first)."""
    from gpf_flow.checks.dbf import dbf_problems

    table = _sibling(path, ".dbf")
    return [] if table is None else list(dbf_problems(table, _shape_count(path)))


def _check_field_count(budget: ErrorBudget, path: Path, info: dict[str, Any]) -> None:
    """GDAL sees every field the .dbf declares."""
    from gpf_flow.checks.dbf import dbf_field_count

    table = _sibling(path, ".dbf")
    if table is None:
        return
    declared = dbf_field_count(table)
    fields = info.get("fields")
    seen = 0 if fields is None else len(fields)
    if declared is not None and seen != declared:
        budget.error(f"{table.name}: declares {declared} field(s), GDAL reads {seen}")


def _check_crs(ctx: CheckContext, budget: ErrorBudget, layer: str, info: dict[str, Any]) -> None:
    from gpf_flow.checks.crs_match import crs_mismatch

    declared = str(ctx.upload.get("srs") or "")
    found = crs_mismatch(declared, info.get("crs"))
    if found is not None:
        budget.error(
            f"layer {layer}: the data is in {found}, the upload declares {declared} "
            "(fix the upload's srs, or reproject the data)"
        )


def _check_file(ctx: CheckContext, relative: str, path: Path) -> bool:
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

    budget = ErrorBudget(ctx, relative)
    is_shapefile = suffix_of(relative) == ".shp"
    attributes_ok = True
    if is_shapefile:
        for problem in _shape_header_problems(path):
            budget.error(problem)
        attribute_problems = _attribute_problems(path)
        attributes_ok = not attribute_problems
        for problem in attribute_problems:
            budget.error(problem)
    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except (DataSourceError, DataLayerError, OSError) as exc:
        budget.error(f"does not open as a vector file: {exc}")
        budget.close()
        return False
    counts: list[str] = []
    for layer in layers:
        try:
            info = pyogrio.read_info(path, layer=layer)
            _check_crs(ctx, budget, layer, info)
            if is_shapefile and attributes_ok:
                _check_field_count(budget, path, info)
            counts.append(f"{layer}: {_check_layer(ctx, budget, path, layer)} features")
        except (DataSourceError, DataLayerError, FieldError, GeometryError, OSError, ValueError) as exc:
            budget.error(f"layer {layer} cannot be read: {exc}")
    budget.close()
    state = "" if budget.ok else f", {budget.count} problem(s)"
    ctx.log(f"INFO {relative}: {', '.join(counts) or 'no layer'}{state}")
    return budget.ok


def run(ctx: CheckContext) -> bool:
    """Pass when every vector file opens and every feature's geometry reads."""
    vectors = list(select(ctx.files, VECTOR_EXTENSIONS))
    scripts = list(select(ctx.files, SQL_EXTENSIONS))
    ok = True
    for relative in scripts:
        try:
            (ctx.root / relative).read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            ctx.log(f"ERROR {relative}: SQL file is not UTF-8 text ({exc.reason} at byte {exc.start})")
            ok = False
    for relative in sorted(set(ctx.files) - set(vectors) - set(scripts)):
        if suffix_of(relative) not in SIDECAR_EXTENSIONS:
            ctx.log(f"ERROR {relative}: not a vector file (expected one of {', '.join(VECTOR_EXTENSIONS)})")
            ok = False
    if not vectors and scripts:
        ctx.log(f"INFO {len(scripts)} SQL file(s), run in the stored data's schema at integration")
        return ok
    if not vectors:
        ctx.log("ERROR upload: no vector file (.shp, .gpkg, .geojson, .csv...) in this VECTOR upload")
        return False
    passed = check_each(ctx, vectors, lambda relative, path: _check_file(ctx, relative, path))
    if passed is None:
        return False
    ok = passed and ok
    ctx.log(f"INFO {len(vectors)} vector file(s) checked: {'all readable' if ok else 'problems found'}")
    return ok
