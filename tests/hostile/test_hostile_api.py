"""Hostile HTTP requests against a real ``gpf-flow serve``: 4xx naming the problem, nothing stored,
no internal path in any message, and the server still answering afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostile_helpers import serve_conftest

_serve = serve_conftest()

UPLOAD = {"name": "u", "description": "d", "type": "VECTOR", "srs": "EPSG:2154"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    handle = _serve.start_server(tmp_path_factory.mktemp("hostile-serve"))
    yield handle
    assert _serve.stop_server(handle) == 0


@pytest.fixture(scope="module")
def api(server: Any) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def _no_internal_path(response: httpx.Response, home: Path) -> None:
    assert str(home) not in response.text, response.text
    assert "/tmp/" not in response.text and "Traceback" not in response.text, response.text


def _upload_names(api: httpx.Client, server: Any) -> list[str]:
    response = api.get(f"{server.ds}/uploads", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()]


BAD_BODIES: dict[str, tuple[bytes, int, str]] = {
    "nan": (b'{"name": "nan", "type": "VECTOR", "srs": "EPSG:2154", "x": NaN}', 400, "NaN"),
    "infinity": (b'{"name": "inf", "type": "VECTOR", "srs": "EPSG:2154", "x": -Infinity}', 400, "Infinity"),
    "overflow": (b'{"name": "big", "type": "VECTOR", "srs": "EPSG:2154", "x": 1e999}', 400, "finite"),
    "deep-array": (b"[" * 5000 + b"]" * 5000, 400, "nested more than"),
    "deep-object": (b'{"a":' * 100 + b"1" + b"}" * 100, 400, "nested more than"),
    "huge-int": (b'{"name": ' + b"1" * 5000 + b"}", 400, "not valid JSON"),
    "latin-1": ('{"name": "é"}'.encode("latin-1"), 400, "not valid JSON"),
    "name-dotdot": (b'{"name": "../x", "type": "VECTOR", "srs": "EPSG:2154"}', 400, "field 'name'"),
    "name-newline": (b'{"name": "a\\nb", "type": "VECTOR", "srs": "EPSG:2154"}', 400, "control characters"),
    "name-nul": (b'{"name": "a\\u0000b", "type": "VECTOR", "srs": "EPSG:2154"}', 400, "control characters"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_json_body_is_refused_and_nothing_stored(server: Any, api: httpx.Client, case: str) -> None:
    body, status, fragment = BAD_BODIES[case]
    before = _upload_names(api, server)
    response = api.post(f"{server.ds}/uploads", content=body)
    assert response.status_code == status, response.text
    assert fragment in response.text, response.text
    _no_internal_path(response, server.home)
    assert _upload_names(api, server) == before  # nothing stored, and the list still answers


def test_oversize_json_body_is_413(server: Any, api: httpx.Client) -> None:
    body = b'{"name": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    response = api.post(f"{server.ds}/uploads", content=body)
    assert response.status_code == 413, response.text
    assert "limit" in response.text


def test_non_ascii_credentials_are_401(server: Any) -> None:
    response = httpx.get(f"{server.api}/users/me", headers={"Authorization": b"Bearer \xe9\xe9.a.b"})
    assert response.status_code == 401, response.text
    assert "not ASCII" in response.text
    for grant, fields in (
        ("password", {"username": "rööt", "password": "pässword"}),
        ("client_credentials", {"client_id": "é", "client_secret": "ü"}),
    ):
        answer = httpx.post(server.token_url, data={"grant_type": grant, **fields})
        assert answer.status_code == 401, answer.text


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("a" * 5000, "more than the limit of 1024"),
        ("../x", "relative path"),
        ("a/\x00b", "control characters"),
        ("a\nb", "control characters"),
        ("b" * 300 + "/c", "longer than 255 bytes"),
    ],
)
def test_bad_upload_paths_are_400(server: Any, api: httpx.Client, path: str, fragment: str) -> None:
    upload = api.post(f"{server.ds}/uploads", json={**UPLOAD, "name": "paths"}).json()
    pushed = api.post(
        f"{server.ds}/uploads/{upload['_id']}/data", params={"path": path}, files={"file": ("f.txt", b"x")}
    )
    assert pushed.status_code == 400, pushed.text
    assert fragment in pushed.text
    _no_internal_path(pushed, server.home)
    deleted = api.delete(f"{server.ds}/uploads/{upload['_id']}/data", params={"path": path})
    assert deleted.status_code == 400, deleted.text
    assert api.get(f"{server.ds}/uploads/{upload['_id']}/tree").json() == []


def test_long_download_path_is_404(server: Any) -> None:
    response = httpx.get(f"{server.base_url}/download/{'a' * 5000}/{'b' * 5000}")
    assert response.status_code == 404
    _no_internal_path(response, server.home)


def test_many_wildcards_do_not_hold_the_server(server: Any, api: httpx.Client) -> None:
    """A backtracking matcher took minutes here; the linear one answers at once (the client's
    timeout is the budget)."""
    api.post(f"{server.ds}/uploads", json={**UPLOAD, "name": "a" * 60})
    with server.client() as quick:
        quick.timeout = httpx.Timeout(20)
        for count in (14, 20, 200):
            response = quick.get(f"{server.ds}/uploads", params={"name": "%" * count + "X"})
            assert response.status_code == 200 and response.json() == []
        found = quick.get(f"{server.ds}/uploads", params={"name": "%a%a%" + "a" * 50 + "%"})
        assert [u["name"] for u in found.json()] == ["a" * 60]


def test_token_endpoint_slows_down_repeated_failures(make_server: Any) -> None:
    handle = make_server()
    wrong = {"grant_type": "password", "username": handle.login, "password": "wrong"}
    statuses = [httpx.post(handle.token_url, data=wrong).status_code for _ in range(30)]
    assert statuses[:10] == [401] * 10
    assert 429 in statuses
    refused = httpx.post(handle.token_url, data={**wrong, "password": handle.password})
    assert refused.status_code == 429  # even the right password waits for the lock-out to end
    assert int(refused.headers["Retry-After"]) >= 1


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    started: list[Any] = []

    def make(*extra: str) -> Any:
        folder = tmp_path / f"s{len(started)}"
        folder.mkdir()
        handle = _serve.start_server(folder, *extra)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        _serve.stop_server(handle)


def test_upload_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPF_FLOW_SERVE_MAX_UPLOAD_BYTES", "100000")
    handle = _serve.start_server(tmp_path)
    try:
        with handle.client() as api:
            upload = api.post(f"{handle.ds}/uploads", json=UPLOAD).json()
            url = f"{handle.ds}/uploads/{upload['_id']}/data"
            small = api.post(url, params={"path": "small.bin"}, files={"file": ("s.bin", b"x" * 1000)})
            assert small.status_code == 200, small.text

            def chunks() -> Iterator[bytes]:  # streamed, no Content-Length
                boundary = b"--b0undary"
                yield (
                    boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
                )
                for _ in range(50):
                    yield b"y" * 10000
                yield b"\r\n" + boundary + b"--\r\n"

            big = api.post(
                url,
                params={"path": "big.bin"},
                content=chunks(),
                headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
            )
            assert big.status_code == 413, big.text
            assert "limit of 100000" in big.text
            assert [item["name"] for item in api.get(f"{handle.ds}/uploads/{upload['_id']}/tree").json()] == [
                "small.bin"
            ]
    finally:
        _serve.stop_server(handle)
