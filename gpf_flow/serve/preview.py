"""``/preview/{offering_id}``: an HTML map of one published offering (Leaflet shipped in the package).

The page loads nothing from the internet: Leaflet and the page script come from ``/static``,
the map from this server's own WMS, tiles or WFS, over a plain background. When the first
image (or the features) has loaded, the page sets ``data-map-loaded="true"`` on ``<body>``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from gpf_flow.serve.download import files_of
from gpf_flow.serve.mbtiles import PyramidCache
from gpf_flow.serve.ows import render
from gpf_flow.serve.published import (
    DOWNLOAD,
    WFS,
    WMS_RASTER,
    WMS_VECTOR,
    WMTS_TMS,
    PublishedIndex,
    PublishedLayer,
)
from gpf_flow.serve.vector_data import VectorSources, union_bounds
from gpf_flow.serve.wfs import prefix_of

WORLD = (-180.0, -85.0, 180.0, 85.0)


class PreviewService:
    """Builds the page's map settings from the offering's type and data."""

    def __init__(self, index: PublishedIndex, pyramids: PyramidCache, sources: VectorSources) -> None:
        self.index = index
        self.pyramids = pyramids
        self.sources = sources

    async def page(self, request: Request) -> Response:
        """``/preview/{offering_id}``: 404 unless the offering is published."""
        offering_id = request.path_params["offering_id"]
        layer = (await run_in_threadpool(self.index.snapshot)).by_id.get(offering_id)
        if layer is None:
            return PlainTextResponse(f"no published offering with id {offering_id!r}", status_code=404)
        config = await run_in_threadpool(self._config, layer)
        files = await run_in_threadpool(files_of, layer) if layer.type == DOWNLOAD else []
        return render(
            "preview.html.j2",
            media_type="text/html; charset=utf-8",
            layer=layer,
            config=config,
            files=files,
            quote=quote,
        )

    def _config(self, layer: PublishedLayer) -> dict[str, Any]:
        name = layer.layer_name
        if layer.type in (WMS_RASTER, WMTS_TMS):
            pyramid = self.pyramids.of(layer)
            info = pyramid.info if pyramid is not None else None
            bounds = info.bounds if info is not None else WORLD
            if layer.type == WMS_RASTER:
                return {"kind": "wms", "url": "/wms-r/service", "layer": name, "bounds": bounds}
            ext = info.extension if info is not None else "png"
            return {
                "kind": "tiles",
                "url": f"/tms/1.0.0/{quote(name)}/{{z}}/{{x}}/{{y}}.{ext}",
                "minZoom": info.minzoom if info is not None else 0,
                "maxNativeZoom": info.maxzoom if info is not None else 18,
                "bounds": bounds,
            }
        rels = self.sources.relations(layer) if layer.type in (WMS_VECTOR, WFS) else []
        bounds = union_bounds([r.wgs84_bounds for r in rels], WORLD)
        if layer.type == WMS_VECTOR:
            return {"kind": "wms", "url": "/wms-v", "layer": name, "bounds": bounds}
        if layer.type == WFS:
            types = ",".join(f"{prefix_of(layer)}:{r.public_name}" for r in rels)
            url = (
                "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&OUTPUTFORMAT=application/json"
                f"&SRSNAME=EPSG:4326&COUNT=5000&TYPENAMES={quote(types)}"
            )
            return {"kind": "geojson", "url": url, "bounds": bounds}
        return {"kind": "none", "bounds": WORLD}
