"""Processings, executions (create/launch/abort/logs paging), stored data, configurations, offerings
(create, sync, delete semantics), statics, permissions and keys over HTTP."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ServerHandle = Any
VECTOR_PROCESSING = "Intégration de données vecteur livrées en base"


def _total(response: httpx.Response) -> int:
    match = re.fullmatch(r"(\d+)-(\d+)/(\d+)", response.headers["content-range"])
    assert match, response.headers["content-range"]
    return int(match.group(3))


def _wait(api: httpx.Client, url: str, done: set[str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        entity = api.get(url).json()
        if entity["status"] in done:
            return dict(entity)
        assert time.monotonic() < deadline, entity
        time.sleep(0.3)


def _push_vector_sample(api: httpx.Client, ds: str, folder: Path, name: str) -> str:
    upload = api.post(
        f"{ds}/uploads", json={"name": name, "description": "d", "type": "VECTOR", "srs": "EPSG:2154"}
    )
    assert upload.status_code == 201, upload.text
    uid = upload.json()["_id"]
    for path in sorted((folder / "ZONES").iterdir()):
        with path.open("rb") as fh:
            sent = api.post(
                f"{ds}/uploads/{uid}/data", params={"path": f"ZONES/{path.name}"}, files={"file": fh}
            )
        assert sent.is_success, sent.text
    with (folder / "ZONES.md5").open("rb") as fh:
        assert api.post(f"{ds}/uploads/{uid}/md5", files={"file": ("ZONES.md5", fh)}).is_success
    assert api.post(f"{ds}/uploads/{uid}/close").is_success
    deadline = time.monotonic() + 60
    while True:
        checks = api.get(f"{ds}/uploads/{uid}/checks").json()
        if not checks["asked"] and not checks["in_progress"]:
            assert checks["failed"] == [], checks
            return str(uid)
        assert time.monotonic() < deadline
        time.sleep(0.3)


@pytest.fixture(scope="module")
def vector_db(server: ServerHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A vector upload integrated into a VECTOR-DB stored data over HTTP."""
    from gpf_flow.datasets import write_dataset

    folder = write_dataset("vector-sample", tmp_path_factory.mktemp("data"))
    with server.client() as api:
        ds = server.ds
        uid = _push_vector_sample(api, ds, folder, "HTTP_VECTOR")
        found = api.get(f"{ds}/processings", params={"name": VECTOR_PROCESSING})
        assert _total(found) == 1
        processing = api.get(f"{ds}/processings/{found.json()[0]['_id']}").json()
        body = {
            "processing": processing["_id"],
            "inputs": {"upload": [uid]},
            "output": {"stored_data": {"name": "HTTP_VECTOR_DB", "storage_tags": ["VECTEUR"]}},
            "parameters": {},
        }
        created = api.post(f"{ds}/processings/executions", json=body)
        assert created.status_code == 201, created.text
        execution = created.json()
        assert execution["status"] == "CREATED"
        assert execution["processing"]["name"] == VECTOR_PROCESSING
        assert execution["inputs"]["upload"][0]["_id"] == uid
        assert execution["parameters"] == {}
        sid = execution["output"]["stored_data"]["_id"]
        launched = api.post(
            f"{ds}/processings/executions/{execution['_id']}/launch",
            headers={"Content-Type": "application/json"},
        )
        assert launched.is_success, launched.text
        final = _wait(
            api, f"{ds}/processings/executions/{execution['_id']}", {"SUCCESS", "FAILURE", "ABORTED"}
        )
        assert final["status"] == "SUCCESS", api.get(
            f"{ds}/processings/executions/{execution['_id']}/logs"
        ).json()
        yield {
            "upload": uid,
            "execution": execution["_id"],
            "stored_data": sid,
            "processing": processing["_id"],
        }


