"""The API as published: every GET route of ``../shared/spec/entrepot-routes.md`` walked against a
real ``gpf-flow serve`` after real workflows, each body validated with jsonschema against
``../shared/spec/entrepot-dtos.json``; annexes, metadata and sharings with their checks and
delete semantics; the official SDK's ``tms``, ``stored_data --extent wkt``, ``annexe`` and
``metadata`` commands against the server."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

ServerHandle = Any

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"

# Bodies the local store cannot fill from facts it holds, each with why. The walk fails on any
# other problem, and on any of these that disappears (so the list only ever shrinks).
KNOWN_GAPS: set[tuple[str, str]] = set()

ISO19139 = """<?xml version="1.0" encoding="UTF-8"?>
<gmd:MD_Metadata xmlns:gmd="http://www.isotc211.org/2005/gmd" xmlns:gco="http://www.isotc211.org/2005/gco">
  <gmd:fileIdentifier><gco:CharacterString>{ident}</gco:CharacterString></gmd:fileIdentifier>
  <gmd:hierarchyLevel>
    <gmd:MD_ScopeCode codeList="http://standards.iso.org/iso/19139/resources/gmxCodelists.xml#MD_ScopeCode"
      codeListValue="{level}">{level}</gmd:MD_ScopeCode>
  </gmd:hierarchyLevel>
</gmd:MD_Metadata>
"""


def _dto_check() -> ModuleType:
    tool = SHARED / "tools" / "dto_check.py"
    if not tool.exists():
        pytest.fail(f"{tool} is missing: the reference checkout ../shared must sit next to the repository")
    spec = importlib.util.spec_from_file_location("dto_check", tool)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dto_check"] = module
    spec.loader.exec_module(module)
    return module


def _gpf(home: Path, cwd: Path, *args: str) -> None:
    env = {**os.environ, "GPF_FLOW_HOME": str(home), "GPF_FLOW_STORE": "local"}
    done = subprocess.run(
        [sys.executable, "-m", "gpf_flow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (
        f"gpf-flow {' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )


def _metadata_xml(tmp: Path, ident: str, level: str = "dataset") -> Path:
    path = tmp / f"{ident}.xml"
    path.write_text(ISO19139.format(ident=ident, level=level), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def world(server: ServerHandle, tmp_path_factory: pytest.TempPathFactory) -> ServerHandle:
    """The module's server, its store after the raster and vector workflows and every document kind."""
    tmp = tmp_path_factory.mktemp("dto")
    work = tmp / "work"
    work.mkdir()
    for dataset in ("raster-sample", "vector-sample"):
        _gpf(server.home, work, "dataset", "get", dataset)
        _gpf(server.home, work, "upload", "-f", f"{dataset}/upload_descriptor.jsonc")
    _gpf(server.home, work, "run", "wms-generic", "-p", "bottom_level", "12", "-o", "json")
    _gpf(server.home, work, "run", "vector-generic", "-o", "json")
    with server.client() as api:
        key = api.post(
            "/users/me/keys", json={"name": "dto-key", "type": "HASH", "type_infos": {"hash": "x"}}
        )
        assert key.status_code == 201, key.text
        stored = api.get(f"{server.ds}/stored_data").json()
        assert api.post(
            f"{server.ds}/stored_data/{stored[0]['_id']}/comments", json={"text": "hi"}
        ).is_success
        readme = work / "readme.txt"
        readme.write_text("hello annex\n")
        with readme.open("rb") as f:
            made = api.post(
                f"{server.ds}/annexes",
                params={"paths": "docs/readme.txt", "labels": "doc"},
                files={"file": f},
            )
        assert made.status_code == 201, made.text
        with _metadata_xml(work, "fr-local-dto").open("rb") as f:
            made = api.post(f"{server.ds}/metadata", params={"type": "INSPIRE"}, files={"file": f})
        assert made.status_code == 201, made.text
    return server


