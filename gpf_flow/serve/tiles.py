"""WMTS 1.0.0 (KVP and REST) and TMS for WMTS-TMS offerings, tiles straight from the pyramid.

Each pyramid is served on its own grid: the WMTS matrix set is named as the platform names the
grid (``PM``, ``2154_5cm``, ``LAMB93``, ``WGS84G``...) and lists all its levels; each layer's
``TileMatrixSetLimits`` give the tiles it has, and levels below its bottom are filled by resampling
(:mod:`gpf_flow.serve.tile_fill`), so clients reading at full resolution get pixels, not 404s.
TMS (``/tms/1.0.0/``) answers its TileMapService and TileMap documents; its rows count from the
top (as XYZ), which the TileMap's ``Origin`` (top-left corner) says.

A tile of the grid where the pyramid has no data answers 404 (TMS, WMTS REST) or a
``TileOutOfRange`` exception (WMTS KVP); with the vendor parameter ``EMPTYTILE=blank`` (any
case, on every route) it answers an empty tile instead: a transparent PNG, a white JPEG (the
pyramids' background), an empty vector tile. Tiles outside the grid's matrices stay errors.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image
from pyproj import CRS
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from gpf_flow import tms as grids
from gpf_flow.serve.mbtiles import MBTiles, PyramidCache
from gpf_flow.serve.ows import XML, OgcError, kvp, ows_exception, render, require
from gpf_flow.serve.published import WMTS_TMS, PublishedIndex, PublishedLayer
from gpf_flow.serve.tile_fill import tile_at

_EXT_ALIASES = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "pbf": "pbf"}
EMPTY_PARAM = "EMPTYTILE"
"""Vendor parameter: ``blank`` for an empty tile where there is no data, ``error`` (default) for 404."""
_EMPTY_CHOICES = ("error", "blank")


def blank_requested(params: Mapping[str, str]) -> bool:
    """True when the request's ``EMPTYTILE`` (any case) is ``blank``; OgcError for an unknown value."""
    value = next((v for k, v in params.items() if k.upper() == EMPTY_PARAM), "error").strip().lower()
    if value not in _EMPTY_CHOICES:
        raise OgcError(
            "InvalidParameterValue", f"{EMPTY_PARAM} must be one of {', '.join(_EMPTY_CHOICES)}", "emptytile"
        )
    return value == "blank"


@functools.cache
def blank_tile(media_type: str, size: int) -> bytes:
    """The empty tile of a format: transparent PNG, white JPEG, empty vector tile."""
    if media_type == "application/x-protobuf":
        return b""
    buf = io.BytesIO()
    if media_type == "image/jpeg":
        Image.new("RGB", (size, size), (255, 255, 255)).save(buf, format="JPEG", quality=85)
    else:
        Image.new("RGBA", (size, size), (0, 0, 0, 0)).save(buf, format="PNG")
    return buf.getvalue()


def _in_matrix(pyramid: MBTiles, z: int, x: int, y: int) -> bool:
    grid = pyramid.info.grid
    if not grid.minzoom <= z <= grid.maxzoom:
        return False
    level = grids.level(grid, z)
    return 0 <= x < level.width and 0 <= y < level.height


def _tile_or_blank(pyramid: MBTiles, z: int, x: int, y: int, blank: bool) -> bytes | None:
    """The tile, else (``blank`` and inside the grid) the format's empty tile, else None."""
    data = tile_at(pyramid, z, x, y)
    if data is None and blank and _in_matrix(pyramid, z, x, y):
        return blank_tile(pyramid.info.format, grids.level(pyramid.info.grid, z).tile)
    return data


@dataclass(frozen=True)
class TileMatrix:
    """One level of a tile matrix set, as WMTS capabilities describe it."""

    id: str
    scale_denominator: float
    corner: str
    """TopLeftCorner in the CRS's axis order."""
    width: int
    height: int
    size: int


@dataclass(frozen=True)
class MatrixSet:
    """A grid as the WMTS capabilities advertise it."""

    name: str
    crs_urn: str
    matrices: tuple[TileMatrix, ...]


def _crs_urn(crs: CRS) -> str:
    authority = crs.to_authority(min_confidence=70)
    if authority is None:
        return crs.to_wkt()
    name, code = authority
    return (
        "urn:ogc:def:crs:OGC:1.3:CRS84"
        if (name, code) == ("OGC", "CRS84")
        else f"urn:ogc:def:crs:{name}::{code}"
    )


