"""Reading VECTOR-DB stored data (``vector.gpkg``) for the WMS-VECTOR and WFS services."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from pyogrio import raw
from pyproj import Transformer

from gpf_flow.serve.ows import crs_code
from gpf_flow.serve.published import PublishedLayer


@dataclass(frozen=True)
class Relation:
    """One table of a VECTOR-DB, as a service publishes it."""

    path: Path
    table: str
    public_name: str
    title: str
    abstract: str
    crs: str
    """``EPSG:n`` of the stored geometries."""
    geometry_type: str
    fields: tuple[str, ...]
    dtypes: tuple[str, ...]
    count: int
    bounds: tuple[float, float, float, float]
    """In :attr:`crs`."""
    style: str | None = None
    """Id of the static SLD style (WMS-VECTOR)."""
    keywords: tuple[str, ...] = field(default=())
    schema: str | None = None
    """PostGIS schema holding :attr:`table` (``path`` is then the stored data's folder)."""

    @functools.cached_property
    def wgs84_bounds(self) -> tuple[float, float, float, float]:
        """Bounds in lon/lat (computed once: relations are cached per file version)."""
        return transform_bounds(self.bounds, self.crs, "EPSG:4326")


@dataclass
class Features:
    """Features read from a relation: ids, shapely geometries and attribute columns."""

    fids: np.ndarray
    geometries: np.ndarray
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.fids)

    def subset(self, index: slice | np.ndarray) -> Features:
        """The features selected by a slice or a boolean mask."""
        return Features(
            self.fids[index], self.geometries[index], {k: v[index] for k, v in self.columns.items()}
        )

    def properties(self, i: int) -> dict[str, Any]:
        """Attributes of feature ``i`` as JSON-ready values."""
        out: dict[str, Any] = {}
        for name, values in self.columns.items():
            value = values[i]
            out[name] = value.item() if hasattr(value, "item") else value
            if isinstance(out[name], float) and out[name] != out[name]:
                out[name] = None
        return out


@functools.lru_cache(maxsize=64)
def transformer(src: str, dst: str) -> Transformer:
    """A cached lon/lat-ordered (``always_xy``) transformer."""
    return Transformer.from_crs(src, dst, always_xy=True)


def transform_bounds(
    bounds: Sequence[float], src: str, dst: str, densify: int = 21
) -> tuple[float, float, float, float]:
    """Bounds from one CRS to another (x/y order on both sides)."""
    if src == dst:
        x0, y0, x1, y1 = bounds
        return float(x0), float(y0), float(x1), float(y1)
    bx0, by0, bx1, by1 = (float(v) for v in bounds)
    x0, y0, x1, y1 = transformer(src, dst).transform_bounds(bx0, by0, bx1, by1, densify_pts=densify)
    return float(x0), float(y0), float(x1), float(y1)


