"""WMTS 1.0.0 (KVP and REST) and XYZ TMS for WMTS-TMS offerings, tiles straight from the pyramid."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import morecantile
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from gpf_flow.serve.mbtiles import MBTiles, PyramidCache
from gpf_flow.serve.ows import OgcError, kvp, ows_exception, render, require
from gpf_flow.serve.published import WMTS_TMS, PublishedIndex, PublishedLayer

TILE_MATRIX_SET = "PM"
NUM_LEVELS = 22
_EXT_ALIASES = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "pbf": "pbf"}


@dataclass(frozen=True)
class TileMatrix:
    """One level of the PM tile matrix set, as WMTS capabilities describe it."""

    id: str
    scale_denominator: float
    left: float
    top: float
    size: int


@functools.cache
def pm_matrices() -> tuple[TileMatrix, ...]:
    """Levels 0–21 of WebMercatorQuad (the Géoplateforme's PM)."""
    tms = morecantile.tms.get("WebMercatorQuad")
    out = []
    for z in range(NUM_LEVELS):
        m = tms.matrix(z)
        left, top = m.pointOfOrigin
        out.append(TileMatrix(str(z), float(m.scaleDenominator), float(left), float(top), int(m.matrixWidth)))
    return tuple(out)


class TileService:
    """WMTS and TMS routes over the published WMTS-TMS offerings."""

    def __init__(self, index: PublishedIndex, pyramids: PyramidCache) -> None:
        self.index = index
        self.pyramids = pyramids

    def _layers(self) -> Mapping[str, PublishedLayer]:
        return self.index.snapshot().layers(WMTS_TMS)

    def _pyramid(self, name: str) -> MBTiles | None:
        layer = self._layers().get(name)
        pyramid = self.pyramids.of(layer) if layer is not None else None
        return pyramid if pyramid is not None and pyramid.info.is_pm else None

    # -- TMS (XYZ rows) ------------------------------------------------------------------------
    async def tms(self, request: Request) -> Response:
        """``/tms/1.0.0/{layer}/{z}/{x}/{y}.{ext}``: 404 when there is no such tile."""
        p = request.path_params
        return await run_in_threadpool(self._xyz_tile, p["layer"], p["z"], p["x"], p["y"], p["ext"])

    def _xyz_tile(self, name: str, z: int, x: int, y: int, ext: str) -> Response:
        pyramid = self._pyramid(name)
        if pyramid is None:
            return PlainTextResponse(f"no published tile layer named {name!r}", status_code=404)
        if _EXT_ALIASES.get(ext.lower()) != pyramid.info.extension:
            return PlainTextResponse(
                f"layer {name!r} has .{pyramid.info.extension} tiles, not .{ext}", status_code=404
            )
        data = pyramid.tile(z, x, y)
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
            if require(params, "TILEMATRIXSET") != TILE_MATRIX_SET:
                raise OgcError("InvalidParameterValue", "only TileMatrixSet PM exists", "tilematrixset")
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
            return await run_in_threadpool(self._wmts_tile, require(params, "LAYER"), z, row, col, fmt)
        except OgcError as error:
            return ows_exception(error, version="1.0.0")

    async def wmts_rest(self, request: Request) -> Response:
        """``/wmts/{layer}/{style}/{tms}/{z}/{row}/{col}.{ext}``."""
        p = request.path_params
        if p["tms"] != TILE_MATRIX_SET:
            return PlainTextResponse("only TileMatrixSet PM exists", status_code=404)
        return await run_in_threadpool(self._xyz_tile, p["layer"], p["z"], p["col"], p["row"], p["ext"])

    def _wmts_tile(self, name: str, z: int, row: int, col: int, fmt: str) -> Response:
        pyramid = self._pyramid(name)
        if pyramid is None:
            raise OgcError("InvalidParameterValue", f"no published layer named {name!r}", "layer")
        if fmt and fmt != pyramid.info.format:
            raise OgcError(
                "InvalidParameterValue", f"layer {name!r} has {pyramid.info.format} tiles", "format"
            )
        if not 0 <= z < NUM_LEVELS:
            raise OgcError("TileOutOfRange", f"TileMatrix {z} is not in PM (0-21)", "tilematrix")
        data = pyramid.tile(z, col, row)
        if data is None:
            raise OgcError("TileOutOfRange", f"no tile at {z}/{row}/{col} in layer {name!r}", "tilerow", 404)
        return Response(data, media_type=pyramid.info.format)

    def _capabilities(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        layers = []
        for _name, layer in sorted(self._layers().items()):
            pyramid = self.pyramids.of(layer)
            if pyramid is None or not pyramid.info.is_pm:
                continue
            layers.append({"layer": layer, "info": pyramid.info, "limits": sorted(pyramid.ranges.items())})
        return render(
            "wmts_capabilities.xml.j2",
            base=base,
            layers=layers,
            matrices=pm_matrices(),
            tms=TILE_MATRIX_SET,
        )