@functools.cache
def matrix_set(grid_id: str) -> MatrixSet:
    """The WMTS description of a grid (all its levels)."""
    grid = grids.advertised(grid_id)
    crs = CRS.from_user_input(grid.rasterio_crs.to_wkt())
    north_first = bool(crs.axis_info) and crs.axis_info[0].direction.lower() in ("north", "south")
    out = []
    for z in range(grid.minzoom, grid.maxzoom + 1):
        level = grids.level(grid, z)
        corner = f"{level.top!r} {level.left!r}" if north_first else f"{level.left!r} {level.top!r}"
        m = grid.matrix(z)
        out.append(
            TileMatrix(str(z), float(m.scaleDenominator), corner, level.width, level.height, level.tile)
        )
    return MatrixSet(grids.public_name(grid_id), _crs_urn(crs), tuple(out))


def _limits(pyramid: MBTiles) -> list[tuple[int, tuple[int, int, int, int]]]:
    """Tile ranges of the stored levels, and of the finer levels the server fills."""
    ranges = dict(pyramid.ranges)
    grid, bottom = pyramid.info.grid, pyramid.info.maxzoom
    if bottom in ranges:
        level = grids.level(grid, bottom)
        c0, c1, r0, r1 = ranges[bottom]
        bounds = (
            level.left + c0 * level.span,
            level.top - (r1 + 1) * level.span,
            level.left + (c1 + 1) * level.span,
            level.top - r0 * level.span,
        )
        for z in range(bottom + 1, grids.advertised(pyramid.info.tile_matrix_set).maxzoom + 1):
            found = grids.level(grid, z).tile_range(bounds)
            if found is not None:
                x0, y0, x1, y1 = found
                ranges[z] = (x0, x1, y0, y1)
    return sorted(ranges.items())


