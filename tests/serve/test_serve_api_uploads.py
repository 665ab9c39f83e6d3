"""Uploads over HTTP: create, validation, multipart push (SDK-style), tree, md5, delete, close/checks,
tags, comments, listing filters and paging with ``Content-Range``."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from requests_toolbelt import MultipartEncoder

ServerHandle = Any


def _create_upload(api: httpx.Client, ds: str, name: str, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "description": "test", "type": "VECTOR", "srs": "EPSG:2154", **extra}
    response = api.post(f"{ds}/uploads", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _sdk_multipart(
    api: httpx.Client, url: str, path: Path, params: dict[str, str] | None = None
) -> httpx.Response:
    """Send a file exactly like the SDK: requests_toolbelt, one part 'file', no part content-type."""
    with path.open("rb") as fh:
        encoder = MultipartEncoder(fields={"file": (path.name, fh)})
        body = encoder.to_string()
    return api.post(url, params=params, content=body, headers={"Content-Type": encoder.content_type})


def _total(response: httpx.Response) -> int:
    match = re.fullmatch(r"(\d+)-(\d+)/(\d+)", response.headers["content-range"])
    assert match, response.headers["content-range"]
    return int(match.group(3))


def test_user_and_datastore(server: ServerHandle, api: httpx.Client) -> None:
    me = api.get("/users/me").json()
    assert me["_id"] and "last_name" in me
    datastores = [m["community"]["datastore"] for m in me["communities_member"]]
    assert server.datastore in datastores
    ds = api.get(server.ds, headers={"Content-Type": "application/json"})
    assert ds.status_code == 200
    endpoints = [e["endpoint"] for e in ds.json()["endpoints"]]
    names = {e["technical_name"] for e in endpoints}
    assert {"gpf-geoserver-wfs", "gpf-rok4-server-wms-r", "gpf-rok4-server-wmts-tms"} <= names
    only_wfs = api.get(f"{server.ds}/endpoints", params={"technical_name": "gpf-geoserver-wfs"})
    # items are DatastoreEndpointStandardResponseDto: {use, quota, endpoint}
    assert _total(only_wfs) == 1 and only_wfs.json()[0]["endpoint"]["technical_name"] == "gpf-geoserver-wfs"
    unknown = api.get(f"/datastores/{uuid.uuid4()}")
    assert unknown.status_code == 404
    assert isinstance(unknown.json()["error_description"], list)
    assert api.get(f"/datastores/{uuid.uuid4()}/uploads").status_code == 404


def test_upload_create_validation_and_404(server: ServerHandle, api: httpx.Client) -> None:
    ds = server.ds
    missing = api.post(f"{ds}/uploads", json={"name": "X", "type": "VECTOR"})
    assert missing.status_code == 400
    assert "srs" in missing.json()["error_description"][0]
    wrong = api.post(f"{ds}/uploads", json={"name": 3, "type": "VECTOR", "srs": "EPSG:2154"})
    assert wrong.status_code == 400 and "name" in wrong.json()["error_description"][0]
    not_json = api.post(f"{ds}/uploads", content=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error_description"][0]
    empty = api.post(f"{ds}/uploads", headers={"Content-Type": "application/json"})
    assert empty.status_code == 400
    unknown = str(uuid.uuid4())
    for method, suffix in (
        ("GET", ""),
        ("GET", "/tree"),
        ("GET", "/checks"),
        ("DELETE", ""),
        ("POST", "/close"),
    ):
        response = api.request(
            method, f"{ds}/uploads/{unknown}{suffix}", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 404, (method, suffix, response.text)
        assert response.json()["error_description"]


def test_push_tree_md5_delete_close_checks(server: ServerHandle, api: httpx.Client, tmp_path: Path) -> None:
    ds = server.ds
    upload = _create_upload(api, ds, "PUSHED_" + uuid.uuid4().hex[:6], tags={"ignored": "x"})
    uid = upload["_id"]
    assert upload["name"].startswith("PUSHED_")
    assert api.get(f"{ds}/uploads/{uid}").json()["status"] == "OPEN"
    data = tmp_path / "notes.txt"
    data.write_text("hello\n" * 100)
    other = tmp_path / "other.txt"
    other.write_text("x")
    assert _sdk_multipart(api, f"{ds}/uploads/{uid}/data", data, {"path": "DIR/notes.txt"}).is_success
    assert _sdk_multipart(api, f"{ds}/uploads/{uid}/data", other, {"path": "DIR/sub/other.txt"}).is_success
    md5 = tmp_path / "DIR.md5"
    md5.write_text(
        f"{hashlib.md5(data.read_bytes()).hexdigest()}  DIR/notes.txt\n"
        f"{hashlib.md5(other.read_bytes()).hexdigest()}  DIR/sub/other.txt\n"
    )
    assert _sdk_multipart(api, f"{ds}/uploads/{uid}/md5", md5).is_success
    tree = api.get(f"{ds}/uploads/{uid}/tree").json()
    flat = _flatten(tree)
    assert flat == {"DIR/notes.txt": 600, "DIR/sub/other.txt": 1, "DIR.md5": md5.stat().st_size}
    # missing path, escaping path, missing file part
    no_path = _sdk_multipart(api, f"{ds}/uploads/{uid}/data", data)
    assert no_path.status_code == 400 and "path" in no_path.json()["error_description"][0]
    escaping = _sdk_multipart(api, f"{ds}/uploads/{uid}/data", data, {"path": "../evil.txt"})
    assert escaping.status_code == 400
    no_file = api.post(f"{ds}/uploads/{uid}/data", params={"path": "a.txt"}, data={"x": "1"})
    assert no_file.status_code == 400 and "file" in no_file.json()["error_description"][0]
    # the SDK CLI inverts the delete routes (spec §10.18): both accept any path
    assert api.delete(f"{ds}/uploads/{uid}/md5", params={"path": "DIR/sub/other.txt"}).is_success
    assert api.delete(f"{ds}/uploads/{uid}/data", params={"path": "DIR.md5"}).is_success
    assert _flatten(api.get(f"{ds}/uploads/{uid}/tree").json()) == {"DIR/notes.txt": 600}
    # close (body-less POST with a JSON content-type), then checks run to the end
    closed = api.post(f"{ds}/uploads/{uid}/close", headers={"Content-Type": "application/json"})
    assert closed.is_success, closed.text
    checks = api.get(f"{ds}/uploads/{uid}/checks").json()
    assert set(checks) == {"asked", "in_progress", "passed", "failed"}
    assert any(checks.values()), "the checks document must not be all-empty right after close"
    deadline = time.monotonic() + 60
    while checks["asked"] or checks["in_progress"]:
        assert time.monotonic() < deadline, checks
        time.sleep(0.3)
        checks = api.get(f"{ds}/uploads/{uid}/checks").json()
    for item in checks["passed"] + checks["failed"]:
        assert item["_id"] and item["check"]["_id"] and item["check"]["name"]
        execution = api.get(f"{ds}/checks/executions/{item['_id']}").json()
        assert execution["status"] in ("SUCCESS", "FAILURE")
        logs = api.get(f"{ds}/checks/executions/{item['_id']}/logs", params={"page": 1, "limit": 2000})
        assert logs.status_code == 200 and isinstance(logs.json(), list)
        assert _total(logs) == len(logs.json())
    status = api.get(f"{ds}/uploads/{uid}").json()["status"]
    assert status in ("CLOSED", "UNSTABLE")
    # pushing into a closed upload conflicts
    late = _sdk_multipart(api, f"{ds}/uploads/{uid}/data", other, {"path": "DIR/late.txt"})
    assert late.status_code == 409, late.text
    assert api.post(f"{ds}/uploads/{uid}/open").is_success
    assert api.get(f"{ds}/uploads/{uid}").json()["status"] == "OPEN"
    listed = api.get(f"{ds}/checks")
    assert listed.status_code == 200 and _total(listed) >= 1
    assert api.get(f"{ds}/checks/{listed.json()[0]['_id']}").status_code == 200
    assert api.delete(f"{ds}/uploads/{uid}", headers={"Content-Type": "application/json"}).is_success
    assert api.get(f"{ds}/uploads/{uid}").status_code == 404


def _flatten(nodes: list[dict[str, Any]], prefix: str = "") -> dict[str, int]:
    flat: dict[str, int] = {}
    for node in nodes:
        path = f"{prefix}{node['name']}"
        if node["type"].upper() == "DIRECTORY":
            flat.update(_flatten(node["children"], path + "/"))
        else:
            assert node["type"].upper() == "FILE" and isinstance(node["size"], int)
            flat[path] = node["size"]
    return flat


def test_tags_comments_and_patch(server: ServerHandle, api: httpx.Client) -> None:
    ds = server.ds
    uid = _create_upload(api, ds, "TAGGED_" + uuid.uuid4().hex[:6])["_id"]
    assert api.post(f"{ds}/uploads/{uid}/tags", json={"a": "1", "b": "2"}).is_success
    assert api.post(f"{ds}/uploads/{uid}/tags", json={"c": "3"}).is_success
    assert api.get(f"{ds}/uploads/{uid}").json()["tags"] == {"a": "1", "b": "2", "c": "3"}
    bad_tags = api.post(f"{ds}/uploads/{uid}/tags", json=["a"])
    assert bad_tags.status_code == 400
    removed = api.delete(f"{ds}/uploads/{uid}/tags", params=[("tags[]", "a"), ("tags[]", "c")])
    assert removed.is_success
    assert api.get(f"{ds}/uploads/{uid}").json()["tags"] == {"b": "2"}
    assert api.delete(f"{ds}/uploads/{uid}/tags").status_code == 400
    for _ in range(2):  # duplicates are accepted (spec §10.17)
        assert api.post(f"{ds}/uploads/{uid}/comments", json={"text": "same"}).is_success
    no_text = api.post(f"{ds}/uploads/{uid}/comments", json={"txt": "x"})
    assert no_text.status_code == 400 and "text" in no_text.json()["error_description"][0]
    comments = api.get(f"{ds}/uploads/{uid}/comments").json()
    assert [c["text"] for c in comments] == ["same", "same"]
    assert api.delete(f"{ds}/uploads/{uid}/comments/{comments[0]['_id']}").is_success
    assert len(api.get(f"{ds}/uploads/{uid}/comments").json()) == 1
    patched = api.patch(f"{ds}/uploads/{uid}", json={"description": "changed"})
    assert patched.status_code == 200 and patched.json()["description"] == "changed"
    assert api.patch(f"{ds}/uploads/{uid}", json=["x"]).status_code == 400


def test_listing_filters_and_paging(server: ServerHandle, api: httpx.Client) -> None:
    ds = server.ds
    prefix = "PAGED_" + uuid.uuid4().hex[:6]
    ids = [_create_upload(api, ds, f"{prefix}_{i:02d}")["_id"] for i in range(12)]
    api.post(f"{ds}/uploads/{ids[3]}/tags", json={"tuto": "oui"})
    fields = [("fields", f) for f in ("name", "type", "open", "srs", "status", "size")]
    seen: list[str] = []
    for page, expected in ((1, 5), (2, 5), (3, 2)):
        response = api.get(
            f"{ds}/uploads",
            params=[("name", f"{prefix}%"), *fields, ("page", str(page)), ("limit", "5")],
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200
        assert len(response.json()) == expected
        assert _total(response) == 12
        first, last = re.match(r"(\d+)-(\d+)/", response.headers["content-range"]).groups()  # type: ignore[union-attr]
        assert int(last) - int(first) + 1 == expected
        seen += [u["_id"] for u in response.json()]
    assert seen == ids  # creation order, every entity once
    beyond = api.get(f"{ds}/uploads", params={"name": f"{prefix}%", "page": 4, "limit": 5})
    assert beyond.json() == [] and _total(beyond) == 12
    exact = api.get(f"{ds}/uploads", params={"name": f"{prefix}_07"})
    assert [u["_id"] for u in exact.json()] == [ids[7]] and _total(exact) == 1
    tagged = api.get(f"{ds}/uploads", params={"name": f"{prefix}%", "tags[tuto]": "oui"})
    assert [u["_id"] for u in tagged.json()] == [ids[3]] and _total(tagged) == 1
    nothing = api.get(f"{ds}/uploads", params={"name": "NO_SUCH_UPLOAD"})
    assert nothing.json() == [] and _total(nothing) == 0
    for bad in ({"page": "0"}, {"page": "x"}, {"limit": "-1"}):
        response = api.get(f"{ds}/uploads", params=bad)
        assert response.status_code == 400
        assert next(iter(bad)) in response.json()["error_description"][0]


@pytest.mark.parametrize("route", ["/statics/tms", "/statics/tms/PM"])
def test_tms_routes(api: httpx.Client, route: str) -> None:
    response = api.get(route)
    assert response.status_code == 200
    if route.endswith("tms"):
        assert "PM" in [t["_id"] for t in response.json()]  # TileMatrixSetListDto items
    else:
        assert response.json()["tileMatrices"]
    assert api.get("/statics/tms/NOPE").status_code == 404