def test_every_route_answers_its_published_dto(world: ServerHandle) -> None:
    dto_check = _dto_check()
    spec = json.loads((SHARED / "spec" / "entrepot-dtos.json").read_text(encoding="utf-8"))
    routes = dto_check.parse_routes(
        (SHARED / "spec" / "entrepot-routes.md").read_text(encoding="utf-8"), spec["schemas"]
    )
    assert len(routes) > 40
    checker = dto_check.Checker(world.api, world.token(), world.datastore, spec, routes, max_items=50)
    try:
        results = checker.run()
    finally:
        checker.client.close()
    problems = {(r.route.path, message) for r in results for (_kind, _where, message) in r.problems}
    assert problems - KNOWN_GAPS == set(), "\n".join(sorted(f"{p}: {m}" for p, m in problems - KNOWN_GAPS))
    assert problems >= KNOWN_GAPS, f"fixed, remove from KNOWN_GAPS: {KNOWN_GAPS - problems}"
    skipped = {r.route.path: r.skipped for r in results if r.skipped}
    # every kind the store produced was validated; only the user's empty catalogs are skipped
    assert set(skipped) == {
        "/users/me/permissions/{permission}",
        "/users/me/documents/{document}",
        "/datastores/{datastore}/permissions/{permission}",
    }, skipped


def test_extent_is_a_feature_and_tms_listing_has_ids(world: ServerHandle) -> None:
    with world.client() as api:
        for item in api.get(f"{world.ds}/stored_data").json():
            stored = api.get(f"{world.ds}/stored_data/{item['_id']}").json()
            if "extent" in stored:
                assert stored["extent"]["type"] == "Feature"
                assert stored["extent"]["geometry"]["type"] in ("Polygon", "MultiPolygon")
        listing = api.get("/statics/tms").json()
        assert {"_id": "PM", "srs": "EPSG:3857"} in listing
        pm = api.get("/statics/tms/PM").json()
        assert pm["levels"][0]["id"] == "0" and pm["levels"][0]["resolution"] > 150000


def test_annex_life_cycle(world: ServerHandle, tmp_path: Path) -> None:
    public = f"{world.base_url}/annexes/local"
    source = tmp_path / "notice.txt"
    source.write_text("notice v1\n")
    with world.client() as api:
        with source.open("rb") as f:
            made = api.post(
                f"{world.ds}/annexes", params={"paths": "a/notice.txt", "labels": "l1"}, files={"file": f}
            )
        annex = made.json()
        assert made.status_code == 201 and annex["published"] is False and annex["mime_type"] == "text/plain"
        assert httpx.get(f"{public}/a/notice.txt").status_code == 404  # not published yet
        assert api.post(f"{world.ds}/annexes/publication", params={"labels": "l1"}).text == "1"
        got = httpx.get(f"{public}/a/notice.txt")
        assert got.status_code == 200 and got.text == "notice v1\n"
        # a path is unique in the datastore; paths stay inside it
        with source.open("rb") as f:
            clash = api.post(f"{world.ds}/annexes", params={"paths": "a/notice.txt"}, files={"file": f})
        assert clash.status_code == 409
        with source.open("rb") as f:
            escape = api.post(f"{world.ds}/annexes", params={"paths": "../x"}, files={"file": f})
        assert escape.status_code == 400
        assert (
            api.patch(f"{world.ds}/annexes/{annex['_id']}", json={"published": False}).json()["published"]
            is False
        )
        assert httpx.get(f"{public}/a/notice.txt").status_code == 404
        assert api.patch(f"{world.ds}/annexes/{annex['_id']}", json={"published": True}).is_success
        assert api.get(f"{world.ds}/annexes/{annex['_id']}/file").text == "notice v1\n"
        assert api.delete(f"{world.ds}/annexes/{annex['_id']}").status_code == 204
        assert httpx.get(f"{public}/a/notice.txt").status_code == 404
        assert api.get(f"{world.ds}/annexes/{annex['_id']}").status_code == 404


