"""``/wms-r`` as an ASGI app: where each request of the raster WMS is answered.

- a GetMap that is one stored tile: from the pyramid (recognised on the event loop by arithmetic,
  the tile read in Starlette's thread pool; no merge);
- any other GetMap: in the map pool (:mod:`gpf_flow.serve.map_pool`), so that maps never queue
  in front of tiles and API calls;
- the rest (GetCapabilities, GetFeatureInfo, exception reports): cheap, in the server process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import Body, build_environ
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gpf_flow.serve import aligned
from gpf_flow.serve.map_pool import MapPool
from gpf_flow.serve.wms_raster import RasterWms


class RasterFront:
    """The ASGI app of ``/wms-r`` over the in-process WMS and the map pool."""

    def __init__(self, wms: RasterWms, pool: MapPool) -> None:
        self.wms = wms
        self.pool = pool
        self.inline: ASGIApp = WSGIMiddleware(wms, workers=4)  # type: ignore[arg-type,assignment]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        params = {k.upper(): v for k, v in parse_qsl(query, keep_blank_values=True)}
        if scope["type"] != "http" or params.get("REQUEST", "").lower() != "getmap":
            await self.inline(scope, receive, send)
            return
        found = self.wms.aligned(params)
        stored = await run_in_threadpool(aligned.answer, *found, params) if found is not None else None
        if stored is not None:
            response = Response(stored[0], media_type=stored[1])
        else:
            status, headers, body = await self.pool.answer(_environ(scope, receive))
            response = Response(body, status_code=status, headers=dict(headers))
        await response(scope, receive, send)


def _environ(scope: Scope, receive: Receive) -> dict[str, str]:
    """The request's WSGI environ, its text entries only (what crosses to a pool process)."""
    body = Body(asyncio.get_running_loop(), receive)  # type: ignore[arg-type]
    environ: Mapping[str, Any] = build_environ(scope, body)  # type: ignore[arg-type]
    return {k: v for k, v in environ.items() if isinstance(v, str)}