def test_execution_logs_paging(server: ServerHandle, api: httpx.Client, vector_db: dict[str, Any]) -> None:
    url = f"{server.ds}/processings/executions/{vector_db['execution']}/logs"
    everything = api.get(url, params={"page": 1, "limit": 2000})
    lines = everything.json()
    assert lines and all(isinstance(line, str) for line in lines)
    assert _total(everything) == len(lines)
    paged: list[str] = []
    page = 1
    while len(paged) < len(lines):
        response = api.get(url, params={"page": page, "limit": 2})
        assert _total(response) == len(lines)
        assert 1 <= len(response.json()) <= 2
        paged += response.json()
        page += 1
    assert paged == lines
    assert api.get(url, params={"page": page, "limit": 2}).json() == []
    assert api.get(url, params={"limit": "zero"}).status_code == 400
    assert api.get(f"{server.ds}/processings/executions/{uuid.uuid4()}/logs").status_code == 404


def test_execution_listing_and_stored_data(
    server: ServerHandle, api: httpx.Client, vector_db: dict[str, Any]
) -> None:
    ds = server.ds
    by_output = api.get(
        f"{ds}/processings/executions", params={"output_stored_data": vector_db["stored_data"]}
    )
    assert [e["_id"] for e in by_output.json()] == [vector_db["execution"]] and _total(by_output) == 1
    by_input = api.get(f"{ds}/processings/executions", params={"input_upload": vector_db["upload"]})
    assert vector_db["execution"] in [e["_id"] for e in by_input.json()]
    events = api.get(f"{ds}/uploads/{vector_db['upload']}/events")
    assert events.status_code == 200 and _total(events) == len(events.json()) >= 1
    assert all(e["title"] and e["date"] for e in events.json())
    stored = api.get(f"{ds}/stored_data/{vector_db['stored_data']}").json()
    assert (
        stored["name"] == "HTTP_VECTOR_DB"
        and stored["status"] == "GENERATED"
        and stored["type"] == "VECTOR-DB"
    )
    listed = api.get(
        f"{ds}/stored_data", params=[("name", "HTTP_VECTOR_DB"), ("type", "VECTOR-DB"), ("fields", "name")]
    )
    assert _total(listed) == 1
    assert (
        api.patch(f"{ds}/stored_data/{stored['_id']}", json={"description": "d2"}).json()["description"]
        == "d2"
    )
    assert api.post(f"{ds}/stored_data/{stored['_id']}/tags", json={"k": "v"}).is_success
    assert _total(api.get(f"{ds}/stored_data", params={"tags[k]": "v"})) == 1
    assert api.post(f"{ds}/stored_data/{stored['_id']}/comments", json={"text": "hello"}).is_success


def test_execution_bad_bodies_and_abort(
    server: ServerHandle, api: httpx.Client, vector_db: dict[str, Any]
) -> None:
    ds = server.ds
    url = f"{ds}/processings/executions"
    no_processing = api.post(url, json={"inputs": {"upload": [vector_db["upload"]]}})
    assert no_processing.status_code == 400 and "processing" in no_processing.json()["error_description"][0]
    bare_ids = api.post(url, json={"processing": vector_db["processing"], "inputs": {"upload": "x"}})
    assert bare_ids.status_code == 400 and "inputs.upload" in bare_ids.json()["error_description"][0]
    unknown = api.post(
        url, json={"processing": str(uuid.uuid4()), "inputs": {"upload": [vector_db["upload"]]}}
    )
    assert unknown.status_code in (400, 404)
    body = {
        "processing": vector_db["processing"],
        "inputs": {"upload": [vector_db["upload"]]},
        "output": {"stored_data": {"name": "HTTP_ABORTED"}},
        "parameters": {},
    }
    execution = api.post(url, json=body).json()
    assert execution["status"] == "CREATED"
    aborted = api.post(f"{url}/{execution['_id']}/abort", headers={"Content-Type": "application/json"})
    assert aborted.is_success, aborted.text
    assert api.get(f"{url}/{execution['_id']}").json()["status"] == "ABORTED"
    again = api.post(f"{url}/{execution['_id']}/abort")
    assert again.status_code == 409 and again.json()["error_description"]
    assert api.post(f"{url}/{uuid.uuid4()}/launch").status_code == 404


