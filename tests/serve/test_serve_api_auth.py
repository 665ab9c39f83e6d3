"""Token endpoint, bearer auth, expiry, restart, start-up output, SDK config and clean stop."""

from __future__ import annotations

import configparser
import time
from typing import Any

import httpx

ServerHandle = Any


def _password_grant(server: ServerHandle, username: str, password: str) -> httpx.Response:
    return httpx.post(
        server.token_url,
        data={
            "grant_type": "password",
            "username": username,
            "password": password,
            "client_id": "gpf-warehouse",
            "client_secret": "whatever",
        },
    )


def test_password_grant_returns_keycloak_token(server: ServerHandle) -> None:
    response = _password_grant(server, server.login, server.password)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert body["access_token"].count(".") == 2


def test_bad_credentials_are_invalid_grant(server: ServerHandle) -> None:
    for login, password in ((server.login, "wrong"), ("nobody", server.password)):
        response = _password_grant(server, login, password)
        assert response.status_code == 401
        assert response.json() == {"error": "invalid_grant", "error_description": "Invalid user credentials"}


def test_unsupported_grant_and_missing_fields(server: ServerHandle) -> None:
    response = httpx.post(server.token_url, data={"grant_type": "authorization_code"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    response = httpx.post(server.token_url, data={"grant_type": "password", "username": server.login})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_client_credentials_grant(server: ServerHandle) -> None:
    data = {"grant_type": "client_credentials", "client_id": server.login, "client_secret": server.password}
    response = httpx.post(server.token_url, data=data)
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = httpx.get(f"{server.api}/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    data["client_secret"] = "bad"
    assert httpx.post(server.token_url, data=data).status_code == 401


def test_api_requires_a_valid_bearer_token(server: ServerHandle) -> None:
    url = f"{server.api}/users/me"
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer a.b.c"},
    ):
        response = httpx.get(url, headers=headers)
        assert response.status_code == 401, headers
        body = response.json()
        assert isinstance(body["error_description"], list) and body["error_description"]
        assert response.headers["www-authenticate"].startswith("Bearer")
    token = server.token()
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert httpx.get(url, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    # any route under /api, even an unknown one, is behind the token
    assert httpx.get(f"{server.api}{server.ds}/uploads").status_code == 401
    assert httpx.get(f"{server.api}/no/such/route").status_code == 401


def test_json_content_type_on_bodyless_requests(server: ServerHandle) -> None:
    headers = {"Authorization": f"Bearer {server.token()}", "Content-Type": "application/json"}
    assert httpx.get(f"{server.api}/users/me", headers=headers).status_code == 200
    assert httpx.get(f"{server.api}{server.ds}", headers=headers).status_code == 200


def test_short_lived_tokens_expire(make_server: Any) -> None:
    handle: ServerHandle = make_server("--token-lifetime", "1")
    response = _password_grant(handle, handle.login, handle.password)
    assert response.json()["expires_in"] == 1
    token = response.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{handle.api}/users/me", headers=headers).status_code == 200
    time.sleep(2.1)
    expired = httpx.get(f"{handle.api}/users/me", headers=headers)
    assert expired.status_code == 401
    assert "expired" in expired.json()["error_description"][0]
    # a client that re-authenticates gets in again
    assert (
        httpx.get(f"{handle.api}/users/me", headers={"Authorization": f"Bearer {handle.token()}"}).status_code
        == 200
    )


def test_tokens_survive_a_restart_and_stop_is_clean(make_server: Any, stop: Any, tmp_path: Any) -> None:
    first: ServerHandle = make_server(tmp=tmp_path / "s")
    token = first.token()
    assert stop(first) == 0
    second: ServerHandle = make_server(tmp=tmp_path / "s")
    assert second.datastore == first.datastore
    me = httpx.get(f"{second.api}/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    # another home signs with another secret: the token is refused there
    other: ServerHandle = make_server(tmp=tmp_path / "other")
    assert httpx.get(f"{other.api}/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert stop(second) == 0


def test_startup_output_request_log_and_sdk_config(server: ServerHandle) -> None:
    with server.client() as client:
        client.get("/users/me")
    log = server.log()
    assert f"{server.api}" in log
    assert server.token_url in log
    assert server.login in log
    assert server.datastore in log
    assert server.password not in log
    assert '"GET /api/users/me" 200' in log
    ini = configparser.ConfigParser(interpolation=configparser.ExtendedInterpolation())
    ini.read(server.sdk_config)
    assert ini["store_authentification"]["token_url"] == server.token_url
    assert ini["store_authentification"]["login"] == server.login
    assert ini["store_authentification"]["password"] == server.password
    assert ini["store_api"]["root_url"] == server.api
    assert ini["store_api"]["datastore"] == server.datastore
    assert ini["upload"]["nb_sec_between_check_updates"] == "1"
    assert ini["processing_execution"]["nb_sec_between_check_updates"] == "1"
    assert server.sdk_config.stat().st_mode & 0o077 == 0


def test_sigint_stops_with_130(make_server: Any) -> None:
    import signal

    handle: ServerHandle = make_server()
    handle.process.send_signal(signal.SIGINT)
    assert handle.process.wait(timeout=30) == 130
    assert "Application shutdown complete" in handle.log()


def test_port_in_use_is_a_clear_error(tmp_path: Any) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "gpf_flow", "serve", "--port", str(port), "--home", str(tmp_path / "h")],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "--port" in done.stderr


def test_totp_is_required_when_the_account_has_a_key(make_server: Any, stop: Any, tmp_path: Any) -> None:
    import json

    import pyotp

    first: ServerHandle = make_server(tmp=tmp_path / "t")
    stop(first)
    config_path = first.home / "config.json"
    settings = json.loads(config_path.read_text())
    secret = pyotp.random_base32()
    settings["accounts"][0]["totp_key"] = secret
    config_path.write_text(json.dumps(settings))
    handle: ServerHandle = make_server(tmp=tmp_path / "t")
    base = {"grant_type": "password", "username": handle.login, "password": handle.password, "client_id": "x"}
    assert httpx.post(handle.token_url, data=base).status_code == 401
    now = pyotp.TOTP(secret).now()
    wrong = f"{(int(now) + 1) % 10**6:06d}"
    assert httpx.post(handle.token_url, data={**base, "totp": wrong}).status_code == 401
    good = httpx.post(handle.token_url, data={**base, "totp": now})
    assert good.status_code == 200 and good.json()["access_token"]
