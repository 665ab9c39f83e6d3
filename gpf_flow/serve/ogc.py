"""Routes of the services of published offerings (mounted at the root of ``gpf-flow serve``).

- ``/wms-r``: WMS 1.3.0 of WMS-RASTER offerings (MapProxy over the pyramids; GetFeatureInfo
  answered from the pyramid where the configuration asks for it); maps that are one stored tile
  come from the pyramid, the others are drawn in the map pool (:mod:`gpf_flow.serve.raster_front`)
- ``/wmts`` and ``/tms/1.0.0/`` (TileMapService, TileMap, ``{layer}/{z}/{x}/{y}.{ext}``): WMTS-TMS
  offerings, each on its own grid
- ``/wms-v``: WMS 1.3.0 of WMS-VECTOR offerings (SLD styles, Pillow renderer)
- ``/wfs``: WFS 2.0 of WFS offerings
- ``/download/{layer_name}``: files of DOWNLOAD offerings
- ``/preview/{offering_id}``: a map page per offering; ``/static``: its scripts

Only offerings that exist and are PUBLISHED are served; each request looks them up.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gpf_flow.serve.download import DownloadService
from gpf_flow.serve.map_pool import MapPool, WsgiApp
from gpf_flow.serve.mbtiles import PyramidCache
from gpf_flow.serve.preview import PreviewService
from gpf_flow.serve.published import PublishedIndex
from gpf_flow.serve.raster_front import RasterFront
from gpf_flow.serve.tiles import TileService
from gpf_flow.serve.vector_data import VectorSources
from gpf_flow.serve.wfs import WfsService
from gpf_flow.serve.wms_raster import RasterWms
from gpf_flow.serve.wms_vector import VectorWms
from gpf_flow.store.base import LocalCapabilities


def build_ogc_routes(
    store: LocalCapabilities, map_workers: int = 1, map_app: Callable[[], WsgiApp] | None = None
) -> tuple[list[BaseRoute], MapPool]:
    """The service routes over ``store`` (its stored data folders and static files), and the pool
    drawing raster maps: ``map_workers`` processes, each building its WMS with ``map_app`` (one
    thread of this process when ``map_workers`` is 1 or ``map_app`` is None). The caller closes
    the pool."""
    index = PublishedIndex(store)
    pyramids = PyramidCache()
    vectors = VectorSources()
    wms_r = RasterWms(index, pyramids)
    pool = MapPool(map_workers if map_app is not None else 1, map_app or (lambda: wms_r), wms_r)
    raster = RasterFront(wms_r, pool)
    tiles = TileService(index, pyramids)
    wms_v = VectorWms(index, vectors, store)
    wfs = WfsService(index, vectors)
    download = DownloadService(index)
    preview = PreviewService(index, pyramids, vectors)
    routes: list[BaseRoute] = [
        Route("/wms-r", raster),  # an ASGI app as endpoint: no slash redirect
        Route("/wms-r/service", raster),
        Route("/wmts", tiles.wmts_kvp),
        Route("/wmts/{layer}/{style}/{tms}/{z:int}/{row:int}/{col:int}.{ext}", tiles.wmts_rest),
        Route("/tms/1.0.0/", tiles.tms_service),
        Route("/tms/1.0.0/{layer}", tiles.tms_map),
        Route("/tms/1.0.0/{layer}/{z:int}/{x:int}/{y:int}.{ext}", tiles.tms),
        Route("/wms-v", wms_v.handle),
        Route("/wfs", wfs.handle),
        Route("/download/{layer_name}", download.listing),
        Route("/download/{layer_name}/{path:path}", download.file),
        Route("/preview/{offering_id}", preview.page),
        Mount("/static", app=StaticFiles(packages=[("gpf_flow.serve", "static")]), name="static"),
    ]
    return routes, pool
