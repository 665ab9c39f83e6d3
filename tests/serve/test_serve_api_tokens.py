"""The token issuer and the account lookup, in-process (the HTTP side is in test_serve_api_auth.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gpf_flow.serve.auth import (
    InvalidToken,
    TokenIssuer,
    accounts_from_config,
    check_password,
    load_secret,
)


def test_secret_is_created_once_private_and_reused(tmp_path: Path) -> None:
    first = load_secret(tmp_path / "home")
    assert len(first) == 32
    assert (tmp_path / "home" / "serve-secret").stat().st_mode & 0o077 == 0
    assert load_secret(tmp_path / "home") == first
    assert load_secret(tmp_path / "other") != first


def test_issue_verify_and_tampering(tmp_path: Path) -> None:
    issuer = TokenIssuer(b"k" * 32, lifetime=60)
    response = issuer.issue("alice", "http://127.0.0.1/realms/geoplateforme")
    assert response["expires_in"] == 60 and response["token_type"] == "Bearer"
    claims = issuer.verify(response["access_token"])
    assert claims["sub"] == "alice" and 60 <= claims["exp"] - claims["iat"] <= 61
    header, payload, signature = response["access_token"].split(".")
    other = TokenIssuer(b"x" * 32, lifetime=60).issue("alice", "i")["access_token"].split(".")
    for bad in (f"{header}.{other[1]}.{signature}", f"{header}.{payload}.{other[2]}", "a.b", ""):
        with pytest.raises(InvalidToken):
            issuer.verify(bad)


def test_expiry() -> None:
    issuer = TokenIssuer(b"k" * 32, lifetime=1)
    token = issuer.issue("bob", "i")["access_token"]
    issuer.verify(token)
    time.sleep(0.9)
    issuer.verify(token)  # still valid: a token lives at least its announced lifetime
    time.sleep(1.2)
    with pytest.raises(InvalidToken, match="expired"):
        issuer.verify(token)
    with pytest.raises(ValueError):
        TokenIssuer(b"k", lifetime=0)


def test_accounts_from_settings() -> None:
    settings = {
        "accounts": [
            {"login": "a", "password": "pa"},
            {"login": "a", "password": "duplicate"},
            {"login": "b", "password": "pb", "totp_key": "JBSWY3DPEHPK3PXP"},
            {"login": 3, "password": "x"},
            "junk",
        ]
    }
    accounts = accounts_from_config(settings)
    assert [(a.login, a.password, a.totp_key) for a in accounts] == [
        ("a", "pa", None),
        ("b", "pb", "JBSWY3DPEHPK3PXP"),
    ]
    assert check_password(accounts, "a", "pa", None) == accounts[0]
    assert check_password(accounts, "a", "duplicate", None) is None
    assert check_password(accounts, "b", "pb", None) is None  # TOTP required
    assert accounts_from_config({}) == []


def test_loopback_detection_and_sdk_config_text() -> None:
    import configparser

    from gpf_flow.serve.launch import base_url, is_loopback, sdk_config_text

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.10", "example.org"))
    assert base_url("::1", 80) == "http://[::1]:80"
    text = sdk_config_text("http://t", "me", "pa$$word", "http://r/api", "ds-id")
    ini = configparser.ConfigParser(interpolation=configparser.ExtendedInterpolation())
    ini.read_string(text)
    assert ini["store_authentification"]["password"] == "pa$$word"
    assert ini["store_api"]["datastore"] == "ds-id"
