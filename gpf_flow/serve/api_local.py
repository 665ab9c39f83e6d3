"""REST routes backed by operations the ``Store`` protocol does not have, only the embedded store
(:class:`~gpf_flow.store.base.LocalCapabilities`): re-running upload checks, re-uploading a
static, editing a comment, withdrawing a key's access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gpf_flow.serve import api_schemas as schemas
from gpf_flow.serve.api_common import call, no_content, read_json, validate
from gpf_flow.store.base import COLLECTIONS, TAGGABLE_TYPES

if TYPE_CHECKING:
    from gpf_flow.serve.api import Handler, RestApi


class LocalRoutes:
    """Handlers of the local-only routes, over a :class:`RestApi` (its datastore views and files)."""

    def __init__(self, api: RestApi) -> None:
        self.api = api

    async def upload_run_checks(self, request: Request) -> Response:
        """``POST {DS}/uploads/{id}/checks``: a JSON array of check ids → 204."""
        view = await self.api.view(request)
        upload_id = request.path_params["id"]
        await call(view.get_entity, "upload", upload_id)  # 404 before the body's 400
        body = await read_json(request)
        validate(body, schemas.CHECK_IDS, "checks")
        await call(view.upload_run_checks, upload_id, body)
        return no_content()

    async def static_replace(self, request: Request) -> Response:
        """``PUT {DS}/statics/{id}``: multipart, one part ``file`` → the static."""
        view = await self.api.view(request)
        static_id = request.path_params["id"]
        await call(view.get_entity, "static", static_id)  # 404 before reading the file
        async with self.api.files.receive(request) as received:
            entity = await call(view.replace_static_file, static_id, received.path)
        return JSONResponse(entity)

    def comment_edit_route(self, entity_type: str) -> Handler:
        """``PUT {collection}/{id}/comments/{comment}``: the edited comment."""

        async def handler(request: Request) -> Response:
            view = await self.api.view(request)
            body = await read_json(request)
            validate(body, schemas.COMMENT, "comment")
            params = request.path_params
            comment = await call(
                view.edit_comment, entity_type, params["id"], params["comment"], body["text"]
            )
            return JSONResponse(comment)

        return handler

    async def access_delete(self, request: Request) -> Response:
        """``DELETE /users/me/keys/{key}/accesses/{access}`` → 204."""
        await call(self.api.store.delete_access, request.path_params["id"], request.path_params["access"])
        return no_content()

    def routes(self) -> list[BaseRoute]:
        """The local-only routes, relative to the ``/api`` mount."""
        ds = "/datastores/{ds}"
        routes: list[BaseRoute] = [
            Route(f"{ds}/uploads/{{id}}/checks", self.upload_run_checks, methods=["POST"]),
            Route(f"{ds}/statics/{{id}}", self.static_replace, methods=["PUT"]),
            Route("/users/me/keys/{id}/accesses/{access}", self.access_delete, methods=["DELETE"]),
        ]
        for entity_type in TAGGABLE_TYPES:
            collection = COLLECTIONS[entity_type]
            routes.append(
                Route(
                    f"{ds}/{collection}/{{id}}/comments/{{comment}}",
                    self.comment_edit_route(entity_type),
                    methods=["PUT"],
                )
            )
        return routes