class TileService:
    """WMTS and TMS routes over the published WMTS-TMS offerings."""

    def __init__(self, index: PublishedIndex, pyramids: PyramidCache) -> None:
        self.index = index
        self.pyramids = pyramids

    def _layers(self) -> Mapping[str, PublishedLayer]:
        return self.index.snapshot().layers(WMTS_TMS)

    def _pyramid(self, name: str) -> MBTiles | None:
        layer = self._layers().get(name)
        return self.pyramids.of(layer) if layer is not None else None

    # -- TMS (rows from the top) ---------------------------------------------------------------
    async def tms(self, request: Request) -> Response:
        """``/tms/1.0.0/{layer}/{z}/{x}/{y}.{ext}``: 404 when there is no such tile (or ``EMPTYTILE``)."""
        p = request.path_params
        try:
            blank = blank_requested(request.query_params)
        except OgcError as error:
            return PlainTextResponse(error.message, status_code=400)
        return await run_in_threadpool(self._xyz_tile, p["layer"], p["z"], p["x"], p["y"], p["ext"], blank)

    async def tms_service(self, request: Request) -> Response:
        """``/tms/1.0.0/``: the TileMapService document listing the layers."""
        base = str(request.base_url).rstrip("/")
        maps = []
        for name, layer in sorted(self._layers().items()):
            pyramid = self.pyramids.of(layer)
            if pyramid is not None:
                matrices = matrix_set(pyramid.info.tile_matrix_set)
                maps.append({"name": name, "title": layer.title, "info": pyramid.info, "set": matrices.name})
        return render("tms_service.xml.j2", media_type=XML, base=base, maps=maps)

    async def tms_map(self, request: Request) -> Response:
        """``/tms/1.0.0/{layer}``: the TileMap document of one layer (grid, origin, levels)."""
        name = request.path_params["layer"]
        layer = self._layers().get(name)
        pyramid = self.pyramids.of(layer) if layer is not None else None
        if layer is None or pyramid is None:
            return PlainTextResponse(f"no published tile layer named {name!r}", status_code=404)
        info = pyramid.info
        grid = info.grid
        first = grids.level(grid, grid.minzoom)
        levels = []
        for z in range(info.minzoom, grid.maxzoom + 1):
            level = grids.level(grid, z)
            levels.append({"z": z, "cell": level.cell})
        base = str(request.base_url).rstrip("/")
        return render(
            "tms_map.xml.j2",
            media_type=XML,
            base=base,
            layer=layer,
            info=info,
            set=matrix_set(info.tile_matrix_set),
            srs=grid.rasterio_crs.to_string(),
            origin=(first.left, first.top),
            levels=levels,
        )

    def _xyz_tile(self, name: str, z: int, x: int, y: int, ext: str, blank: bool = False) -> Response:
        pyramid = self._pyramid(name)
        if pyramid is None:
            return PlainTextResponse(f"no published tile layer named {name!r}", status_code=404)
        if _EXT_ALIASES.get(ext.lower()) != pyramid.info.extension:
            return PlainTextResponse(
                f"layer {name!r} has .{pyramid.info.extension} tiles, not .{ext}", status_code=404
            )
        data = _tile_or_blank(pyramid, z, x, y, blank)
        if data is None:
            return PlainTextResponse(f"no tile {z}/{x}/{y} in layer {name!r}", status_code=404)
        return Response(data, media_type=pyramid.info.format, headers={"Cache-Control": "no-cache"})

    # -- WMTS --------------------------------------------------------------------------------
    async def wmts_kvp(self, request: Request) -> Response:
        """``/wmts?SERVICE=WMTS&REQUEST=GetCapabilities|GetTile...``."""
        params = kvp(request)
        try:
            req = require(params, "REQUEST").lower()
            if req == "getcapabilities":
                return await run_in_threadpool(self._capabilities, request)
            if req != "gettile":
                raise OgcError("OperationNotSupported", f"request {req!r} is not supported", "request")
            fmt = params.get("FORMAT", "")
            try:
                z, row, col = (
                    int(require(params, "TILEMATRIX")),
                    int(require(params, "TILEROW")),
                    int(require(params, "TILECOL")),
                )
            except ValueError as exc:
                raise OgcError(
                    "InvalidParameterValue", "TileMatrix, TileRow, TileCol must be integers"
                ) from exc
            layer, tms = require(params, "LAYER"), require(params, "TILEMATRIXSET")
            blank = blank_requested(params)
            return await run_in_threadpool(self._wmts_tile, layer, tms, z, row, col, fmt, blank)
        except OgcError as error:
            return ows_exception(error, version="1.0.0")

    async def wmts_rest(self, request: Request) -> Response:
        """``/wmts/{layer}/{style}/{tms}/{z}/{row}/{col}.{ext}``."""
        p = request.path_params
        pyramid = self._pyramid(p["layer"])
        if pyramid is not None and p["tms"] != matrix_set(pyramid.info.tile_matrix_set).name:
            wanted = matrix_set(pyramid.info.tile_matrix_set).name
            return PlainTextResponse(f"layer {p['layer']!r} is on TileMatrixSet {wanted}", status_code=404)
        try:
            blank = blank_requested(request.query_params)
        except OgcError as error:
            return PlainTextResponse(error.message, status_code=400)
        return await run_in_threadpool(
            self._xyz_tile, p["layer"], p["z"], p["col"], p["row"], p["ext"], blank
        )

    def _wmts_tile(
        self, name: str, tms: str, z: int, row: int, col: int, fmt: str, blank: bool = False
    ) -> Response:
        pyramid = self._pyramid(name)
        if pyramid is None:
            raise OgcError("InvalidParameterValue", f"no published layer named {name!r}", "layer")
        matrices = matrix_set(pyramid.info.tile_matrix_set)
        if tms != matrices.name:
            raise OgcError(
                "InvalidParameterValue",
                f"layer {name!r} is on TileMatrixSet {matrices.name}",
                "tilematrixset",
            )
        if fmt and fmt != pyramid.info.format:
            raise OgcError(
                "InvalidParameterValue", f"layer {name!r} has {pyramid.info.format} tiles", "format"
            )
        grid = pyramid.info.grid
        if not grid.minzoom <= z <= grid.maxzoom:
            raise OgcError(
                "TileOutOfRange",
                f"TileMatrix {z} is not in {tms} ({grid.minzoom}-{grid.maxzoom})",
                "tilematrix",
            )
        data = _tile_or_blank(pyramid, z, col, row, blank)
        if data is None:
            raise OgcError("TileOutOfRange", f"no tile at {z}/{row}/{col} in layer {name!r}", "tilerow", 404)
        return Response(data, media_type=pyramid.info.format)

    def _capabilities(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        layers = []
        sets: dict[str, MatrixSet] = {}
        for _name, layer in sorted(self._layers().items()):
            pyramid = self.pyramids.of(layer)
            if pyramid is None:
                continue
            matrices = matrix_set(pyramid.info.tile_matrix_set)
            sets[matrices.name] = matrices
            layers.append(
                {"layer": layer, "info": pyramid.info, "tms": matrices.name, "limits": _limits(pyramid)}
            )
        return render("wmts_capabilities.xml.j2", base=base, layers=layers, sets=list(sets.values()))