def union_bounds(
    boxes: Sequence[Sequence[float]], empty: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """The box covering every ``(minx, miny, maxx, maxy)`` of ``boxes``; ``empty`` when there is none."""
    if not boxes:
        return empty
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _srs(info: Mapping[str, Any]) -> str:
    crs = info.get("crs") or "EPSG:4326"
    try:
        return crs_code(str(crs))
    except Exception:
        return "EPSG:4326"


class VectorSources:
    """Relations of the published vector offerings, their metadata cached per file version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._info: dict[tuple[Path, str, float], dict[str, Any]] = {}
        self._relations: dict[str, list[Relation]] = {}
        self._databases: dict[Path, Any] = {}

    def info(self, path: Path, table: str) -> dict[str, Any]:
        """pyogrio's ``read_info`` of one table (cached until the file changes)."""
        key = (path, table, path.stat().st_mtime)
        with self._lock:
            cached = self._info.get(key)
        if cached is None:
            cached = dict(
                pyogrio.read_info(path, layer=table, force_total_bounds=True, force_feature_count=True)
            )
            with self._lock:
                self._info[key] = cached
        return cached

    def relations(self, layer: PublishedLayer) -> list[Relation]:
        """The tables a WFS or WMS-VECTOR configuration publishes, in configuration order.

        Cached per configuration content and data file version (services ask on every request).
        """
        files = []
        for used in layer.used_data:
            path = used.path / str((used.stored_data.get("type_infos") or {}).get("file") or "vector.gpkg")
            files.append((str(path), path.stat().st_mtime if path.is_file() else None))
            files.append((str(used.stored_data.get("type_infos")), None))
        key = json.dumps([layer.configuration.get("type_infos"), files], sort_keys=True, default=str)
        with self._lock:
            cached = self._relations.get(key)
        if cached is None:
            cached = self._relations_of(layer)
            with self._lock:
                if len(self._relations) > 256:
                    self._relations.clear()
                self._relations[key] = cached
        return list(cached)

    def _relations_of(self, layer: PublishedLayer) -> list[Relation]:
        out: list[Relation] = []
        for used in layer.used_data:
            if (used.stored_data.get("type_infos") or {}).get("database") == "postgis":
                out += self._postgis_relations(used)
                continue
            name = (used.stored_data.get("type_infos") or {}).get("file") or "vector.gpkg"
            path = used.path / str(name)
            if not path.is_file():
                continue
            specs = used.spec.get("relations") or [
                {"native_name": str(t[0])} for t in pyogrio.list_layers(path) if t[1] is not None
            ]
            tables = {str(t[0]).lower(): str(t[0]) for t in pyogrio.list_layers(path)}
            for spec in specs:
                native = str(spec.get("native_name") or spec.get("name") or "")
                table = tables.get(native.lower())
                if table is None:
                    continue
                info = self.info(path, table)
                keywords = spec.get("keywords") or []
                out.append(
                    Relation(
                        path=path,
                        table=table,
                        public_name=str(spec.get("public_name") or native),
                        title=str(spec.get("title") or spec.get("public_name") or native),
                        abstract=str(spec.get("abstract") or ""),
                        crs=_srs(info),
                        geometry_type=str(info.get("geometry_type") or "Unknown"),
                        fields=tuple(str(f) for f in info.get("fields", ())),
                        dtypes=tuple(str(d) for d in info.get("dtypes", ())),
                        count=int(info.get("features") or 0),
                        bounds=tuple(float(v) for v in info.get("total_bounds", (0, 0, 0, 0))),  # type: ignore[arg-type]
                        style=str(spec["style"]) if spec.get("style") else None,
                        keywords=tuple(str(k) for k in keywords) if isinstance(keywords, list) else (),
                    )
                )
        return out

    def _postgis_relations(self, used: Any) -> list[Relation]:
        from gpf_flow.postgis import reader
        from gpf_flow.postgis.database import stored_data_schema

        schema = str(stored_data_schema(used.stored_data))
        db = self._database(used.path)
        specs = used.spec.get("relations") or [
            {"native_name": r.name} for r in db.relations(schema) if r.geometry_column
        ]
        out: list[Relation] = []
        for spec in specs:
            native = str(spec.get("native_name") or spec.get("name") or "")
            rel = reader.relation(db, schema, native)
            if rel is None:
                continue
            info = reader.layer_info(db, schema, rel.name)
            keywords = spec.get("keywords") or []
            out.append(
                Relation(
                    path=used.path,
                    table=rel.name,
                    public_name=str(spec.get("public_name") or native),
                    title=str(spec.get("title") or spec.get("public_name") or native),
                    abstract=str(spec.get("abstract") or ""),
                    crs=_srs(info),
                    geometry_type=str(info.get("geometry_type") or "Unknown"),
                    fields=tuple(str(f) for f in info["fields"]),
                    dtypes=tuple(str(d) for d in info["dtypes"]),
                    count=int(info["features"]),
                    bounds=tuple(float(v) for v in info["total_bounds"]),  # type: ignore[arg-type]
                    style=str(spec["style"]) if spec.get("style") else None,
                    keywords=tuple(str(k) for k in keywords) if isinstance(keywords, list) else (),
                    schema=schema,
                )
            )
        return out

    def _database(self, stored_data_path: Path) -> Any:
        from gpf_flow.postgis.database import database_for

        home = stored_data_path.parent.parent  # HOME/stored_data/<id>
        with self._lock:
            db = self._databases.get(home)
        if db is None:
            db = database_for(home)
            with self._lock:
                self._databases[home] = db
        return db

    def read(
        self,
        rel: Relation,
        bbox: tuple[float, float, float, float] | None = None,
        *,
        skip: int = 0,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> Features:
        """Features intersecting ``bbox`` (relation CRS), in fid order, from ``skip`` up to ``limit``."""
        if limit == 0:
            return Features(np.array([], dtype=np.int64), np.array([], dtype=object), {})
        if rel.schema is not None:
            from gpf_flow.postgis.reader import read_features

            meta, fids, wkb, values = read_features(
                self._database(rel.path), rel.schema, rel.table, bbox, skip=skip, limit=limit, columns=columns
            )
        else:
            meta, fids, wkb, values = raw.read(
                rel.path,
                layer=rel.table,
                bbox=bbox,
                skip_features=skip,
                max_features=limit,
                columns=list(columns) if columns is not None else None,
                return_fids=True,
            )
        geoms = shapely.from_wkb(wkb, on_invalid="ignore") if wkb is not None else np.array([], dtype=object)
        names = [str(n) for n in meta["fields"]]
        return Features(fids=fids, geometries=geoms, columns=dict(zip(names, values, strict=True)))
