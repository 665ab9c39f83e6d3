"""``{DS}/metadata``: ISO 19139 metadata documents, their tags and their publication on endpoints.

A metadata is created by a multipart ``POST`` of its XML (``?type=INSPIRE|ISOAP&open_data=``); the
file is checked (an ISO 19139 ``gmd:MD_Metadata`` with a file identifier) before anything is kept.
Published metadata answer at ``{public_url}/csw/metadata/{file identifier}.xml`` without a token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from gpf_flow.serve import api_schemas as schemas
from gpf_flow.serve.api_common import (
    ApiError,
    call,
    list_filters,
    no_content,
    paged_response,
    positive_int,
    read_json,
    validate,
)
from gpf_flow.serve.documents.metadata import MetadataDocs
from gpf_flow.store.base import endpoints_of

if TYPE_CHECKING:
    from gpf_flow.serve.api import RestApi

Handler = Callable[[Request], Awaitable[Response]]

EDIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"enum": ["INSPIRE", "ISOAP"]},
        "open_data": {"type": "boolean"},
        "extra": {"type": "object"},
    },
    "additionalProperties": False,
}
PUBLICATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "file_identifiers": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "endpoint": {"type": "string"},
    },
    "required": ["file_identifiers", "endpoint"],
}


def _bool(raw: str | None, name: str) -> bool:
    if raw is None or raw.lower() in ("false", "0", ""):
        return False
    if raw.lower() in ("true", "1"):
        return True
    raise ApiError(400, f"query parameter '{name}' must be true or false, got {raw!r}")


class MetadataRoutes:
    """The metadata routes over a :class:`RestApi` (its datastore views, home and file receiver)."""

    def __init__(self, api: RestApi, home: Path) -> None:
        self.api = api
        self.home = home

    async def docs(self, request: Request) -> MetadataDocs:
        view = await self.api.view(request)
        return MetadataDocs(self.home, view.datastore_id)

    async def listing(self, request: Request) -> Response:
        """``GET metadata`` filtered by fields and tags, paged."""
        docs = await self.docs(request)
        infos, tags = list_filters(request)
        page = positive_int(request, "page", 1)
        limit = positive_int(request, "limit", 10, 1000)
        result = await call(docs.listing, infos, tags, page=page, limit=limit)
        return paged_response(result.items, page, limit, result.total)

    async def create(self, request: Request) -> Response:
        """``POST metadata?type=&open_data=`` with the multipart XML → 201."""
        docs = await self.docs(request)
        md_type = request.query_params.get("type") or "INSPIRE"
        open_data = _bool(request.query_params.get("open_data"), "open_data")
        async with self.api.files.receive(request) as received:
            entity = await call(docs.create, received.path, md_type=md_type, open_data=open_data)
        return JSONResponse(entity, status_code=201)

    async def get(self, request: Request) -> Response:
        """``GET metadata/{id}``."""
        docs = await self.docs(request)
        return JSONResponse(await call(docs.get, request.path_params["id"]))

    async def edit(self, request: Request) -> Response:
        """``PATCH metadata/{id}``."""
        docs = await self.docs(request)
        body = await read_json(request)
        validate(body, EDIT_SCHEMA, "metadata")
        return JSONResponse(await call(docs.edit, request.path_params["id"], body))

    async def replace(self, request: Request) -> Response:
        """``PUT metadata/{id}`` with a multipart XML: the new document, checked first."""
        docs = await self.docs(request)
        metadata_id = request.path_params["id"]
        await call(docs.get, metadata_id)
        async with self.api.files.receive(request) as received:
            entity = await call(docs.replace_file, metadata_id, received.path)
        return JSONResponse(entity)

    async def delete(self, request: Request) -> Response:
        """``DELETE metadata/{id}`` → 204 (409 while published)."""
        docs = await self.docs(request)
        await call(docs.delete, request.path_params["id"])
        return no_content()

    async def file(self, request: Request) -> Response:
        """``GET metadata/{id}/file``: the XML document."""
        docs = await self.docs(request)
        path = await call(docs.file, request.path_params["id"])
        return FileResponse(path, media_type="application/xml", filename=path.name)

    async def tags_add(self, request: Request) -> Response:
        """``POST metadata/{id}/tags``: the tags after the addition."""
        docs = await self.docs(request)
        body = await read_json(request)
        validate(body, schemas.TAGS, "tags")
        entity = await call(docs.add_tags, request.path_params["id"], body)
        return JSONResponse(entity["tags"])

    async def tags_remove(self, request: Request) -> Response:
        """``DELETE metadata/{id}/tags?tags[]=k`` → 204."""
        docs = await self.docs(request)
        keys = request.query_params.getlist("tags[]") or request.query_params.getlist("tags")
        if not keys:
            raise ApiError(400, "query parameter 'tags[]' is required: the tag keys to remove")
        await call(docs.remove_tags, request.path_params["id"], keys)
        return no_content()

    def publication(self, published: bool) -> Handler:
        """``POST metadata/publication|unpublication`` ``{file_identifiers, endpoint}`` → 204."""

        async def handler(request: Request) -> Response:
            view = await self.api.view(request)
            docs = MetadataDocs(self.home, view.datastore_id)
            body = await read_json(request)
            validate(body, PUBLICATION_SCHEMA, "metadata publication")
            endpoints = {e["_id"]: e for e in endpoints_of(await call(view.get_datastore))}
            endpoint = endpoints.get(body["endpoint"])
            if endpoint is None:
                raise ApiError(404, f"endpoint {body['endpoint']} is not an endpoint of this datastore")
            await call(docs.set_published, body["file_identifiers"], endpoint, published)
            return no_content()

        return handler

    def routes(self) -> list[BaseRoute]:
        """The routes, relative to the ``/api`` mount."""
        base = "/datastores/{ds}/metadata"
        return [
            Route(base, self.listing, methods=["GET"]),
            Route(base, self.create, methods=["POST"]),
            Route(f"{base}/publication", self.publication(True), methods=["POST"]),
            Route(f"{base}/unpublication", self.publication(False), methods=["POST"]),
            Route(f"{base}/{{id}}", self.get, methods=["GET"]),
            Route(f"{base}/{{id}}", self.edit, methods=["PATCH"]),
            Route(f"{base}/{{id}}", self.replace, methods=["PUT"]),
            Route(f"{base}/{{id}}", self.delete, methods=["DELETE"]),
            Route(f"{base}/{{id}}/file", self.file, methods=["GET"]),
            Route(f"{base}/{{id}}/tags", self.tags_add, methods=["POST"]),
            Route(f"{base}/{{id}}/tags", self.tags_remove, methods=["DELETE"]),
        ]


def public_metadata_routes(home: Path, datastore_id: str) -> list[BaseRoute]:
    """``GET /csw/metadata/{file identifier}.xml``: published metadata, no token needed."""
    docs = MetadataDocs(home, datastore_id)

    async def serve_metadata(request: Request) -> Response:
        path = await call(docs.public_file, request.path_params["ident"])
        if path is None or not path.is_file():
            return PlainTextResponse("no published metadata with this file identifier", status_code=404)
        return FileResponse(path, media_type="application/xml")

    return [Route("/csw/metadata/{ident}.xml", serve_metadata, methods=["GET", "HEAD"])]
