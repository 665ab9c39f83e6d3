"""`gpf-flow serve --workers N`: several server processes over one home behave as one server."""

from __future__ import annotations

from typing import Any

import httpx


def test_two_server_processes_share_one_store(make_server: Any, stop: Any) -> None:
    server = make_server("--workers", "2")
    with server.client() as api:
        created = api.post(
            f"{server.ds}/uploads",
            json={"name": "MULTI", "description": "d", "srs": "EPSG:2154", "type": "VECTOR"},
        )
        assert created.status_code == 201, created.text
        upload_id = created.json()["_id"]
        # many requests spread over both processes: every one sees the upload the other created
        seen = {api.get(f"{server.ds}/uploads/{upload_id}").json()["name"] for _ in range(20)}
        assert seen == {"MULTI"}
        listed = api.get(f"{server.ds}/uploads", params={"name": "MULTI"})
        assert listed.headers["Content-Range"].endswith("/1")
    # a token issued by one process is valid in the other (shared signing secret)
    token = server.token()
    for _ in range(10):
        me = httpx.get(f"{server.api}/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert me.status_code == 200
    capabilities = httpx.get(f"{server.base_url}/wms-v?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities")
    assert capabilities.status_code == 200
    assert stop(server) == 0
    log = server.log()
    assert log.count("Waiting for child process") == 2  # both processes were started and stopped