def test_configuration_offering_lifecycle(
    server: ServerHandle, api: httpx.Client, vector_db: dict[str, Any]
) -> None:
    ds = server.ds
    endpoints = [e["endpoint"] for e in api.get(ds).json()["endpoints"]]
    wfs = next(e for e in endpoints if e["technical_name"] == "gpf-geoserver-wfs")
    relation = {"native_name": "zones", "public_name": "zones", "title": "Zones", "abstract": "Zones"}
    body = {
        "type": "WFS",
        "name": "HTTP_WFS",
        "layer_name": "http_wfs",
        "type_infos": {
            "title": "Zones",
            "abstract": "Zones",
            "keywords": ["zones"],
            "used_data": [{"stored_data": vector_db["stored_data"], "relations": [relation]}],
        },
    }
    missing = api.post(f"{ds}/configurations", json={k: v for k, v in body.items() if k != "layer_name"})
    assert missing.status_code == 400 and "layer_name" in missing.json()["error_description"][0]
    created = api.post(f"{ds}/configurations", json=body)
    assert created.status_code == 201, created.text
    config = created.json()
    assert config["_id"] and config["name"] == "HTTP_WFS"
    found = api.get(f"{ds}/configurations", params={"name": "HTTP_WFS", "layer_name": "http_wfs"})
    assert _total(found) == 1
    # PUT with server-owned fields in the body (spec §10.16)
    full = api.get(f"{ds}/configurations/{config['_id']}").json()
    full["type_infos"]["title"] = "Zones v2"
    put = api.put(f"{ds}/configurations/{config['_id']}", json=full)
    assert put.status_code == 200, put.text
    assert api.get(f"{ds}/configurations/{config['_id']}").json()["type_infos"]["title"] == "Zones v2"
    bad_offering = api.post(f"{ds}/configurations/{config['_id']}/offerings", json={"open": True})
    assert bad_offering.status_code == 400 and "endpoint" in bad_offering.json()["error_description"][0]
    offered = api.post(
        f"{ds}/configurations/{config['_id']}/offerings", json={"endpoint": wfs["_id"], "open": True}
    )
    assert offered.status_code == 201, offered.text
    offering = offered.json()
    assert "urls" in offering
    oid = offering["_id"]
    published = _wait(api, f"{ds}/offerings/{oid}", {"PUBLISHED", "UNSTABLE"})
    assert published["status"] == "PUBLISHED"
    urls = [u["url"] if isinstance(u, dict) else u for u in published["urls"]]
    assert any(u.startswith(server.base_url + "/wfs") for u in urls), urls
    assert published["configuration"]["_id"] == config["_id"] and published["endpoint"]["_id"] == wfs["_id"]
    listed = api.get(f"{ds}/configurations/{config['_id']}/offerings").json()
    assert [o["_id"] for o in listed] == [oid]
    # offerings have no tags: tag filters are ignored
    by_conf = api.get(f"{ds}/offerings", params={"configuration": config["_id"], "tags[x]": "y"})
    assert [o["_id"] for o in by_conf.json()] == [oid] and _total(by_conf) == 1
    again = api.post(
        f"{ds}/configurations/{config['_id']}/offerings", json={"endpoint": wfs["_id"], "open": True}
    )
    assert again.status_code == 409
    patched = api.patch(f"{ds}/offerings/{oid}", json={"open": False})
    assert patched.status_code == 200 and patched.json()["open"] is False, patched.text
    synced = api.put(f"{ds}/offerings/{oid}", headers={"Content-Type": "application/json"})
    assert synced.status_code == 200, synced.text
    assert _wait(api, f"{ds}/offerings/{oid}", {"PUBLISHED", "UNSTABLE"})["status"] == "PUBLISHED"
    # a configuration with an offering cannot be deleted
    busy = api.delete(f"{ds}/configurations/{config['_id']}")
    assert busy.status_code == 409 and busy.json()["error_description"]
    # first DELETE only unpublishes (still readable), the second removes it
    assert api.delete(f"{ds}/offerings/{oid}", headers={"Content-Type": "application/json"}).is_success
    assert _wait(api, f"{ds}/offerings/{oid}", {"UNPUBLISHED"})["status"] == "UNPUBLISHED"
    assert api.delete(f"{ds}/offerings/{oid}").is_success
    assert api.get(f"{ds}/offerings/{oid}").status_code == 404
    assert api.delete(f"{ds}/configurations/{config['_id']}").is_success
    assert api.get(f"{ds}/configurations/{config['_id']}").status_code == 404


