"""The one ASGI app of ``gpf-flow serve``: REST API under ``/api``, the token endpoint, OGC services.

``build_app(store, home=...)`` wires:
- ``POST /realms/geoplateforme/protocol/openid-connect/token`` (KeyCloak-shaped, local accounts);
- ``/api/...``: the Entrepôt REST API (:mod:`gpf_flow.serve.api`), every route behind a Bearer token;
- the OGC services and preview pages of :mod:`gpf_flow.serve.ogc`, without auth; raster maps
  are drawn in a pool of ``map_workers`` processes, each opening the home with :func:`map_renderer`.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gpf_flow.errors import StoreError
from gpf_flow.serve.api import RestApi
from gpf_flow.serve.api_common import (
    ApiError,
    error_response,
    hide_paths,
    os_error_response,
    store_error_response,
)
from gpf_flow.serve.api_documents import public_document_routes
from gpf_flow.serve.api_dto import DtoMiddleware
from gpf_flow.serve.auth import (
    DEFAULT_TOKEN_LIFETIME,
    TOKEN_PATH,
    FailureThrottle,
    InvalidToken,
    TokenIssuer,
    accounts_from_config,
    check_password,
    load_secret,
)
from gpf_flow.serve.mbtiles import PyramidCache
from gpf_flow.serve.ogc import build_ogc_routes
from gpf_flow.serve.published import PublishedIndex
from gpf_flow.serve.wms_raster import RasterWms
from gpf_flow.store.base import LocalCapabilities

log = logging.getLogger("gpf_flow.serve")


class BearerAuth:
    """ASGI middleware: 401 unless the request carries a valid, unexpired token we issued."""

    def __init__(self, app: ASGIApp, issuer: TokenIssuer) -> None:
        self.app = app
        self.issuer = issuer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            response = _unauthorized("missing bearer token: get one from the token endpoint " + TOKEN_PATH)
        else:
            try:
                claims = self.issuer.verify(token.strip())
            except InvalidToken as exc:
                response = _unauthorized(f"{exc}: get a new token from {TOKEN_PATH}")
            else:
                scope.setdefault("state", {})["user"] = claims.get("sub")
                await self.app(scope, receive, send)
                return
        await response(scope, receive, send)


def _unauthorized(message: str) -> Response:
    response = error_response(401, message, "invalid_token")
    response.headers["WWW-Authenticate"] = 'Bearer realm="geoplateforme"'
    return response


class RequestLog:
    """ASGI middleware: one log line per HTTP request (method, path, status, duration)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        if not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            path = scope["path"] + (f"?{query}" if query else "")
            client = scope.get("client") or ("-", 0)
            elapsed = (time.perf_counter() - started) * 1000
            log.info('%s "%s %s" %d %.1fms %dB', client[0], scope["method"], path, status, elapsed, sent)


class TokenEndpoint:
    """``POST {TOKEN_PATH}``: KeyCloak's password and client_credentials grants over local accounts."""

    def __init__(self, settings: Mapping[str, Any], issuer: TokenIssuer) -> None:
        self.settings = settings
        self.issuer = issuer
        self.throttle = FailureThrottle()

    async def __call__(self, request: Request) -> Response:
        client = request.client.host if request.client else "-"
        wait = self.throttle.retry_after(client)
        if wait > 0:  # an attempt during the lock-out counts as a failure: guessing slows down
            self.throttle.failed(client)
            wait = self.throttle.retry_after(client)
            refused = _keycloak_error(
                429, "too_many_attempts", f"Too many failed logins: retry in {math.ceil(wait)} s"
            )
            refused.headers["Retry-After"] = str(math.ceil(wait))
            return refused
        answer = await self._grant(request)
        if answer.status_code == 401:
            self.throttle.failed(client)
        elif answer.status_code == 200:
            self.throttle.succeeded(client)
        return answer

    async def _grant(self, request: Request) -> Response:
        async with request.form() as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        grant = fields.get("grant_type", "")
        accounts = accounts_from_config(self.settings)
        if grant == "password":
            login, password = fields.get("username", ""), fields.get("password", "")
            if not login or not password:
                return _keycloak_error(400, "invalid_request", "Missing parameter: username or password")
            account = check_password(accounts, login, password, fields.get("totp"))
        elif grant == "client_credentials":
            client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
            account = check_password(accounts, client_id, secret, None) if client_id and secret else None
            if account is None:
                return _keycloak_error(
                    401, "unauthorized_client", "Invalid client or Invalid client credentials"
                )
        else:
            return _keycloak_error(400, "unsupported_grant_type", f"Unsupported grant_type {grant!r}")
        if account is None:
            return _keycloak_error(401, "invalid_grant", "Invalid user credentials")
        issuer_url = str(request.base_url).rstrip("/") + TOKEN_PATH.rsplit("/protocol", 1)[0]
        return JSONResponse(self.issuer.issue(account.login, issuer_url))


def _keycloak_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.error)


async def _store_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreError)
    if exc.status >= 500:
        log.error("store error on %s %s: %s", request.method, request.url.path, exc)
    return store_error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail or "error"
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    return error_response(exc.status_code, message)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    if isinstance(exc, OSError):
        return os_error_response(exc)
    return error_response(500, f"internal error: {type(exc).__name__}: {hide_paths(str(exc))}")


def token_lifetime_of(settings: Mapping[str, Any], override: int | None) -> int:
    """The token lifetime: the flag, then the settings' ``token_lifetime``, then one hour."""
    value = override if override is not None else settings.get("token_lifetime", DEFAULT_TOKEN_LIFETIME)
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        seconds = DEFAULT_TOKEN_LIFETIME
    return seconds if seconds > 0 else DEFAULT_TOKEN_LIFETIME


def build_app(
    store: LocalCapabilities, *, home: Path, token_lifetime: int | None = None, map_workers: int = 1
) -> Starlette:
    """The server's ASGI app over ``store`` (whose ``public_url`` should be the server's base URL).

    Raster maps are drawn by ``map_workers`` processes (1: a thread of this process). The store
    is closed (worker pool included) when the app shuts down, and the map pool stopped.
    """
    settings: Mapping[str, Any] = store.config
    issuer = TokenIssuer(load_secret(home), token_lifetime_of(settings, token_lifetime))
    api = RestApi(store, home / "serve-tmp")
    ogc_routes, map_pool = build_ogc_routes(
        store, map_workers, functools.partial(map_renderer, str(home), store.public_url)
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Run the jobs HTTP clients launch here, and adopt those left WAITING by dead CLI processes.
        store.start_workers()
        try:
            yield
        finally:
            map_pool.close()
            store.close()

    routes: list[BaseRoute] = [
        Route(TOKEN_PATH, TokenEndpoint(settings, issuer).__call__, methods=["POST"]),
        Mount(
            "/api",
            routes=api.routes(),
            middleware=[
                Middleware(BearerAuth, issuer=issuer),
                Middleware(DtoMiddleware, store=store, home=home),
            ],
        ),
        *public_document_routes(store, home),
        *ogc_routes,
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestLog)],
        exception_handlers={
            ApiError: _api_error,
            StoreError: _store_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
        lifespan=lifespan,
    )
    app.state.issuer = issuer
    app.state.api = api
    return app


def map_renderer(home: str, public_url: str) -> RasterWms:
    """The raster WMS of one map pool process: its own view of the home (it never runs jobs: the
    server's one dispatcher does) and its own MapProxy."""
    from gpf_flow.store.local import LocalStore

    store = LocalStore(Path(home), public_url=public_url)  # lives as long as the process
    return RasterWms(PublishedIndex(store), PyramidCache())
