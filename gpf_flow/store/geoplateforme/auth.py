"""KeyCloak tokens for the Entrepôt API: password grant (with optional TOTP) or client credentials.

A token is reused until shortly before it expires, then a new one is requested (KeyCloak's refresh
tokens are not used, as in the official SDK). :meth:`TokenProvider.invalidate` drops it after a 401.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from gpf_flow.errors import AuthError, StoreError
from gpf_flow.store.geoplateforme.retry import RETRYABLE_STATUSES, Backoff
from gpf_flow.store.geoplateforme.settings import GpfSettings

log = logging.getLogger("gpf_flow.store.geoplateforme")

GRANT_TYPES = ("password", "client_credentials")


@dataclass(frozen=True)
class Token:
    """An access token and the monotonic time after which it must not be used."""

    access_token: str
    expires_in: float
    obtained_at: float

    @property
    def renew_at(self) -> float:
        """When to ask for a new one: 10 % of the lifetime (at most 30 s) before it expires."""
        margin = min(30.0, self.expires_in * 0.1)
        return self.obtained_at + self.expires_in - margin

    def seconds_left(self, now: float | None = None) -> float:
        """Seconds until the token expires."""
        return self.obtained_at + self.expires_in - (time.monotonic() if now is None else now)


class TokenProvider:
    """Gets, caches and renews the access token; safe to share between threads."""

    def __init__(
        self,
        settings: GpfSettings,
        http: httpx.Client,
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_token: Callable[[str], None] | None = None,
    ) -> None:
        self._settings = settings
        self._http = http
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._on_token = on_token
        self._token: Token | None = None
        self._lock = threading.Lock()
        self.requests = 0
        """Number of token requests made (tests and benches count them)."""
        grant = settings.get("grant_type") or "password"
        if grant not in GRANT_TYPES:
            raise AuthError(
                f"unknown grant_type {grant!r} (from {settings.sources.get('grant_type', 'defaults')})",
                hint=f"use one of: {', '.join(GRANT_TYPES)}",
            )
        self.grant_type = grant

    @property
    def token(self) -> Token | None:
        """The cached token, if any."""
        return self._token

    def get(self) -> str:
        """A valid access token, requesting a new one if the cached one is (nearly) expired."""
        with self._lock:
            token = self._token
            if token is None or time.monotonic() >= token.renew_at:
                token = self._request_token()
                self._token = token
            return token.access_token

    def invalidate(self, used: str | None = None) -> None:
        """Forget the token (the API said 401). With ``used``, only if it is still the cached one."""
        with self._lock:
            if self._token is not None and (used is None or self._token.access_token == used):
                self._token = None

    def _form(self) -> dict[str, str]:
        settings = self._settings
        form = {
            "grant_type": self.grant_type,
            "client_id": settings.get("client_id"),
            "client_secret": settings.get("client_secret"),
        }
        if self.grant_type == "password":
            if not settings.get("login") or not settings.get("password"):
                raise AuthError(
                    "no login or password configured for the Géoplateforme",
                    hint="set [store_authentification] login/password in config.ini, or "
                    "GPF_FLOW_LOGIN and GPF_FLOW_PASSWORD (or GPF_FLOW_PASSWORD_FILE)",
                )
            form["username"] = settings.get("login")
            form["password"] = settings.get("password")
            totp_key = settings.get("totp_key")
            if totp_key:
                import pyotp

                try:
                    form["totp"] = pyotp.TOTP(totp_key).now()
                except (ValueError, TypeError):
                    raise AuthError(
                        "totp_key is not a valid base32 TOTP secret",
                        hint="copy the secret shown when you enabled two-factor authentication",
                    ) from None
        return form

    def _request_token(self) -> Token:
        url = self._settings.token_url
        attempts = self._settings.attempts
        last_problem = ""
        for attempt in range(attempts + 1):
            if attempt:
                self._sleep(self._backoff.delay(attempt - 1))
            self.requests += 1
            try:
                response = self._http.post(
                    url, data=self._form(), timeout=self._settings.connect_timeout + 20
                )
            except httpx.TransportError as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                log.debug("token request to %s failed: %s", url, last_problem)
                continue
            if response.status_code == 200:
                return self._parse(response)
            if response.status_code in RETRYABLE_STATUSES:
                last_problem = f"HTTP {response.status_code}"
                continue
            raise token_error(response, self._settings)
        raise StoreError(
            f"cannot get a token from {url} after {attempts + 1} attempts ({last_problem})",
            hint="check the network and the token_url setting (`gpf-flow config` shows it)",
            status=503,
        )

    def _parse(self, response: httpx.Response) -> Token:
        try:
            body = response.json()
            access = body["access_token"]
            expires_in = float(body["expires_in"])
        except (ValueError, KeyError, TypeError):
            raise AuthError(
                f"the token server {self._settings.token_url} answered 200 without access_token/expires_in",
                hint="check token_url: it must be a KeyCloak openid-connect token endpoint",
            ) from None
        if not isinstance(access, str) or not access or expires_in <= 0:
            raise AuthError(f"the token server {self._settings.token_url} gave an unusable token")
        if self._on_token is not None:
            self._on_token(access)
        log.debug("new token from %s, valid %.0f s", self._settings.token_url, expires_in)
        return Token(access_token=access, expires_in=expires_in, obtained_at=time.monotonic())


def token_error(response: httpx.Response, settings: GpfSettings) -> AuthError:
    """The error people can act on for a refused token request."""
    error, description = "", ""
    try:
        body = response.json()
        if isinstance(body, dict):
            error = str(body.get("error") or "")
            raw = body.get("error_description") or ""
            description = "\n".join(map(str, raw)) if isinstance(raw, list) else str(raw)
    except ValueError:
        description = response.text[:200]
    status = response.status_code
    server = f"HTTP {status} {error}: {description}".rstrip(": ")
    lowered = description.lower()
    login = settings.get("login")
    if "not fully set up" in lowered:
        return AuthError(
            f"account {login!r} is not fully set up ({server})",
            hint="log in once on https://cartes.gouv.fr to finish the required steps "
            "(terms of use, e-mail check, password update, TOTP), then retry",
            status=status,
        )
    if "expired" in lowered or "update password" in lowered or "temporarily" in lowered:
        return AuthError(
            f"the password of account {login!r} has expired or the account is locked ({server})",
            hint="change the password on https://cartes.gouv.fr, then update your configuration",
            status=status,
        )
    if error == "invalid_client" or "client" in lowered:
        return AuthError(
            f"the client {settings.get('client_id')!r} was refused ({server})",
            hint="check client_id and client_secret (the SDK default is gpf-warehouse)",
            status=status,
        )
    if error == "invalid_grant" or status == 401:
        return AuthError(
            f"bad credentials for login {login!r} at {settings.token_url} ({server})",
            hint="check login and password (and totp_key if your account uses two-factor authentication)",
            status=status,
        )
    return AuthError(f"the token server refused the request ({server})", status=status)