def test_metadata_checks_publication_and_delete(world: ServerHandle, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    with world.client() as api:
        for content in ("not xml", "<root/>", ISO19139.replace("<gmd:fileIdentifier>", "<gmd:x>").replace(
            "</gmd:fileIdentifier>", "</gmd:x>")):  # fmt: skip
            bad.write_text(content)
            with bad.open("rb") as f:
                assert api.post(f"{world.ds}/metadata", files={"file": f}).status_code == 400, content
        with _metadata_xml(tmp_path, "fr-local-series", "series").open("rb") as f:
            made = api.post(
                f"{world.ds}/metadata", params={"type": "ISOAP", "open_data": "true"}, files={"file": f}
            )
        md = made.json()
        assert (md["level"], md["type"], md["open_data"]) == ("SERIES", "ISOAP", True)
        with _metadata_xml(tmp_path, "fr-local-series").open("rb") as f:
            assert api.post(f"{world.ds}/metadata", files={"file": f}).status_code == 409  # same identifier
        endpoint = api.get(world.ds).json()["endpoints"][0]["endpoint"]["_id"]
        body = {"file_identifiers": ["fr-local-series"], "endpoint": endpoint}
        assert api.post(f"{world.ds}/metadata/publication", json=body).status_code == 204
        public = httpx.get(f"{world.base_url}/csw/metadata/fr-local-series.xml")
        assert public.status_code == 200 and "fr-local-series" in public.text
        assert api.delete(f"{world.ds}/metadata/{md['_id']}").status_code == 409  # published
        assert api.post(f"{world.ds}/metadata/unpublication", json=body).status_code == 204
        assert httpx.get(f"{world.base_url}/csw/metadata/fr-local-series.xml").status_code == 404
        assert api.delete(f"{world.ds}/metadata/{md['_id']}").status_code == 204
        assert api.get(f"{world.ds}/metadata/{md['_id']}").status_code == 404


def test_sharings(world: ServerHandle) -> None:
    other = "0f0e0d0c-0b0a-4908-8706-050403020100"
    with world.client() as api:
        stored = api.get(f"{world.ds}/stored_data").json()[0]["_id"]
        route = f"{world.ds}/stored_data/{stored}/sharings"
        assert api.get(route).json() == []
        assert api.post(route, json=[world.datastore]).status_code == 400  # its own datastore
        assert api.post(route, json=["not-an-id"]).status_code == 400
        shared = api.post(route, json=[other])
        assert shared.status_code == 200 and [d["_id"] for d in shared.json()] == [other]
        assert [d["_id"] for d in api.get(route).json()] == [other]
        assert api.delete(route, params={"datastores": other}).status_code == 204
        assert api.get(route).json() == []
        missing = f"{world.ds}/stored_data/00000000-0000-4000-8000-000000000000/sharings"
        assert api.post(missing, json=[other]).status_code == 404


def _sdk(server: ServerHandle, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SDK_ENTREPOT_CONFIG_FILE": str(server.sdk_config), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "sdk_entrepot_gpf", "--ini", str(server.sdk_config), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_official_sdk_reads_tms_extent_annexes_metadata(world: ServerHandle, tmp_path: Path) -> None:
    pytest.importorskip("sdk_entrepot_gpf", reason="the official SDK is a test dependency (dev extras)")
    with world.client() as api:
        pyramid = api.get(f"{world.ds}/stored_data", params={"type": "ROK4-PYRAMID-RASTER"}).json()[0]["_id"]
        annex = api.get(f"{world.ds}/annexes", params={"path": "docs/readme.txt"}).json()[0]["_id"]
        metadata = api.get(f"{world.ds}/metadata", params={"file_identifier": "fr-local-dto"}).json()[0][
            "_id"
        ]
    checks: list[tuple[tuple[str, ...], str]] = [
        (("tms",), "EPSG:3857"),
        (("stored_data", pyramid, "--extent", "wkt"), "POLYGON"),
        (("annexe",), annex),
        (("annexe", annex), "docs/readme.txt"),
        (("metadata",), "fr-local-dto"),
        (("metadata", metadata), "fr-local-dto"),
    ]
    for args, expected in checks:
        done = _sdk(world, tmp_path, *args)
        assert done.returncode == 0, f"sdk {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert expected in done.stdout, f"sdk {' '.join(args)}: {expected!r} not in\n{done.stdout[-3000:]}"
