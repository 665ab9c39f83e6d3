"""What every REST route shares: error bodies, JSON bodies, filters, paging and ``Content-Range``."""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gpf_flow import strict_json
from gpf_flow.errors import StoreError

T = TypeVar("T")

# Query parameters that are not info filters.
RESERVED_PARAMS = frozenset({"page", "limit", "fields", "sort"})


def env_int(name: str, default: int) -> int:
    """A positive integer from the environment variable ``name``, else ``default``."""
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


MAX_JSON_BYTES = env_int("GPF_FLOW_SERVE_MAX_JSON_BYTES", 10 * 1024 * 1024)
"""Largest JSON request body (413 above); ``GPF_FLOW_SERVE_MAX_JSON_BYTES`` changes it."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects in a JSON request body (400 above)."""


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
    413: "payload_too_large",
    429: "too_many_requests",
    507: "insufficient_storage",
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


MAX_PATH_CHARS = 1024
"""Longest relative file path a request may name (each component at most 255 bytes)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def relative_path(raw: str | None, what: str = "query parameter 'path'") -> str:
    """A clean relative path (``a/b.tif``) from a request; a 400 naming ``what`` otherwise.

    Refused: empty, absolute, ``..``, control characters (NUL, newlines), more than
    :data:`MAX_PATH_CHARS` characters or a component longer than a file name may be.
    """
    if not raw:
        raise ApiError(400, f"{what} is required: the file's path inside the upload")
    if len(raw) > MAX_PATH_CHARS:
        raise ApiError(400, f"{what} is {len(raw)} characters long, more than the limit of {MAX_PATH_CHARS}")
    if _CONTROL.search(raw):
        raise ApiError(400, f"{what} must not contain control characters (NUL, newline...), got {raw!r}")
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or raw.startswith("/"):
        raise ApiError(400, f"{what} must be a relative path inside the upload, got {raw!r}")
    long = next((p for p in parts if len(p.encode("utf-8", "surrogatepass")) > 255), None)
    if long is not None:
        raise ApiError(400, f"{what} has a component longer than 255 bytes ({long[:40]}…)")
    return "/".join(parts)


_ABSOLUTE_PATH = re.compile(r"(?<![\w:/])/(?:[^\s'\"/]+/)+[^\s'\"]*")


def hide_paths(message: str) -> str:
    """``message`` with the server's absolute paths replaced by ``<path>``."""
    return _ABSOLUTE_PATH.sub("<path>", message)


def os_error_response(exc: OSError) -> JSONResponse:
    """An error of the server's file system, said without its internal paths."""
    cause = exc.strerror or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return error_response(507, f"the server's disk is full: {cause}")
    if exc.errno in (errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ):
        return error_response(400, f"a file name in the request is not usable: {cause}")
    return error_response(500, f"the server could not read or write a file: {cause}")


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a (blocking) store call in the thread pool."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, or a 413 as soon as it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body is {declared} bytes, more than the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the request body is more than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_body(raw: bytes) -> Any:
    """Parse a request body: strict JSON (no NaN/Infinity, no number out of range), nested at most
    :data:`MAX_JSON_DEPTH` deep; an :class:`ApiError` (400) naming the problem otherwise."""
    try:
        return strict_json.loads(raw, MAX_JSON_DEPTH)
    except strict_json.StrictJsonError as exc:
        raise ApiError(400, f"the request body {exc}") from None


async def read_json(request: Request, *, required: bool = True) -> Any:
    """The request's JSON body; None when empty and not required. Ignores the content-type.

    Refused before anything is stored: a body over :data:`MAX_JSON_BYTES` (413), non-finite
    numbers, nesting deeper than :data:`MAX_JSON_DEPTH` (400).
    """
    raw = await read_body(request, MAX_JSON_BYTES)
    if not raw.strip():
        if required:
            raise ApiError(400, "the request body is empty: a JSON document is expected")
        return None
    return parse_json_body(raw)


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
    reason = err.message
    if err.validator == "pattern" and isinstance(err.schema, Mapping) and "description" in err.schema:
        reason = f"{err.instance!r} {err.schema['description']}"
    raise ApiError(400, f"{what}: {where} is invalid: {reason}")


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
