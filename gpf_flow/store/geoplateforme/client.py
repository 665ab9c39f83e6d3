"""The HTTP client of the Entrepôt API: one keep-alive ``httpx.Client``, tokens, retries, errors.

Idempotent requests are retried with exponential backoff and jitter on connection errors,
timeouts, 429 (honouring ``Retry-After``) and 5xx. A request that creates something (POST) is never
blindly repeated: when its fate is unknown (the connection dropped after sending, a 5xx), the
caller's ``find`` function looks the entity up first (:meth:`ApiClient.create`).
"""

from __future__ import annotations

import json as jsonlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from gpf_flow.errors import (
    AuthError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    StoreError,
)
from gpf_flow.store.geoplateforme.auth import TokenProvider
from gpf_flow.store.geoplateforme.created import ServerClock
from gpf_flow.store.geoplateforme.retry import (
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUSES,
    Backoff,
    retry_after_seconds,
)
from gpf_flow.store.geoplateforme.settings import GpfSettings, RedactingFilter

log = logging.getLogger("gpf_flow.store.geoplateforme")

_REDACTOR = RedactingFilter()
# Filters only apply to records of the logger they are attached to, not to its children.
for _name in ("gpf_flow.store.geoplateforme", "httpx", "httpcore", "httpcore.http11", "httpcore.connection"):
    logging.getLogger(_name).addFilter(_REDACTOR)

Params = Sequence[tuple[str, str | int | float]] | Mapping[str, str | int | float | None] | None
T = TypeVar("T")

# Errors raised before the request reached the server: repeating any method is safe.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class AmbiguousRequestError(StoreError):
    """A non-idempotent request may or may not have been applied (connection lost, 5xx)."""

    status = 503


@dataclass
class RequestStats:
    """Counters of the traffic (benches and tests read them)."""

    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    retries: int = 0


def server_message(response: httpx.Response) -> str:
    """The server's own explanation in an error response (``error_description``, ``error``...)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        parts: list[str] = []
        for key in ("error_description", "message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, list):
                parts.extend(str(v) for v in value)
            elif value:
                parts.append(str(value))
            if parts:
                break
        return "; ".join(parts)
    return str(body)[:300]


def api_error(response: httpx.Response, datastore: str = "") -> StoreError:
    """The user-facing error for a failed API response, with the status and the server's message."""
    request = response.request
    status = response.status_code
    where = f"{request.method} {request.url.copy_with(query=None)}"
    message = server_message(response)
    text = f"HTTP {status} on {where}" + (f": {message}" if message else "")
    if status == 400:
        return BadRequestError(text, hint="the request was refused as invalid; see the server's message")
    if status == 401:
        return AuthError(text, hint="the token was refused twice; check the credentials with `gpf-flow auth`")
    if status == 403:
        return ForbiddenError(
            text,
            hint=f"your account may not use datastore {datastore!r} this way; "
            "`gpf-flow me` lists your datastores and rights",
        )
    if status == 404:
        return NotFoundError(
            text, hint="check the id (or the datastore id); `gpf-flow entities` lists what exists"
        )
    if status == 409:
        return ConflictError(text, hint="the entity is not in a state that allows this; check its status")
    if status >= 500:
        return StoreError(text, hint="the Géoplateforme had trouble; retry later", status=status)
    return StoreError(text, status=status)


