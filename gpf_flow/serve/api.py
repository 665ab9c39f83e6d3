"""The Entrepôt REST API (docs/entrepot-api.md §4) over a store: the routes mounted under ``/api``.

Handlers are thin: they parse the request, validate bodies, call the store in the thread pool
and shape the answer (status codes, ``Content-Range``). Store errors become the API's error
bodies through the app's exception handlers (see :mod:`gpf_flow.serve.app`).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
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
    relative_path,
    validate,
)
from gpf_flow.serve.api_documents import documents_routes
from gpf_flow.serve.api_files import FileReceiver
from gpf_flow.serve.api_local import LocalRoutes
from gpf_flow.store import ops
from gpf_flow.store.base import (
    COLLECTIONS,
    TAGGABLE_TYPES,
    Action,
    EntityType,
    LocalCapabilities,
    endpoints_of,
)

Handler = Callable[[Request], Awaitable[Response]]

MAX_PAGE_SIZE = 1000
MAX_LOG_PAGE_SIZE = 10000

# Entity types without tags: tag filters on their lists are dropped (offerings, docs/entrepot-api.md §3.3).
_UNTAGGED = frozenset({"offering", "processing", "processing_execution", "check", "check_execution"})


class RestApi:
    """The REST routes over one store (bound to the default datastore) and its datastore views."""

    def __init__(self, store: LocalCapabilities, tmp_dir: Path) -> None:
        self.store = store
        self.files = FileReceiver(tmp_dir)
        self._views: dict[str, LocalCapabilities] = {store.datastore_id: store}
        self._lock = threading.Lock()

    # -- helpers ------------------------------------------------------------------------------
    def _view_sync(self, datastore: str) -> LocalCapabilities:
        with self._lock:
            view = self._views.get(datastore)
        if view is None:
            view = self.store.for_datastore(datastore)  # NotFoundError (404) for an unknown datastore
            with self._lock:
                view = self._views.setdefault(datastore, view)
        return view

    async def view(self, request: Request) -> LocalCapabilities:
        """The store bound to the request's ``{ds}``; 404 for an unknown datastore."""
        return await call(self._view_sync, request.path_params["ds"])

    # -- user, keys, datastore ----------------------------------------------------------------
    async def users_me(self, request: Request) -> Response:
        """``GET /users/me``."""
        return JSONResponse(await call(self.store.user_me))

    async def keys_list(self, request: Request) -> Response:
        """``GET /users/me/keys``."""
        return await self._list(self.store, "key", request)

    async def keys_create(self, request: Request) -> Response:
        """``POST /users/me/keys`` → 201."""
        body = await read_json(request)
        validate(body, schemas.KEY_CREATE, "key")
        return JSONResponse(await call(self.store.create_entity, "key", body), status_code=201)

    async def access_create(self, request: Request) -> Response:
        """``POST /users/me/keys/{id}/accesses`` → 204."""
        body = await read_json(request)
        validate(body, schemas.ACCESS_CREATE, "access")
        await call(self.store.get_entity, "key", request.path_params["id"])
        await call(ops.create_access, self.store, request.path_params["id"], body)
        return no_content()

    async def access_list(self, request: Request) -> Response:
        """``GET /users/me/keys/{id}/accesses``."""
        key = await call(self.store.get_entity, "key", request.path_params["id"])
        accesses = list(key.get("accesses") or [])
        return paged_response(accesses, 1, max(len(accesses), 1), len(accesses))

    async def datastore_get(self, request: Request) -> Response:
        """``GET /datastores/{ds}``."""
        view = await self.view(request)
        return JSONResponse(await call(view.get_datastore))

    async def endpoints_list(self, request: Request) -> Response:
        """``GET /datastores/{ds}/endpoints``: the datastore's endpoints, filtered and paged."""
        view = await self.view(request)
        endpoints = endpoints_of(await call(view.get_datastore))
        infos, _tags = list_filters(request)
        kept = [
            e for e in endpoints if all(str(e.get(k)).lower() == str(v).lower() for k, v in infos.items())
        ]
        page = positive_int(request, "page", 1)
        limit = positive_int(request, "limit", 10, MAX_PAGE_SIZE)
        start = (page - 1) * limit
        return paged_response(kept[start : start + limit], page, limit, len(kept))

    # -- generic entity routes ----------------------------------------------------------------
    async def _list(self, view: LocalCapabilities, entity_type: str, request: Request) -> Response:
        infos, tags = list_filters(request)
        if entity_type in _UNTAGGED:
            tags = {}
        page = positive_int(request, "page", 1)
        limit = positive_int(request, "limit", 10, MAX_PAGE_SIZE)
        result = await call(view.list_entities, entity_type, infos, tags, page=page, limit=limit)
        return paged_response(result.items, page, limit, result.total)

    def list_route(self, entity_type: str) -> Handler:
        """``GET {collection}``: filtered (infos, tags) and paged, with ``Content-Range``."""

        async def handler(request: Request) -> Response:
            return await self._list(await self.view(request), entity_type, request)

        return handler

    def get_route(self, entity_type: str, *, root: bool = False) -> Handler:
        """``GET {collection}/{id}`` (``root``: not under a datastore)."""

        async def handler(request: Request) -> Response:
            view = self.store if root else await self.view(request)
            return JSONResponse(await call(view.get_entity, entity_type, request.path_params["id"]))

        return handler

    def delete_route(self, entity_type: str, *, root: bool = False) -> Handler:
        """``DELETE {collection}/{id}`` → 204."""

        async def handler(request: Request) -> Response:
            view = self.store if root else await self.view(request)
            await call(view.delete_entity, entity_type, request.path_params["id"])
            return no_content()

        return handler

    def edit_route(self, entity_type: str, *, replace: bool, root: bool = False) -> Handler:
        """``PATCH`` (or ``PUT`` when ``replace``) ``{collection}/{id}``: the body validated first."""
        if replace and entity_type == "configuration":
            schema = schemas.CONFIGURATION
        else:
            schema = schemas.STATIC_EDIT if entity_type == "static" else schemas.EDIT

        async def handler(request: Request) -> Response:
            view = self.store if root else await self.view(request)
            body = await read_json(request)
            validate(body, schema, entity_type)
            entity = await call(
                view.edit_entity, entity_type, request.path_params["id"], body, replace=replace
            )
            return JSONResponse(entity)

        return handler

    def create_route(self, entity_type: str, schema: dict[str, Any]) -> Handler:
        """``POST {collection}`` → 201, the body validated against ``schema``."""

        async def handler(request: Request) -> Response:
            view = await self.view(request)
            body = await read_json(request)
            validate(body, schema, entity_type)
            return JSONResponse(await call(view.create_entity, entity_type, body), status_code=201)

        return handler

    def action_route(self, entity_type: EntityType, action: Action) -> Handler:
        """``POST .../{id}/<action>`` → 204."""

        async def handler(request: Request) -> Response:
            view = await self.view(request)
            await call(view.act, entity_type, request.path_params["id"], action)
            return no_content()

        return handler

    def logs_route(self, entity_type: EntityType) -> Handler:
        """``GET .../{id}/logs``: the execution's log lines, paged (404 for an unknown id)."""

        async def handler(request: Request) -> Response:
            view = await self.view(request)
            execution_id = request.path_params["id"]
            await call(view.get_entity, entity_type, execution_id)
            return _paged_logs(request, await call(view.logs, entity_type, execution_id, 0))

        return handler

    # -- tags and comments --------------------------------------------------------------------
    def tags_add_route(self, entity_type: str) -> Handler:
        """``POST {collection}/{id}/tags``: the entity's tags after the addition."""

        async def handler(request: Request) -> Response:
            view = await self.view(request)
            body = await read_json(request)
            validate(body, schemas.TAGS, "tags")
            entity_id = request.path_params["id"]
            await call(ops.add_tags, view, entity_type, entity_id, {k: str(v) for k, v in body.items()})
            entity = await call(view.get_entity, entity_type, entity_id)
            return JSONResponse(entity.get("tags") or {})

        return handler

    def tags_remove_route(self, entity_type: str) -> Handler:
        """``DELETE {collection}/{id}/tags?tags[]=k`` → 204."""

        async def handler(request: Request) -> Response:
            view = await self.view(request)
            keys = request.query_params.getlist("tags[]") or request.query_params.getlist("tags")
            if not keys:
                raise ApiError(400, "query parameter 'tags[]' is required: the tag keys to remove")
            await call(ops.remove_tags, view, entity_type, request.path_params["id"], keys)
            return no_content()

        return handler

    def comments_list_route(self, entity_type: str) -> Handler:
        """``GET {collection}/{id}/comments``."""

        async def handler(request: Request) -> Response:
            view = await self.view(request)
            comments = await call(ops.list_comments, view, entity_type, request.path_params["id"])
            return paged_response(comments, 1, max(len(comments), 1), len(comments))

        return handler

    def comments_add_route(self, entity_type: str) -> Handler:
        """``POST {collection}/{id}/comments`` → 201."""

        async def handler(request: Request) -> Response:
            view = await self.view(request)
            body = await read_json(request)
            validate(body, schemas.COMMENT, "comment")
            comment = await call(ops.add_comment, view, entity_type, request.path_params["id"], body["text"])
            return JSONResponse(comment, status_code=201)

        return handler

    def comments_remove_route(self, entity_type: str) -> Handler:
        """``DELETE {collection}/{id}/comments/{comment}`` → 204."""

        async def handler(request: Request) -> Response:
            view = await self.view(request)
            params = request.path_params
            await call(ops.remove_comment, view, entity_type, params["id"], params["comment"])
            return no_content()

        return handler

    # -- uploads ------------------------------------------------------------------------------
    async def upload_push_data(self, request: Request) -> Response:
        """``POST uploads/{id}/data?path=...``: one multipart file into the upload."""
        view = await self.view(request)
        upload_id = request.path_params["id"]
        path = _remote_path(request.query_params.get("path"))
        await call(view.get_entity, "upload", upload_id)
        async with self.files.receive(request) as received:
            await call(ops.upload_push_file, view, upload_id, received.path, path)
        return JSONResponse({"path": path, "size": received.size}, status_code=200)

    async def upload_push_md5(self, request: Request) -> Response:
        """``POST uploads/{id}/md5``: one multipart md5 file."""
        view = await self.view(request)
        upload_id = request.path_params["id"]
        await call(view.get_entity, "upload", upload_id)
        async with self.files.receive(request) as received:
            await call(ops.upload_push_md5, view, upload_id, received.path)
        return JSONResponse({"path": received.path.name, "size": received.size}, status_code=200)

    async def upload_delete_file(self, request: Request) -> Response:
        """``DELETE uploads/{id}/data|md5?path=...`` → 204."""
        # Both .../data and .../md5 delete any path (docs/entrepot-api.md §8: the SDK CLI inverts them).
        view = await self.view(request)
        path = _remote_path(request.query_params.get("path"))
        await call(ops.upload_delete_file, view, request.path_params["id"], path)
        return no_content()

    async def upload_tree(self, request: Request) -> Response:
        """``GET uploads/{id}/tree``."""
        view = await self.view(request)
        return JSONResponse(await call(ops.upload_tree, view, request.path_params["id"]))

    async def upload_checks(self, request: Request) -> Response:
        """``GET uploads/{id}/checks``: check executions by status."""
        view = await self.view(request)
        checks = await call(ops.upload_checks, view, request.path_params["id"])
        return JSONResponse(checks.as_dict())

    def events_route(self, entity_type: str) -> Handler:
        """``GET {collection}/{id}/events``: the entity's history (local-store extra)."""

        async def handler(request: Request) -> Response:
            view = await self.view(request)
            entity_id = request.path_params["id"]
            await call(view.get_entity, entity_type, entity_id)
            found = await call(view.events, entity_id)
            return paged_response(found, 1, max(len(found), 1), len(found))

        return handler

    # -- processing executions ----------------------------------------------------------------
    async def execution_create(self, request: Request) -> Response:
        """``POST processings/executions`` → 201."""
        view = await self.view(request)
        body = await read_json(request)
        validate(body, schemas.EXECUTION_CREATE, "processing execution")
        created = await call(view.create_entity, EntityType.PROCESSING_EXECUTION, body)
        return JSONResponse(created, status_code=201)

    # -- configurations and offerings ---------------------------------------------------------
    async def configuration_offerings(self, request: Request) -> Response:
        """``GET configurations/{id}/offerings``."""
        view = await self.view(request)
        offerings = await call(ops.list_configuration_offerings, view, request.path_params["id"])
        return paged_response(offerings, 1, max(len(offerings), 1), len(offerings))

    async def offering_create(self, request: Request) -> Response:
        """``POST configurations/{id}/offerings`` → 201."""
        view = await self.view(request)
        body = await read_json(request)
        validate(body, schemas.OFFERING_CREATE, "offering")
        return JSONResponse(
            await call(ops.create_offering, view, request.path_params["id"], body), status_code=201
        )

    async def offering_synchronize(self, request: Request) -> Response:
        """``PUT offerings/{id}``: synchronise the offering."""
        view = await self.view(request)
        return JSONResponse(await call(ops.synchronize_offering, view, request.path_params["id"]))

    # -- statics and permissions --------------------------------------------------------------
    async def static_create(self, request: Request) -> Response:
        """``POST statics?name=...&type=...``: one multipart file → 201."""
        view = await self.view(request)
        query = request.query_params
        for name in ("name", "type"):
            if not query.get(name):
                raise ApiError(400, f"query parameter '{name}' is required for a static")
        async with self.files.receive(request) as received:
            entity = await call(
                ops.create_static, view, received.path, query["name"], query["type"], query.get("description")
            )
        return JSONResponse(entity, status_code=201)

    async def static_file(self, request: Request) -> Response:
        """``GET statics/{id}/file``: the static's file (local-store extra)."""
        from starlette.responses import FileResponse

        view = await self.view(request)
        path = await call(view.static_file, request.path_params["id"])
        return FileResponse(path, filename=Path(path).name)

    async def permissions_create(self, request: Request) -> Response:
        """``POST permissions`` → 201."""
        view = await self.view(request)
        body = await read_json(request)
        validate(body, schemas.PERMISSION_CREATE, "permission")
        return JSONResponse(await call(ops.create_permissions, view, body), status_code=201)

    # -- TMS ----------------------------------------------------------------------------------
    async def tms_list(self, request: Request) -> Response:
        """``GET /statics/tms``: the tile matrix set ids."""
        from gpf_flow.serve.api_dto import tms_entry
        from gpf_flow.serve.api_tms import tms_names

        items = [tms_entry(name) for name in tms_names()]
        return paged_response(items, 1, max(len(items), 1), len(items))

    async def tms_get(self, request: Request) -> Response:
        """``GET /statics/tms/{id}``: one tile matrix set (404 if unknown)."""
        from gpf_flow.serve.api_dto import tms_detail
        from gpf_flow.serve.api_tms import tms_document

        return JSONResponse(tms_detail(tms_document(request.path_params["id"])))

    # -- routing table ------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        """Every route, relative to the ``/api`` mount."""
        ds = "/datastores/{ds}"
        routes: list[BaseRoute] = [
            Route("/users/me", self.users_me, methods=["GET"]),
            Route("/users/me/keys", self.keys_list, methods=["GET"]),
            Route("/users/me/keys", self.keys_create, methods=["POST"]),
            Route("/users/me/keys/{id}", self.get_route("key", root=True), methods=["GET"]),
            Route("/users/me/keys/{id}", self.edit_route("key", replace=False, root=True), methods=["PATCH"]),
            Route("/users/me/keys/{id}", self.delete_route("key", root=True), methods=["DELETE"]),
            Route("/users/me/keys/{id}/accesses", self.access_create, methods=["POST"]),
            Route("/users/me/keys/{id}/accesses", self.access_list, methods=["GET"]),
            Route("/statics/tms", self.tms_list, methods=["GET"]),
            Route("/statics/tms/{id}", self.tms_get, methods=["GET"]),
            Route(ds, self.datastore_get, methods=["GET"]),
            Route(f"{ds}/endpoints", self.endpoints_list, methods=["GET"]),
            # uploads
            Route(f"{ds}/uploads", self.create_route("upload", schemas.UPLOAD_CREATE), methods=["POST"]),
            Route(f"{ds}/uploads/{{id}}/data", self.upload_push_data, methods=["POST"]),
            Route(f"{ds}/uploads/{{id}}/data", self.upload_delete_file, methods=["DELETE"]),
            Route(f"{ds}/uploads/{{id}}/md5", self.upload_push_md5, methods=["POST"]),
            Route(f"{ds}/uploads/{{id}}/md5", self.upload_delete_file, methods=["DELETE"]),
            Route(
                f"{ds}/uploads/{{id}}/close",
                self.action_route(EntityType.UPLOAD, Action.CLOSE),
                methods=["POST"],
            ),
            Route(
                f"{ds}/uploads/{{id}}/open",
                self.action_route(EntityType.UPLOAD, Action.OPEN),
                methods=["POST"],
            ),
            Route(f"{ds}/uploads/{{id}}/tree", self.upload_tree, methods=["GET"]),
            Route(f"{ds}/uploads/{{id}}/checks", self.upload_checks, methods=["GET"]),
            # check executions
            Route(
                f"{ds}/checks/executions/{{id}}/logs",
                self.logs_route(EntityType.CHECK_EXECUTION),
                methods=["GET"],
            ),
            # processing executions
            Route(f"{ds}/processings/executions", self.execution_create, methods=["POST"]),
            Route(
                f"{ds}/processings/executions/{{id}}/launch",
                self.action_route(EntityType.PROCESSING_EXECUTION, Action.LAUNCH),
                methods=["POST"],
            ),
            Route(
                f"{ds}/processings/executions/{{id}}/abort",
                self.action_route(EntityType.PROCESSING_EXECUTION, Action.ABORT),
                methods=["POST"],
            ),
            Route(
                f"{ds}/processings/executions/{{id}}/logs",
                self.logs_route(EntityType.PROCESSING_EXECUTION),
                methods=["GET"],
            ),
            # configurations and offerings
            Route(
                f"{ds}/configurations",
                self.create_route("configuration", schemas.CONFIGURATION),
                methods=["POST"],
            ),
            Route(f"{ds}/configurations/{{id}}/offerings", self.configuration_offerings, methods=["GET"]),
            Route(f"{ds}/configurations/{{id}}/offerings", self.offering_create, methods=["POST"]),
            Route(f"{ds}/offerings/{{id}}", self.offering_synchronize, methods=["PUT"]),
            # statics and permissions
            Route(f"{ds}/statics", self.static_create, methods=["POST"]),
            Route(f"{ds}/permissions", self.permissions_create, methods=["POST"]),
        ]
        routes.append(Route(f"{ds}/statics/{{id}}/file", self.static_file, methods=["GET"]))
        routes += LocalRoutes(self).routes()  # re-run checks, static re-upload, comment edit...
        routes += documents_routes(self, self.files.tmp_dir.parent)  # annexes, metadata, sharings
        # Longer paths first: routes match in order (processings/executions before processings).
        for entity_type, collection in sorted(COLLECTIONS.items(), key=lambda item: -len(item[1])):
            base = f"{ds}/{collection}"
            routes.append(Route(base, self.list_route(entity_type), methods=["GET"]))
            routes.append(Route(f"{base}/{{id}}", self.get_route(entity_type), methods=["GET"]))
            if entity_type not in ("processing", "check"):
                routes.append(Route(f"{base}/{{id}}", self.delete_route(entity_type), methods=["DELETE"]))
            if entity_type in ("upload", "stored_data", "offering", "static", "permission", "configuration"):
                routes.append(
                    Route(f"{base}/{{id}}", self.edit_route(entity_type, replace=False), methods=["PATCH"])
                )
            if entity_type in ("upload", "stored_data"):
                routes.append(Route(f"{base}/{{id}}/events", self.events_route(entity_type), methods=["GET"]))
            if entity_type == "configuration":
                routes.append(
                    Route(f"{base}/{{id}}", self.edit_route(entity_type, replace=True), methods=["PUT"])
                )
            if entity_type in TAGGABLE_TYPES:
                routes += [
                    Route(f"{base}/{{id}}/tags", self.tags_add_route(entity_type), methods=["POST"]),
                    Route(f"{base}/{{id}}/tags", self.tags_remove_route(entity_type), methods=["DELETE"]),
                    Route(f"{base}/{{id}}/comments", self.comments_list_route(entity_type), methods=["GET"]),
                    Route(f"{base}/{{id}}/comments", self.comments_add_route(entity_type), methods=["POST"]),
                    Route(
                        f"{base}/{{id}}/comments/{{comment}}",
                        self.comments_remove_route(entity_type),
                        methods=["DELETE"],
                    ),
                ]
        return routes


def _remote_path(raw: str | None) -> str:
    """A relative upload path from the ``path`` query parameter (400 if missing or escaping)."""
    return relative_path(raw)


def _paged_logs(request: Request, lines: list[str]) -> Response:
    page = positive_int(request, "page", 1)
    limit = positive_int(request, "limit", 2000, MAX_LOG_PAGE_SIZE)
    start = (page - 1) * limit
    return paged_response(lines[start : start + limit], page, limit, len(lines))
