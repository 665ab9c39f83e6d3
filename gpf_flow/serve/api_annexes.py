"""``{DS}/annexes``: files a datastore publishes at public URLs, and the public route serving them.

An annex is created by a multipart ``POST`` of its file with ``paths`` (and optionally ``labels``,
``published``) as query parameters, as the official SDK sends them. Published annexes answer at
``{public_url}/annexes/{datastore technical name}/{path}`` without a token; a deleted or
unpublished annex answers 404 there at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from gpf_flow.serve.api_common import ApiError, call, no_content, paged_response, positive_int, read_json
from gpf_flow.serve.documents.annexes import Annexes

if TYPE_CHECKING:
    from gpf_flow.serve.api import RestApi

ANNEX_EDIT_SCHEMA = {
    "type": "object",
    "properties": {
        "labels": {"type": "array", "items": {"type": "string"}},
        "paths": {"type": "array", "items": {"type": "string"}},
        "published": {"type": "boolean"},
        "extra": {"type": "object"},
    },
    "additionalProperties": False,
}


def _flag(raw: str | None) -> bool:
    if raw is None:
        return False
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no", ""):
        return False
    raise ApiError(400, f"query parameter 'published' must be true or false, got {raw!r}")


def _listed(request: Request, name: str) -> list[str]:
    """A list query parameter sent as ``name=a&name=b``, ``name[]=a`` or ``name=a,b``."""
    values = request.query_params.getlist(name) + request.query_params.getlist(f"{name}[]")
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def public_view(entity: dict[str, object]) -> dict[str, object]:
    """The annex as the API shows it (without the local file name)."""
    return {k: v for k, v in entity.items() if k != "file_name"}


class AnnexRoutes:
    """The annex routes over a :class:`RestApi` (its datastore views, home and file receiver)."""

    def __init__(self, api: RestApi, home: Path) -> None:
        self.api = api
        self.home = home

    async def annexes(self, request: Request) -> Annexes:
        view = await self.api.view(request)
        return Annexes(self.home, view.datastore_id)

    async def listing(self, request: Request) -> Response:
        """``GET annexes?path=&mime_type=&published=&labels=``."""
        annexes = await self.annexes(request)
        infos = {
            k: request.query_params[k]
            for k in ("path", "mime_type", "published")
            if k in request.query_params
        }
        page = positive_int(request, "page", 1)
        limit = positive_int(request, "limit", 10, 1000)
        result = await call(annexes.listing, infos, _listed(request, "labels"), page=page, limit=limit)
        return paged_response([public_view(a) for a in result.items], page, limit, result.total)

    async def create(self, request: Request) -> Response:
        """``POST annexes?paths=...`` with the multipart file → 201."""
        annexes = await self.annexes(request)
        paths = _listed(request, "paths")
        if not paths:
            raise ApiError(400, "query parameter 'paths' is required: the annex's public path(s)")
        labels = _listed(request, "labels")
        published = _flag(request.query_params.get("published"))
        async with self.api.files.receive(request) as received:
            entity = await call(annexes.create, received.path, paths, labels=labels, published=published)
        return JSONResponse(public_view(entity), status_code=201)

    async def get(self, request: Request) -> Response:
        """``GET annexes/{id}``."""
        annexes = await self.annexes(request)
        return JSONResponse(public_view(await call(annexes.get, request.path_params["id"])))

    async def edit(self, request: Request) -> Response:
        """``PATCH annexes/{id}``."""
        from gpf_flow.serve.api_common import validate

        annexes = await self.annexes(request)
        body = await read_json(request)
        validate(body, ANNEX_EDIT_SCHEMA, "annex")
        return JSONResponse(public_view(await call(annexes.edit, request.path_params["id"], body)))

    async def replace(self, request: Request) -> Response:
        """``PUT annexes/{id}`` with a multipart file: the annex's new content."""
        annexes = await self.annexes(request)
        annex_id = request.path_params["id"]
        await call(annexes.get, annex_id)
        async with self.api.files.receive(request) as received:
            entity = await call(annexes.replace_file, annex_id, received.path)
        return JSONResponse(public_view(entity))

    async def delete(self, request: Request) -> Response:
        """``DELETE annexes/{id}`` → 204; its public URLs answer 404 from then on."""
        annexes = await self.annexes(request)
        await call(annexes.delete, request.path_params["id"])
        return no_content()

    async def file(self, request: Request) -> Response:
        """``GET annexes/{id}/file``: the annex's content."""
        annexes = await self.annexes(request)
        path = await call(annexes.file, request.path_params["id"])
        return FileResponse(path, filename=path.name)

    def by_label(self, published: bool) -> Callable[[Request], Awaitable[Response]]:
        """``POST annexes/publication|unpublication?labels=``: the number of annexes changed."""

        async def handler(request: Request) -> Response:
            annexes = await self.annexes(request)
            count = await call(annexes.set_published_by_labels, _listed(request, "labels"), published)
            return PlainTextResponse(str(count))

        return handler

    def routes(self) -> list[BaseRoute]:
        """The routes, relative to the ``/api`` mount."""
        base = "/datastores/{ds}/annexes"
        return [
            Route(base, self.listing, methods=["GET"]),
            Route(base, self.create, methods=["POST"]),
            Route(f"{base}/publication", self.by_label(True), methods=["POST"]),
            Route(f"{base}/unpublication", self.by_label(False), methods=["POST"]),
            Route(f"{base}/{{id}}", self.get, methods=["GET"]),
            Route(f"{base}/{{id}}", self.edit, methods=["PATCH"]),
            Route(f"{base}/{{id}}", self.replace, methods=["PUT"]),
            Route(f"{base}/{{id}}", self.delete, methods=["DELETE"]),
            Route(f"{base}/{{id}}/file", self.file, methods=["GET"]),
        ]


def public_annex_routes(home: Path, datastore_id: str, technical_name: str) -> list[BaseRoute]:
    """``GET /annexes/{technical name}/{path}``: published annexes, no token needed."""
    annexes = Annexes(home, datastore_id)

    async def serve_annex(request: Request) -> Response:
        if request.path_params["ds"] not in (technical_name, datastore_id):
            return PlainTextResponse("no such datastore", status_code=404)
        path = await call(annexes.public_file, request.path_params["path"])
        if path is None or not path.is_file():
            return PlainTextResponse("no published annex at this path", status_code=404)
        return FileResponse(path)

    return [Route("/annexes/{ds}/{path:path}", serve_annex, methods=["GET", "HEAD"])]
