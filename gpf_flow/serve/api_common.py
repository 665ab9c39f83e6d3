"""What every REST route shares: error bodies, JSON bodies, filters, paging and ``Content-Range``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gpf_flow.errors import StoreError

T = TypeVar("T")

# Query parameters that are not info filters.
RESERVED_PARAMS = frozenset({"page", "limit", "fields", "sort"})


class ApiError(Exception):
    """An HTTP error with the API's JSON body."""

    def __init__(self, status: int, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error or _ERROR_NAMES.get(status, "error")


_ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    500: "internal_error",
}


def error_response(status: int, message: str, error: str | None = None) -> JSONResponse:
    """``{"error": ..., "error_description": [message]}`` with ``status``."""
    return JSONResponse(
        {"error": error or _ERROR_NAMES.get(status, "error"), "error_description": [message]},
        status_code=status,
    )


def store_error_response(exc: StoreError) -> JSONResponse:
    """Map a store error (its ``status`` mirrors the API's) to the API's error body."""
    message = exc.message if not exc.hint else f"{exc.message} ({exc.hint})"
    return error_response(exc.status, message)


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a (blocking) store call in the thread pool."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def read_json(request: Request, *, required: bool = True) -> Any:
    """The request's JSON body; None when empty and not required. Ignores the content-type."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise ApiError(400, "the request body is empty: a JSON document is expected")
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from exc


@cache
def _validator(schema_json: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(schema_json))


def validate(body: Any, schema: Mapping[str, Any], what: str) -> None:
    """Raise a 400 naming the first bad field if ``body`` does not match ``schema``."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(body), key=lambda e: (len(e.absolute_path), list(e.absolute_path)))
    if not errors:
        return
    err = errors[0]
    path = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "required":
        missing = next((name for name in err.validator_value if name not in (err.instance or {})), "?")
        path = f"{path}.{missing}" if path else str(missing)
        raise ApiError(400, f"{what}: field '{path}' is required")
    where = f"field '{path}'" if path else "body"
    raise ApiError(400, f"{what}: {where} is invalid: {err.message}")


def positive_int(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    """An integer query parameter ≥ 1 (400 naming it otherwise)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"query parameter '{name}' must be an integer ≥ 1, got {raw!r}") from exc
    if value < 1:
        raise ApiError(400, f"query parameter '{name}' must be an integer ≥ 1, got {raw!r}")
    if maximum is not None and value > maximum:
        raise ApiError(400, f"query parameter '{name}' must be ≤ {maximum}, got {value}")
    return value


def list_filters(request: Request) -> tuple[dict[str, str], dict[str, str]]:
    """Info filters (plain query parameters) and tag filters (``tags[k]=v``); ``fields`` is ignored."""
    infos: dict[str, str] = {}
    tags: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in RESERVED_PARAMS:
            continue
        if key.startswith("tags[") and key.endswith("]"):
            tag = key[5:-1]
            if tag:
                tags[tag] = value
            continue
        infos[key] = value
    return infos, tags


def content_range(start: int, count: int, total: int) -> str:
    """``first-last/total`` (0-based, inclusive): only the total matters to clients."""
    if count <= 0:
        return f"{min(start, total)}-{min(start, total)}/{total}"
    return f"{start}-{start + count - 1}/{total}"


def paged_response(items: list[Any], page: int, limit: int, total: int) -> JSONResponse:
    """A JSON array with its ``Content-Range`` header."""
    start = (page - 1) * limit
    return JSONResponse(items, headers={"Content-Range": content_range(start, len(items), total)})


def no_content() -> Response:
    """204 with no body."""
    return Response(status_code=204)
