"""Authentication and errors people can act on, against a real ``gpf-flow serve``."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpf_faultproxy import FaultProxy
from gpf_helpers import fast_settings

from gpf_flow.errors import AuthError, ForbiddenError, NotFoundError, StoreError
from gpf_flow.store.base import Store
from gpf_flow.store.geoplateforme import GeoplateformeStore

TOKEN_PATH = "/realms/geoplateforme/protocol/openid-connect/token"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_gpf_store_is_a_store_and_reuses_its_token(gpf_store: GeoplateformeStore, gpf_server: Any) -> None:
    assert isinstance(gpf_store, Store)
    me = gpf_store.user_me()
    assert me["_id"] and me["communities_member"]
    datastore = gpf_store.get_datastore()
    assert datastore["_id"] == gpf_server.datastore
    gpf_store.list_entities("upload")
    gpf_store.list_entities("processing")
    assert gpf_store.client.tokens.requests == 1  # one token for every request while it is valid


def test_gpf_datastore_by_name_and_listing(gpf_store: GeoplateformeStore) -> None:
    communities = gpf_store.user_me()["communities_member"]
    technical = communities[0]["community"]["technical_name"]
    by_name = GeoplateformeStore(gpf_store.settings, datastore_id=technical, client=gpf_store.client)
    assert by_name.datastore_id == gpf_store.datastore_id
    page = gpf_store.list_entities("datastore", {"name": technical})
    assert [d["_id"] for d in page.items] == [gpf_store.datastore_id]
    endpoints = gpf_store.list_entities("endpoint", {"technical_name": "GPF-GEOSERVER-WFS"})
    assert endpoints.total == 1 and endpoints.items[0]["technical_name"] == "gpf-geoserver-wfs"
    assert gpf_store.get_entity("endpoint", endpoints.items[0]["_id"]) == endpoints.items[0]


def test_gpf_bad_credentials(gpf_server: Any) -> None:
    settings = fast_settings(gpf_server, password="not-the-password-123")
    store = GeoplateformeStore(settings)
    with pytest.raises(AuthError) as caught:
        store.user_me()
    store.close()
    text = str(caught.value)
    assert "bad credentials" in text and "HTTP 401" in text and "Invalid user credentials" in text
    assert "not-the-password-123" not in text
    assert store.client.tokens.requests == 1  # refused credentials are not retried


def test_gpf_unreachable_server() -> None:
    from gpf_flow.store.geoplateforme import GpfSettings

    port = closed_port()
    settings = GpfSettings(
        values={
            "root_url": f"http://127.0.0.1:{port}/api",
            "token_url": f"http://127.0.0.1:{port}{TOKEN_PATH}",
            "login": "a",
            "password": "b",
            "client_id": "gpf-warehouse",
            "client_secret": "",
            "datastore": str(uuid.uuid4()),
            "nb_attempts": "1",
            "retry_base": "0.01",
            "timeout": "2",
            "connect_timeout": "2",
            "upload_timeout": "2",
            "nb_limit": "10",
        }
    )
    store = GeoplateformeStore(settings)
    with pytest.raises(StoreError) as caught:
        store.list_entities("upload")
    store.close()
    assert "cannot get a token" in caught.value.message and "ConnectError" in caught.value.message
    assert caught.value.hint and "token_url" in caught.value.hint


def test_gpf_not_found_and_unknown_datastore(gpf_store: GeoplateformeStore) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(NotFoundError) as caught:
        gpf_store.get_entity("upload", missing)
    assert (
        caught.value.status == 404 and "HTTP 404" in caught.value.message and missing in caught.value.message
    )
    other = gpf_store.for_datastore(str(uuid.uuid4()))
    with pytest.raises(NotFoundError, match="datastore"):
        other.list_entities("upload")


def test_gpf_forbidden_and_keycloak_refusals_through_proxy(gpf_server: Any) -> None:
    proxy = FaultProxy(upstream_port=gpf_server.port).start()
    try:
        settings = fast_settings(gpf_server, via=proxy.url, token_url=proxy.url + TOKEN_PATH)
        proxy.add("GET", r"/uploads$", (403, {"error": "forbidden", "error_description": ["Not a member"]}))
        store = GeoplateformeStore(settings)
        with pytest.raises(ForbiddenError) as forbidden:
            store.list_entities("upload")
        assert "HTTP 403" in forbidden.value.message and "Not a member" in forbidden.value.message
        assert forbidden.value.hint and "gpf-flow me" in forbidden.value.hint
        store.close()

        not_set_up = {"error": "invalid_grant", "error_description": "Account is not fully set up"}
        proxy.add("POST", TOKEN_PATH, (400, not_set_up))
        store = GeoplateformeStore(settings)
        with pytest.raises(AuthError, match="not fully set up") as caught:
            store.user_me()
        assert caught.value.hint and "cartes.gouv.fr" in caught.value.hint
        assert store.client.tokens.requests == 1
        store.close()

        expired = {"error": "invalid_grant", "error_description": "Password has expired"}
        proxy.add("POST", TOKEN_PATH, (400, expired))
        store = GeoplateformeStore(settings)
        with pytest.raises(AuthError, match="expired"):
            store.user_me()
        store.close()
        assert proxy.pending() == 0
    finally:
        proxy.stop()


def test_gpf_401_renews_the_token_once(gpf_server: Any) -> None:
    proxy = FaultProxy(upstream_port=gpf_server.port).start()
    try:
        store = GeoplateformeStore(fast_settings(gpf_server, via=proxy.url))
        store.user_me()
        assert store.client.tokens.requests == 1
        proxy.add("GET", r"/users/me$", 401)
        assert store.user_me()["_id"]
        assert store.client.tokens.requests == 2
        proxy.add("GET", r"/users/me$", 401, 401)
        with pytest.raises(AuthError, match="HTTP 401"):
            store.user_me()
        store.close()
    finally:
        proxy.stop()


def test_gpf_debug_logs_never_show_secrets(gpf_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings = fast_settings(gpf_server)
    with caplog.at_level(logging.DEBUG):
        store = GeoplateformeStore(settings)
        store.user_me()
        store.list_entities("upload", {"name": "x"}, {"k": "v"})
        token = store.client.tokens.token
        assert token is not None
        logging.getLogger("gpf_flow.store.geoplateforme").debug("echo %s", token.access_token)
        store.close()
    text = caplog.text
    assert "tags%5Bk%5D=v" in text or "tags[k]=v" in text  # debug logs do show the requests
    assert token.access_token not in text
    assert settings.get("password") not in text


TOTP_KEY = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture(scope="module")
def short_token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server issuing 2-second tokens, with a TOTP account and a client-credentials account."""
    import json

    from gpf_helpers import serve_helpers

    from gpf_flow.store.local.settings import load_settings as load_home_settings

    folder = tmp_path_factory.mktemp("shorttoken")
    home = folder / "home"  # the home start_server uses
    home.mkdir(parents=True)
    load_home_settings(home)
    config_file = home / "config.json"
    data = json.loads(config_file.read_text())
    data["accounts"].append({"login": "totp-user", "password": "totp-Pa55-word", "totp_key": TOTP_KEY})
    data["accounts"].append({"login": "robot-client", "password": "robot-Secret-1"})
    config_file.write_text(json.dumps(data))
    helpers = serve_helpers()
    server = helpers.start_server(folder, "--token-lifetime", "2")
    assert server.home == home
    yield server
    helpers.stop_server(server)