def test_statics_permissions_keys(server: ServerHandle, api: httpx.Client, tmp_path: Path) -> None:
    ds = server.ds
    sld = tmp_path / "style.sld"
    sld.write_text('<?xml version="1.0"?><StyledLayerDescriptor version="1.0.0"/>')
    with sld.open("rb") as fh:
        created = api.post(
            f"{ds}/statics",
            params={"name": "http_style", "type": "GEOSERVER-STYLE", "description": "a style"},
            files={"file": ("style.sld", fh)},
        )
    assert created.status_code == 201, created.text
    static = created.json()
    assert static["name"] == "http_style" and static["type"] == "GEOSERVER-STYLE"
    assert _total(api.get(f"{ds}/statics", params={"name": "http_style"})) == 1
    downloaded = api.get(f"{ds}/statics/{static['_id']}/file")
    assert downloaded.status_code == 200 and downloaded.content == sld.read_bytes()
    with sld.open("rb") as fh:
        no_name = api.post(f"{ds}/statics", params={"type": "GEOSERVER-STYLE"}, files={"file": fh})
    assert no_name.status_code == 400 and "name" in no_name.json()["error_description"][0]
    key = api.post("/users/me/keys", json={"name": "http_key", "type": "HASH", "type_infos": {"hash": "abc"}})
    assert key.status_code == 201, key.text
    assert any(k["_id"] == key.json()["_id"] for k in api.get("/users/me/keys").json())
    assert api.get(f"/users/me/keys/{key.json()['_id']}").status_code == 200
    assert api.get(f"/users/me/keys/{uuid.uuid4()}").status_code == 404
    created_perms = api.post(
        f"{ds}/permissions", json={"licence": "test", "offerings": [], "only_oauth": False}
    )
    assert created_perms.status_code == 201, created_perms.text
    assert isinstance(created_perms.json(), list) and len(created_perms.json()) == 1
    pid = created_perms.json()[0]["_id"]
    assert pid in [p["_id"] for p in api.get(f"{ds}/permissions").json()]
    assert api.patch(f"{ds}/permissions/{pid}", json={"licence": "v2"}).json()["licence"] == "v2"
    access = api.post(
        f"/users/me/keys/{key.json()['_id']}/accesses", json={"permission": pid, "offerings": []}
    )
    assert access.status_code in (200, 204), access.text  # the SDK accepts only these two
    accesses = api.get(f"/users/me/keys/{key.json()['_id']}/accesses")
    assert [a["permission"] for a in accesses.json()] == [pid] and _total(accesses) == 1
    bad_access = api.post(
        f"/users/me/keys/{key.json()['_id']}/accesses", json={"permission": str(uuid.uuid4())}
    )
    assert bad_access.status_code == 400 and "permission" in bad_access.json()["error_description"][0]
    assert api.post(f"/users/me/keys/{uuid.uuid4()}/accesses", json={"permission": pid}).status_code == 404
    assert api.delete(f"{ds}/permissions/{pid}").is_success
    assert api.get(f"{ds}/permissions/{pid}").status_code == 404
    assert api.delete(f"/users/me/keys/{key.json()['_id']}").is_success
    assert api.get(f"/users/me/keys/{key.json()['_id']}").status_code == 404


def test_unknown_routes_and_methods(server: ServerHandle, api: httpx.Client) -> None:
    missing = api.get("/no/such/route")
    assert missing.status_code == 404 and missing.json()["error_description"]
    not_allowed = api.put(f"{server.ds}/uploads")
    assert not_allowed.status_code == 405 and not_allowed.json()["error_description"]
    assert api.get(f"{server.ds}/processings/{uuid.uuid4()}").status_code == 404
    assert api.delete(f"{server.ds}/processings/executions/{uuid.uuid4()}").status_code == 404
