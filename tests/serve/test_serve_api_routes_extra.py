"""The routes of spec §3 that came last: re-running upload checks, check listings and check-execution
cancel/logs, static re-upload/edit/delete/download, comment edits on every commented entity type and
withdrawing a key's access; each with its success and its 400/404/409 answers."""

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
STANDARD_CHECK = "Vérification standard"
JSON = {"Content-Type": "application/json"}


def _total(response: httpx.Response) -> int:
    match = re.fullmatch(r"(\d+)-(\d+)/(\d+)", response.headers["content-range"])
    assert match, response.headers["content-range"]
    return int(match.group(3))


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    description = response.json()["error_description"]
    assert isinstance(description, list) and description
    return str(description[0])


def _checks_done(api: httpx.Client, ds: str, uid: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        checks = dict(api.get(f"{ds}/uploads/{uid}/checks").json())
        if not checks["asked"] and not checks["in_progress"]:
            return checks
        assert time.monotonic() < deadline, checks
        time.sleep(0.3)


def _new_upload(api: httpx.Client, ds: str, name: str) -> str:
    body = {"name": name, "description": "d", "type": "VECTOR", "srs": "EPSG:2154"}
    created = api.post(f"{ds}/uploads", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["_id"])


def _push_folder(api: httpx.Client, ds: str, uid: str, folder: Path) -> None:
    for path in sorted((folder / "ZONES").iterdir()):
        with path.open("rb") as fh:
            sent = api.post(
                f"{ds}/uploads/{uid}/data", params={"path": f"ZONES/{path.name}"}, files={"file": fh}
            )
        assert sent.is_success, sent.text
    with (folder / "ZONES.md5").open("rb") as fh:
        assert api.post(f"{ds}/uploads/{uid}/md5", files={"file": ("ZONES.md5", fh)}).is_success


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gpf_flow.datasets import write_dataset

    return write_dataset("vector-sample", tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def closed_upload(server: ServerHandle, sample: Path) -> str:
    """A vector upload pushed, closed and checked (every check passed)."""
    with server.client() as api:
        uid = _new_upload(api, server.ds, "EXTRA_VECTOR")
        _push_folder(api, server.ds, uid, sample)
        assert api.post(f"{server.ds}/uploads/{uid}/close", headers=JSON).is_success
        checks = _checks_done(api, server.ds, uid)
        assert checks["failed"] == [] and checks["passed"], checks
        assert api.get(f"{server.ds}/uploads/{uid}").json()["status"] == "CLOSED"
    return uid


def _check_id(api: httpx.Client, ds: str, name: str) -> str:
    found = [c for c in api.get(f"{ds}/checks", params={"limit": 100}).json() if c["name"] == name]
    assert len(found) == 1, found
    return str(found[0]["_id"])


# -- checks and check executions ---------------------------------------------------------------


def test_checks_and_check_executions_listing(
    server: ServerHandle, api: httpx.Client, closed_upload: str
) -> None:
    ds = server.ds
    checks = api.get(f"{ds}/checks", headers=JSON)
    assert checks.status_code == 200 and _total(checks) == len(checks.json()) >= 1
    assert {"_id", "name", "description"} <= set(checks.json()[0])
    standard = _check_id(api, ds, STANDARD_CHECK)
    assert api.get(f"{ds}/checks/{standard}").json()["name"] == STANDARD_CHECK
    _error(api.get(f"{ds}/checks/{uuid.uuid4()}"), 404)

    passed = api.get(f"{ds}/uploads/{closed_upload}/checks").json()["passed"]
    executions = api.get(f"{ds}/checks/executions", params={"limit": 100})
    assert executions.status_code == 200
    listed = {e["_id"] for e in executions.json()}
    assert {p["_id"] for p in passed} <= listed and _total(executions) == len(listed)
    one = api.get(f"{ds}/checks/executions/{passed[0]['_id']}").json()
    assert one["status"] == "SUCCESS" and one["check"]["_id"] == passed[0]["check"]["_id"]
    _error(api.get(f"{ds}/checks/executions/{uuid.uuid4()}"), 404)

    # logs: the processing-log protocol (page/limit, Content-Range with the exact total)
    url = f"{ds}/checks/executions/{passed[0]['_id']}/logs"
    everything = api.get(url, params={"page": 1, "limit": 2000})
    lines = everything.json()
    assert lines and all(isinstance(line, str) for line in lines)
    assert _total(everything) == len(lines)
    first = api.get(url, params={"page": 1, "limit": 1})
    assert first.json() == lines[:1] and first.headers["content-range"] == f"0-0/{len(lines)}"
    beyond = api.get(url, params={"page": len(lines) + 1, "limit": 1})
    assert beyond.json() == [] and _total(beyond) == len(lines)
    _error(api.get(url, params={"page": 0}), 400)
    _error(api.get(f"{ds}/checks/executions/{uuid.uuid4()}/logs"), 404)


def test_run_checks_again(server: ServerHandle, api: httpx.Client, closed_upload: str) -> None:
    ds = server.ds
    url = f"{ds}/uploads/{closed_upload}/checks"
    standard = _check_id(api, ds, STANDARD_CHECK)
    before = api.get(url).json()["passed"]
    old = {p["check"]["_id"]: p["_id"] for p in before}
    assert standard in old and len(old) >= 2

    ran = api.post(url, json=[standard])
    assert ran.status_code == 204, ran.text
    assert api.get(f"{ds}/uploads/{closed_upload}").json()["status"] in ("CHECKING", "CLOSED")
    after = _checks_done(api, ds, closed_upload)
    assert after["failed"] == []
    new = {p["check"]["_id"]: p["_id"] for p in after["passed"]}
    assert set(new) == set(old)
    # the asked check has a new execution (the old one is replaced), the others are untouched
    assert new[standard] != old[standard]
    _error(api.get(f"{ds}/checks/executions/{old[standard]}"), 404)
    assert all(new[c] == old[c] for c in old if c != standard)
    assert api.get(f"{ds}/checks/executions/{new[standard]}").json()["status"] == "SUCCESS"
    assert api.get(f"{ds}/uploads/{closed_upload}").json()["status"] == "CLOSED"

    # bad bodies name what is wrong
    assert "check" in _error(api.post(url, json=[str(uuid.uuid4())]), 400)
    _error(api.post(url, json=[]), 400)
    _error(api.post(url, json={"checks": [standard]}), 400)
    _error(api.post(url, json=[3]), 400)
    _error(api.post(url, headers=JSON), 400)
    # unknown upload, unknown datastore
    _error(api.post(f"{ds}/uploads/{uuid.uuid4()}/checks", json=[standard]), 404)
    _error(api.post(f"/datastores/{uuid.uuid4()}/uploads/{closed_upload}/checks", json=[standard]), 404)


def test_run_checks_on_an_open_upload_conflicts(server: ServerHandle, api: httpx.Client) -> None:
    ds = server.ds
    uid = _new_upload(api, ds, "EXTRA_OPEN")
    standard = _check_id(api, ds, STANDARD_CHECK)
    assert "OPEN" in _error(api.post(f"{ds}/uploads/{uid}/checks", json=[standard]), 409)
    assert api.get(f"{ds}/uploads/{uid}").json()["status"] == "OPEN"


def test_cancel_pending_check_executions(server: ServerHandle, api: httpx.Client, sample: Path) -> None:
    """The SDK's Ctrl-C path: DELETE the check executions still asked or in progress, then re-open."""
    ds = server.ds
    for attempt in range(5):
        # several uploads closed at once queue more checks than there are workers
        uids = [_new_upload(api, ds, f"EXTRA_CANCEL_{attempt}_{i}") for i in range(3)]
        for uid in uids:
            _push_folder(api, ds, uid, sample)
        for uid in uids:
            assert api.post(f"{ds}/uploads/{uid}/close", headers=JSON).is_success
        pending = []
        for uid in reversed(uids):
            checks = api.get(f"{ds}/uploads/{uid}/checks").json()
            pending = [(uid, item) for item in checks["asked"] + checks["in_progress"]]
            if pending:
                break
        if pending:
            break
    else:
        pytest.fail("no check execution was ever seen pending after closing 15 uploads")
    uid, item = pending[0]
    cancelled = api.delete(f"{ds}/checks/executions/{item['_id']}", headers=JSON)
    assert cancelled.status_code == 204, cancelled.text
    _error(api.get(f"{ds}/checks/executions/{item['_id']}"), 404)
    _error(api.delete(f"{ds}/checks/executions/{item['_id']}"), 404)
    # the upload does not wait for the cancelled check and can be re-opened, as the SDK does next
    after = _checks_done(api, ds, uid)
    ids = {i["_id"] for group in after.values() for i in group}
    assert item["_id"] not in ids
    assert api.get(f"{ds}/uploads/{uid}").json()["status"] in ("CLOSED", "UNSTABLE")
    assert api.post(f"{ds}/uploads/{uid}/open", headers=JSON).status_code == 204
    assert api.get(f"{ds}/uploads/{uid}").json()["status"] == "OPEN"
    _error(api.delete(f"{ds}/checks/executions/{uuid.uuid4()}"), 404)


# -- statics -----------------------------------------------------------------------------------


def _create_static(api: httpx.Client, ds: str, path: Path, name: str) -> dict[str, Any]:
    with path.open("rb") as fh:
        created = api.post(
            f"{ds}/statics",
            params={"name": name, "type": "GEOSERVER-STYLE", "description": "first"},
            files={"file": fh},
        )
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_static_reupload_edit_download_delete(
    server: ServerHandle, api: httpx.Client, tmp_path: Path
) -> None:
    ds = server.ds
    first = tmp_path / "first.sld"
    first.write_text("<StyledLayerDescriptor>first</StyledLayerDescriptor>")
    static = _create_static(api, ds, first, "extra_style")
    sid = static["_id"]
    url = f"{ds}/statics/{sid}"
    assert api.get(f"{url}/file").content == first.read_bytes()

    # PUT: multipart re-upload of the file (another name is fine), metadata kept
    second = tmp_path / "second.sld"
    second.write_bytes(b"<StyledLayerDescriptor>second version</StyledLayerDescriptor>")
    with second.open("rb") as fh:
        replaced = api.put(url, files={"file": fh})
    assert replaced.status_code == 200, replaced.text
    entity = replaced.json()
    assert entity["_id"] == sid and entity["name"] == "extra_style" and entity["type"] == "GEOSERVER-STYLE"
    assert entity["file_name"] == "second.sld" and entity["size"] == second.stat().st_size
    downloaded = api.get(f"{url}/file")
    assert downloaded.status_code == 200 and downloaded.content == second.read_bytes()
    assert "second.sld" in downloaded.headers["content-disposition"]
    assert (server.home / "statics" / sid / "first.sld").exists() is False
    with second.open("rb") as fh:
        _error(api.put(f"{ds}/statics/{uuid.uuid4()}", files={"file": fh}), 404)
    _error(api.put(url, json={"name": "x"}), 400)
    _error(api.put(url, data={"file": "not a file part"}), 400)

    # PATCH: name and description; server-owned fields are ignored
    patched = api.patch(url, json={"name": "renamed_style", "description": "second", "type": "ROK4-STYLE"})
    assert patched.status_code == 200, patched.text
    got = api.get(url).json()
    assert (got["name"], got["description"], got["type"]) == ("renamed_style", "second", "GEOSERVER-STYLE")
    assert _total(api.get(f"{ds}/statics", params={"name": "renamed_style"})) == 1
    assert "name" in _error(api.patch(url, json={"name": ""}), 400)
    _error(api.patch(url, json={"description": 5}), 400)
    _error(api.patch(f"{ds}/statics/{uuid.uuid4()}", json={"name": "x"}), 404)

    # DELETE: gone, with its file
    assert api.delete(url, headers=JSON).status_code == 204
    _error(api.get(url), 404)
    _error(api.get(f"{url}/file"), 404)
    _error(api.delete(url), 404)
    assert not (server.home / "statics" / sid).exists()


# -- comments ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def commented(
    server: ServerHandle, closed_upload: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """One entity of each commented type: upload, stored data, configuration, static (collection → id)."""
    ds = server.ds
    with server.client() as api:
        found = api.get(f"{ds}/processings", params={"name": VECTOR_PROCESSING}).json()
        body = {
            "processing": found[0]["_id"],
            "inputs": {"upload": [closed_upload]},
            "output": {"stored_data": {"name": "EXTRA_COMMENTED_DB"}},
            "parameters": {},
        }
        execution = api.post(f"{ds}/processings/executions", json=body)
        assert execution.status_code == 201, execution.text
        stored = execution.json()["output"]["stored_data"]["_id"]
        # a configuration needs a GENERATED stored data
        api.post(f"{ds}/processings/executions/{execution.json()['_id']}/launch")
        deadline = time.monotonic() + 90
        while api.get(f"{ds}/stored_data/{stored}").json()["status"] != "GENERATED":
            assert time.monotonic() < deadline, "the stored data did not become GENERATED"
            time.sleep(0.2)
        conf = api.post(
            f"{ds}/configurations",
            json={
                "type": "WFS",
                "name": "extra_commented",
                "layer_name": "extra_commented",
                "type_infos": {"used_data": [{"stored_data": stored, "relations": []}]},
            },
        )
        assert conf.status_code == 201, conf.text
        style = tmp_path_factory.mktemp("static") / "style.sld"
        style.write_text("<StyledLayerDescriptor/>")
        static = _create_static(api, ds, style, "extra_commented_style")
        yield {
            "uploads": closed_upload,
            "stored_data": stored,
            "configurations": conf.json()["_id"],
            "statics": static["_id"],
        }


@pytest.mark.parametrize("collection", ["uploads", "stored_data", "configurations", "statics"])
def test_edit_and_delete_comments(
    server: ServerHandle, api: httpx.Client, commented: dict[str, str], collection: str
) -> None:
    base = f"{server.ds}/{collection}/{commented[collection]}/comments"
    first = api.post(base, json={"text": "first"})
    second = api.post(base, json={"text": "second"})
    assert first.status_code == 201 and second.status_code == 201
    cid = first.json()["_id"]

    edited = api.put(f"{base}/{cid}", json={"text": "first, edited"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["_id"] == cid and edited.json()["text"] == "first, edited"
    texts = [c["text"] for c in api.get(base).json()]
    assert texts[-2:] == ["first, edited", "second"]  # same place, the other one untouched

    assert "text" in _error(api.put(f"{base}/{cid}", json={"txt": "x"}), 400)
    _error(api.put(f"{base}/{cid}", json={"text": ""}), 400)
    _error(api.put(f"{base}/{cid}", content=b"{nope", headers=JSON), 400)
    _error(api.put(f"{base}/{uuid.uuid4()}", json={"text": "x"}), 404)
    _error(api.put(f"{server.ds}/{collection}/{uuid.uuid4()}/comments/{cid}", json={"text": "x"}), 404)

    assert api.delete(f"{base}/{cid}", headers=JSON).status_code == 204
    assert cid not in {c["_id"] for c in api.get(base).json()}
    _error(api.delete(f"{base}/{cid}"), 404)
    _error(api.put(f"{base}/{cid}", json={"text": "too late"}), 404)


def test_comment_of_another_entity_is_not_found(
    server: ServerHandle, api: httpx.Client, commented: dict[str, str]
) -> None:
    ds = server.ds
    on_upload = api.post(f"{ds}/uploads/{commented['uploads']}/comments", json={"text": "mine"}).json()
    other = f"{ds}/statics/{commented['statics']}/comments/{on_upload['_id']}"
    _error(api.put(other, json={"text": "hijack"}), 404)
    _error(api.delete(other), 404)
    texts = [c["text"] for c in api.get(f"{ds}/uploads/{commented['uploads']}/comments").json()]
    assert "mine" in texts and "hijack" not in texts


# -- key accesses ------------------------------------------------------------------------------


def test_delete_key_access(server: ServerHandle, api: httpx.Client) -> None:
    key = api.post("/users/me/keys", json={"name": f"extra_key_{uuid.uuid4().hex[:6]}"})
    assert key.status_code == 201, key.text
    kid = key.json()["_id"]
    permission = api.post(f"{server.ds}/permissions", json={"licence": "extra", "offerings": []})
    assert permission.status_code == 201, permission.text
    pid = permission.json()[0]["_id"]
    for _ in range(2):
        granted = api.post(f"/users/me/keys/{kid}/accesses", json={"permission": pid, "offerings": []})
        assert granted.status_code in (200, 204), granted.text
    accesses = api.get(f"/users/me/keys/{kid}/accesses").json()
    assert len(accesses) == 2 and all(a["_id"] for a in accesses)

    removed = api.delete(f"/users/me/keys/{kid}/accesses/{accesses[0]['_id']}", headers=JSON)
    assert removed.status_code == 204, removed.text
    left = api.get(f"/users/me/keys/{kid}/accesses")
    assert [a["_id"] for a in left.json()] == [accesses[1]["_id"]] and _total(left) == 1
    _error(api.delete(f"/users/me/keys/{kid}/accesses/{accesses[0]['_id']}"), 404)
    _error(api.delete(f"/users/me/keys/{uuid.uuid4()}/accesses/{accesses[1]['_id']}"), 404)
    assert api.delete(f"/users/me/keys/{kid}").status_code == 204
    _error(api.delete(f"/users/me/keys/{kid}/accesses/{accesses[1]['_id']}"), 404)


def test_new_routes_need_a_token(server: ServerHandle, closed_upload: str) -> None:
    ds = server.ds
    for method, path in (
        ("POST", f"{ds}/uploads/{closed_upload}/checks"),
        ("PUT", f"{ds}/statics/{uuid.uuid4()}"),
        ("PUT", f"{ds}/uploads/{closed_upload}/comments/{uuid.uuid4()}"),
        ("DELETE", f"/users/me/keys/{uuid.uuid4()}/accesses/{uuid.uuid4()}"),
    ):
        response = httpx.request(method, server.api + path, json=[])
        assert response.status_code == 401, (method, path, response.text)
