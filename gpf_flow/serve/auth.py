"""Bearer tokens for the local Entrepôt API, shaped like KeyCloak's.

Tokens are JWTs signed with HMAC-SHA256 by a secret kept in the home folder (``serve-secret``), so
a restarted server still accepts the tokens it issued before, until they expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECRET_FILE = "serve-secret"
DEFAULT_TOKEN_LIFETIME = 3600
TOKEN_PATH = "/realms/geoplateforme/protocol/openid-connect/token"


class InvalidToken(Exception):
    """The bearer token is missing, malformed, badly signed or expired."""


@dataclass(frozen=True)
class Account:
    """A local account allowed to get tokens."""

    login: str
    password: str
    totp_key: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_secret(home: Path) -> bytes:
    """The signing secret of this home, created (mode 0600) on first use."""
    path = home / SECRET_FILE
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    home.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    path.touch(mode=0o600)
    path.write_text(value.hex())
    return value


class TokenIssuer:
    """Issues and verifies signed, expiring bearer tokens."""

    def __init__(self, secret: bytes, lifetime: int = DEFAULT_TOKEN_LIFETIME) -> None:
        if lifetime <= 0:
            raise ValueError("token lifetime must be > 0 seconds")
        self._secret = secret
        self.lifetime = lifetime

    def _sign(self, signing_input: str) -> str:
        return _b64(hmac.new(self._secret, signing_input.encode("ascii"), hashlib.sha256).digest())

    def issue(self, subject: str, issuer_url: str) -> dict[str, Any]:
        """A KeyCloak-like token response for ``subject``."""
        now = time.time()
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(
            json.dumps(
                {
                    "sub": subject,
                    "preferred_username": subject,
                    "iat": int(now),
                    # rounded up: the token lives at least `lifetime` s, as `expires_in` promises
                    "exp": math.ceil(now + self.lifetime),
                    "iss": issuer_url,
                    "jti": secrets.token_hex(8),
                    "typ": "Bearer",
                }
            ).encode()
        )
        signing_input = f"{header}.{payload}"
        return {
            "access_token": f"{signing_input}.{self._sign(signing_input)}",
            "expires_in": self.lifetime,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": "openid profile email",
        }

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; :class:`InvalidToken` if it is not one of ours or has expired."""
        if not token.isascii():
            raise InvalidToken("malformed token (not ASCII)")
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed token")
        signing_input = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._sign(signing_input), parts[2]):
            raise InvalidToken("bad token signature")
        try:
            claims = json.loads(_unb64(parts[1]))
        except ValueError as exc:
            raise InvalidToken("malformed token payload") from exc
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            raise InvalidToken("malformed token payload")
        if claims["exp"] <= time.time():
            raise InvalidToken("token expired")
        return claims


def accounts_from_config(config: Mapping[str, Any]) -> list[Account]:
    """Local accounts from the store's settings: ``accounts: [{login, password, totp_key?}]``."""
    found: dict[str, Account] = {}
    for item in config.get("accounts") or []:
        if not isinstance(item, Mapping):
            continue
        login, password, totp = item.get("login"), item.get("password"), item.get("totp_key")
        if isinstance(login, str) and isinstance(password, str) and login not in found:
            found[login] = Account(login, password, totp if isinstance(totp, str) and totp else None)
    return list(found.values())


def check_password(accounts: list[Account], login: str, password: str, totp: str | None) -> Account | None:
    """The account matching these credentials (and TOTP code when the account has a key), or None."""
    # compared as UTF-8 bytes: compare_digest refuses str with non-ASCII characters
    login_bytes, password_bytes = _utf8(login), _utf8(password)
    for account in accounts:
        if hmac.compare_digest(_utf8(account.login), login_bytes) and hmac.compare_digest(
            _utf8(account.password), password_bytes
        ):
            if account.totp_key:
                import pyotp

                if not totp or not pyotp.TOTP(account.totp_key).verify(totp, valid_window=1):
                    return None
            return account
    return None


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


class FailureThrottle:
    """Slows down guessing: after ``free`` failed logins from one client within ``window`` seconds,
    that client is refused for a delay that doubles with each further failure (up to
    ``max_delay``), whatever the credentials; a success forgets its failures."""

    def __init__(self, free: int = 10, window: float = 300.0, max_delay: float = 60.0) -> None:
        self.free = free
        self.window = window
        self.max_delay = max_delay
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}

    def retry_after(self, client: str) -> float:
        """Seconds ``client`` must still wait (0 when it may try now)."""
        return max(0.0, self._locked_until.get(client, 0.0) - time.monotonic())

    def failed(self, client: str) -> None:
        """Record a failed attempt; lock the client out when it has used its free attempts."""
        now = time.monotonic()
        recent = [t for t in self._failures.get(client, []) if now - t < self.window]
        recent.append(now)
        self._failures[client] = recent
        excess = len(recent) - self.free
        if excess > 0:
            self._locked_until[client] = now + min(self.max_delay, 2.0 ** (excess - 1))
        if len(self._failures) > 10_000:  # forget the oldest clients rather than grow without bound
            for old in list(self._failures)[:5_000]:
                self._failures.pop(old, None)
                self._locked_until.pop(old, None)

    def succeeded(self, client: str) -> None:
        """Forget the client's failures."""
        self._failures.pop(client, None)
        self._locked_until.pop(client, None)
