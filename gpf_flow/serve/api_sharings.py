"""``{DS}/stored_data/{id}/sharings``: the datastores a stored data is given to (GET, POST, DELETE)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gpf_flow.serve.api_common import ApiError, call, no_content, paged_response, read_json
from gpf_flow.serve.documents.sharings import Sharings

if TYPE_CHECKING:
    from gpf_flow.serve.api import RestApi


class SharingRoutes:
    """Sharing routes over a :class:`RestApi`."""

    def __init__(self, api: RestApi, home: Path) -> None:
        self.api = api
        self.home = home

    async def sharings(self, request: Request) -> Sharings:
        return Sharings(self.home, await self.api.view(request))

    async def listing(self, request: Request) -> Response:
        """``GET``: the datastores it is shared with."""
        found = await call((await self.sharings(request)).listing, request.path_params["id"])
        return paged_response(found, 1, max(len(found), 1), len(found))

    async def add(self, request: Request) -> Response:
        """``POST`` a JSON array of datastore ids → the sharings."""
        body = await read_json(request)
        if not isinstance(body, list) or not body:
            raise ApiError(400, "the body must be a non-empty JSON array of datastore ids")
        found = await call((await self.sharings(request)).add, request.path_params["id"], body)
        return JSONResponse(found)

    async def remove(self, request: Request) -> Response:
        """``DELETE ?datastores=ID`` → 204."""
        ids = request.query_params.getlist("datastores") + request.query_params.getlist("datastores[]")
        if not ids:
            raise ApiError(
                400, "query parameter 'datastores' is required: the datastores to stop sharing with"
            )
        await call((await self.sharings(request)).remove, request.path_params["id"], ids)
        return no_content()

    def routes(self) -> list[BaseRoute]:
        """The routes, relative to the ``/api`` mount."""
        path = "/datastores/{ds}/stored_data/{id}/sharings"
        return [
            Route(path, self.listing, methods=["GET"]),
            Route(path, self.add, methods=["POST"]),
            Route(path, self.remove, methods=["DELETE"]),
        ]