def test_gpf_token_expiry_mid_run(short_token_server: Any, tmp_path: Path) -> None:
    from gpf_flow.datasets import write_dataset
    from gpf_flow.delivery.descriptor import load_descriptor
    from gpf_flow.delivery.uploader import PollPolicy, deliver

    store = GeoplateformeStore(fast_settings(short_token_server))
    started = time.monotonic()
    folder = Path(write_dataset("vector-sample", tmp_path))
    report = deliver(store, load_descriptor(folder / "upload_descriptor.jsonc"), poll=PollPolicy(first=0.2))
    assert report.ok
    calls = 0
    while time.monotonic() - started < 5:  # keep working across more expiries
        assert store.list_entities("upload", {"name": "EXAMPLE_DATASET_VECTOR"}).total == 1
        store.user_me()
        calls += 2
        time.sleep(0.25)
    store.close()
    assert calls >= 4
    assert store.client.tokens.requests >= 3  # renewed before (or right after) each expiry


def test_gpf_totp_and_client_credentials(short_token_server: Any) -> None:
    server = short_token_server
    totp_key = TOTP_KEY

    with_totp = fast_settings(server, login="totp-user", password="totp-Pa55-word", totp_key=totp_key)
    store = GeoplateformeStore(with_totp)
    assert store.user_me()["_id"]
    store.close()
    without = fast_settings(server, login="totp-user", password="totp-Pa55-word", totp_key="")
    store = GeoplateformeStore(without)
    with pytest.raises(AuthError, match="bad credentials"):
        store.user_me()
    store.close()

    robot = fast_settings(
        server, grant_type="client_credentials", client_id="robot-client", client_secret="robot-Secret-1"
    )
    store = GeoplateformeStore(robot)
    assert store.user_me()["_id"]
    store.close()
    wrong_client = fast_settings(
        server, grant_type="client_credentials", client_id="robot-client", client_secret="nope"
    )
    store = GeoplateformeStore(wrong_client)
    with pytest.raises(AuthError, match="client 'robot-client' was refused"):
        store.user_me()
    store.close()
    with pytest.raises(AuthError, match="unknown grant_type"):
        GeoplateformeStore(fast_settings(server, grant_type="implicit"))


def test_gpf_http_proxy_from_the_sdk_config(gpf_server: Any, tmp_path: Path) -> None:
    from gpf_flow.store.geoplateforme import load_settings

    proxy = FaultProxy(upstream_port=gpf_server.port).start()
    try:
        ini = tmp_path / "config.ini"
        ini.write_text(gpf_server.sdk_config.read_text() + "\n[gpf_flow]\nretry_base=0.05\n")
        text = ini.read_text().replace("[store_api]\n", f"[store_api]\nhttp_proxy={proxy.url}\n", 1)
        ini.write_text(text)
        settings = load_settings(ini, env={})
        assert settings.get("http_proxy") == proxy.url
        store = GeoplateformeStore(settings)
        assert store.user_me()["_id"]
        store.close()
        assert proxy.forwarded == 2  # the token request and the API request went through the proxy
    finally:
        proxy.stop()