class ApiClient:
    """Authenticated requests to the API with retries; one keep-alive connection pool."""

    def __init__(
        self,
        settings: GpfSettings,
        *,
        http: httpx.Client | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.http = http or httpx.Client(
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
            headers={"User-Agent": "gpf-flow"},
            follow_redirects=False,
            mounts=_proxy_mounts(settings),
        )
        self.backoff = backoff or Backoff(base=_float_setting(settings, "retry_base", 0.5))
        self.sleep = sleep
        self.stats = RequestStats()
        self.clock = ServerClock()
        for secret in settings.secrets():
            _REDACTOR.add_secret(secret, permanent=True)
        self.tokens = TokenProvider(
            settings, self.http, backoff=self.backoff, sleep=sleep, on_token=_REDACTOR.add_secret
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    # -- raw requests ----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        params: Params = None,
        json: Any = None,
        content: Callable[[], Iterable[bytes]] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """Send one API request, retrying what is safe to retry; raise a user-facing error on failure.

        ``content`` builds a fresh body iterable for each attempt (streamed uploads). Raises
        :class:`AmbiguousRequestError` when a non-idempotent request may have been applied.
        """
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        send_headers = {"content-type": "application/json"}
        if headers:
            send_headers.update(headers)
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json).encode("utf-8")
        clean_params = _clean_params(params)
        attempts = self.settings.attempts
        renewed = False
        attempt = 0
        while True:
            token = self.tokens.get()
            send_headers["Authorization"] = f"Bearer {token}"
            payload: bytes | Iterable[bytes] | None = content() if content is not None else body
            self.stats.requests += 1
            try:
                response = self.http.request(
                    method,
                    url,
                    params=clean_params,
                    content=payload,
                    headers=send_headers,
                    timeout=timeout if timeout is not None else self.http.timeout,
                )
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}".rstrip(": ")
                log.debug("%s %s failed: %s", method, url, problem)
                if not safe and not isinstance(exc, _NOT_SENT):
                    raise AmbiguousRequestError(
                        f"{method} {url} may not have completed ({problem})"
                    ) from None
                if attempt >= attempts:
                    raise StoreError(
                        f"cannot reach the Géoplateforme API at {url} "
                        f"after {attempt + 1} attempts ({problem})",
                        hint="check the network and the root_url setting (`gpf-flow config` shows it)",
                        status=503,
                    ) from None
                self.pause(self.backoff.delay(attempt))
                attempt += 1
                continue
            self.clock.observe(response.headers.get("Date"))
            self.stats.bytes_sent += _sent_size(response)
            self.stats.bytes_received += len(response.content)
            status = response.status_code
            log.debug("%s %s -> %s (%d bytes)", method, response.request.url, status, len(response.content))
            if status == 401 and not renewed:
                # The token may have expired early or been revoked: renew once and retry.
                self.tokens.invalidate(token)
                renewed = True
                continue
            if status in RETRYABLE_STATUSES:
                if not safe and status not in (408, 429):
                    raise AmbiguousRequestError(
                        f"{method} {url} answered HTTP {status}: {server_message(response)}", status=status
                    )
                if attempt < attempts:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    self.pause(wait if wait is not None else self.backoff.delay(attempt))
                    attempt += 1
                    continue
            if status >= 400:
                raise api_error(response, self.settings.datastore)
            return response

    def pause(self, seconds: float) -> None:
        """Wait before another attempt (counted as a retry)."""
        self.stats.retries += 1
        self.sleep(seconds)

    def get_json(self, url: str, params: Params = None) -> Any:
        """``GET`` and parse the JSON body."""
        return _json_of(self.request("GET", url, params=params))

    def create(
        self,
        url: str,
        *,
        json: Any = None,
        params: Params = None,
        content: Callable[[], Iterable[bytes]] | None = None,
        headers: Mapping[str, str] | None = None,
        find: Callable[[], T | None],
        parse: Callable[[httpx.Response], T],
        timeout: httpx.Timeout | None = None,
    ) -> T:
        """``POST`` something that creates; on an ambiguous failure, ``find`` it before trying again."""
        attempts = self.settings.attempts
        for attempt in range(attempts + 1):
            try:
                response = self.request(
                    "POST",
                    url,
                    json=json,
                    params=params,
                    content=content,
                    headers=headers,
                    idempotent=False,
                    timeout=timeout,
                )
                return parse(response)
            except AmbiguousRequestError as exc:
                log.debug("ambiguous create (%s); looking it up before retrying", exc.message)
                self.pause(self.backoff.delay(attempt))
                found = find()
                if found is not None:
                    log.debug("the create had been applied; not repeating it")
                    return found
        raise StoreError(
            f"POST {url} kept failing after {attempts + 1} attempts",
            hint="the Géoplateforme had trouble; retry later",
            status=503,
        )


def _json_of(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise StoreError(
            f"the API answered {response.request.method} {response.request.url} with non-JSON content",
            hint="check root_url: it must be the Entrepôt API root (…/api)",
            status=502,
        ) from None


def _sent_size(response: httpx.Response) -> int:
    length = response.request.headers.get("content-length")
    return int(length) if length and length.isdigit() else 0


def _clean_params(params: Params) -> list[tuple[str, str | int | float | bool | None]] | None:
    if params is None:
        return None
    items = params.items() if isinstance(params, Mapping) else params
    return [(k, v) for k, v in items if v is not None]


def _proxy_mounts(settings: GpfSettings) -> dict[str, httpx.BaseTransport | None] | None:
    """Transports for the SDK's ``http_proxy``/``https_proxy`` settings (the environment's
    ``HTTP(S)_PROXY`` variables apply when they are unset)."""
    mounts: dict[str, httpx.BaseTransport | None] = {}
    for scheme in ("http", "https"):
        proxy = settings.get(f"{scheme}_proxy")
        if proxy:
            mounts[f"{scheme}://"] = httpx.HTTPTransport(proxy=proxy)
    return mounts or None


def _float_setting(settings: GpfSettings, key: str, default: float) -> float:
    raw = settings.get(key)
    try:
        return float(raw) if raw else default
    except ValueError:
        return default
