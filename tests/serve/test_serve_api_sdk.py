"""Compatibility with a client nobody here wrote: the official SDK (sdk-entrepot-gpf 0.1.46) pointed
at ``gpf-flow serve`` with the config file the server writes (``--write-sdk-config``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("sdk_entrepot_gpf", reason="the official SDK is a test dependency (dev extras)")

ServerHandle = Any
REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "workflows"


def _sdk(
    server: ServerHandle, cwd: Path, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SDK_ENTREPOT_CONFIG_FILE": str(server.sdk_config), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "sdk_entrepot_gpf", "--ini", str(server.sdk_config), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _deliver(server: ServerHandle, dataset: str, tmp: Path) -> Path:
    from gpf_flow.datasets import write_dataset

    folder = write_dataset(dataset, tmp)
    done = _sdk(server, folder, "delivery", "upload_descriptor.jsonc")
    assert done.returncode == 0, (
        f"SDK delivery failed:\n{done.stdout}\n{done.stderr}\n--- server:\n{server.log()[-4000:]}"
    )
    return folder


def test_sdk_me_and_listing(server: ServerHandle, tmp_path: Path) -> None:
    done = _sdk(server, tmp_path, "me")
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.datastore in done.stdout
    done = _sdk(server, tmp_path, "processing")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Intégration de données vecteur livrées en base" in done.stdout


@pytest.mark.slow
def test_sdk_delivery_of_vector_sample(server: ServerHandle, tmp_path: Path) -> None:
    _deliver(server, "vector-sample", tmp_path)
    with server.client() as api:
        found = api.get(f"{server.ds}/uploads", params={"name": "EXAMPLE_DATASET_VECTOR"}).json()
        assert len(found) == 1
        upload = api.get(f"{server.ds}/uploads/{found[0]['_id']}").json()
        assert upload["status"] == "CLOSED"
        tree = api.get(f"{server.ds}/uploads/{upload['_id']}/tree").json()
        names = {node["name"] for node in tree}
        assert {"ZONES", "ZONES.md5"} <= names
        statics = api.get(f"{server.ds}/statics", params={"name": "style_zones"}).json()
        assert [s["type"] for s in statics] == ["GEOSERVER-STYLE"]
    # a second delivery with the default behaviour (STOP) finds the existing upload and fails
    again = _sdk(server, tmp_path / "vector-sample", "delivery", "upload_descriptor.jsonc")
    assert again.returncode != 0


def _run_workflow(server: ServerHandle, name: str, tmp: Path) -> list[str]:
    """Run every step of a catalog workflow with the SDK, parents first; returns the steps run."""
    import graphlib

    source = WORKFLOWS / f"{name}.jsonc"
    if not source.exists():
        pytest.skip(f"workflows/{name}.jsonc is not in the catalog yet")
    # the SDK does not know gpf-flow's load-time parameters: render their defaults first
    workflow = _render_for_sdk(source, tmp / f"{name}.json")
    document = json.loads(workflow.read_text(encoding="utf-8"))
    steps = document["workflow"]["steps"]
    order = list(
        graphlib.TopologicalSorter({k: v.get("parents", []) for k, v in steps.items()}).static_order()
    )
    for step in order:
        done = _sdk(server, tmp, "workflow", "-f", str(workflow), "-s", step)
        assert done.returncode == 0, (
            f"{name}: step {step} failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}\n"
            f"--- server:\n{server.log()[-3000:]}"
        )
    return order


def _offerings(server: ServerHandle) -> list[dict[str, Any]]:
    with server.client() as api:
        listed = api.get(f"{server.ds}/offerings", params={"limit": 100}).json()
        return [api.get(f"{server.ds}/offerings/{o['_id']}").json() for o in listed]


@pytest.mark.slow
def test_sdk_wms_generic_then_cleanup(make_server: Any, tmp_path: Path) -> None:
    server: ServerHandle = make_server()
    _deliver(server, "raster-sample", tmp_path)
    steps = _run_workflow(server, "wms-generic", tmp_path)
    assert {
        "mise-en-base",
        "configuration-wms",
        "publication-wms",
        "configuration-wmts",
        "publication-wmts",
    } <= set(steps)
    offerings = _offerings(server)
    assert sorted(o["type"] for o in offerings) == ["WMS-RASTER", "WMTS-TMS"]
    assert {o["status"] for o in offerings} == {"PUBLISHED"}
    capabilities = httpx.get(f"{server.base_url}/wms-r?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities")
    assert capabilities.status_code == 200
    # the catalog's cleanup deletes offerings (with cascade: unpublish and delete at once, which
    # keeps SDK 0.1.46 off its double-delete path), configurations and the pyramid, unchanged
    _run_workflow(server, "cleanup-generic", tmp_path)
    assert _offerings(server) == []
    with server.client() as api:
        assert api.get(f"{server.ds}/configurations").json() == []
        assert [d["type"] for d in api.get(f"{server.ds}/stored_data").json()] == []


@pytest.mark.slow
def test_sdk_vector_generic(make_server: Any, tmp_path: Path) -> None:
    server: ServerHandle = make_server()
    _deliver(server, "vector-sample", tmp_path)
    _run_workflow(server, "vector-generic", tmp_path)
    offerings = _offerings(server)
    assert sorted(o["type"] for o in offerings) == ["WFS", "WMS-VECTOR"]
    assert {o["status"] for o in offerings} == {"PUBLISHED"}


@pytest.mark.slow
def test_sdk_archive_generic(make_server: Any, tmp_path: Path) -> None:
    server: ServerHandle = make_server()
    _deliver(server, "archive-sample", tmp_path)
    _run_workflow(server, "archive-generic", tmp_path)
    offerings = _offerings(server)
    assert [o["type"] for o in offerings] == ["DOWNLOAD"]
    assert offerings[0]["status"] == "PUBLISHED"


def _render_for_sdk(source: Path, target: Path) -> Path:
    """The catalog workflow with its ``{{ param }}`` defaults rendered and gpf-flow-only keys dropped."""
    import jinja2
    import json5

    raw = json5.loads(source.read_text(encoding="utf-8"))
    params = {k: v.get("default") for k, v in (raw.get("parameters") or {}).items()}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)

    def render(value: Any) -> Any:  # like gpf-flow's loader: only string values are templates
        if isinstance(value, str):
            return env.from_string(value).render(params) if "{{" in value else value
        if isinstance(value, list):
            return [render(v) for v in value]
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        return value

    data = render(raw)
    allowed = {"workflow", "datastore", "comments", "tags", "compatibility_cartes"}
    data = {k: v for k, v in data.items() if k in allowed}
    step_keys = {"actions", "parents", "comments", "tags", "datastore", "iter_key", "iter_vals"}
    for name, step in data["workflow"]["steps"].items():
        data["workflow"]["steps"][name] = {k: v for k, v in step.items() if k in step_keys}
    target.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    assert not re.search(r"\{\{.*?\}\}", target.read_text())
    return target


@pytest.mark.slow
def test_sdk_delivery_resumes_an_open_upload(make_server: Any, tmp_path: Path) -> None:
    """An OPEN upload holding one truncated file: ``delivery -b CONTINUE`` compares the tree, deletes and
    re-sends the bad file, sends the rest, closes, and the checks pass. Tokens live 1 s here, so the
    SDK has to get new ones along the way."""
    from gpf_flow.datasets import write_dataset

    server: ServerHandle = make_server("--token-lifetime", "1")
    folder = write_dataset("vector-sample", tmp_path)
    shp = folder / "ZONES" / "ZONES.shp"
    truncated = tmp_path / "ZONES.shp"
    truncated.write_bytes(shp.read_bytes()[:100])
    with server.client() as api:
        body = {"name": "EXAMPLE_DATASET_VECTOR", "description": "d", "type": "VECTOR", "srs": "EPSG:2154"}
        uid = api.post(f"{server.ds}/uploads", json=body).json()["_id"]
        with truncated.open("rb") as fh:
            sent = api.post(
                f"{server.ds}/uploads/{uid}/data", params={"path": "ZONES/ZONES.shp"}, files={"file": fh}
            )
        assert sent.is_success
    token_line = '"POST /realms/geoplateforme/protocol/openid-connect/token" 200'
    tokens_before = server.log().count(token_line)
    done = _sdk(server, folder, "delivery", "upload_descriptor.jsonc", "-b", "CONTINUE")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n--- server:\n{server.log()[-4000:]}"
    log = server.log()
    assert f'"DELETE /api/datastores/{server.datastore}/uploads/{uid}/data?path=ZONES%2FZONES.shp" 204' in log
    assert log.count(token_line) - tokens_before >= 2  # the SDK renewed its token
    with server.client() as api:
        upload = api.get(f"{server.ds}/uploads/{uid}").json()
        assert upload["status"] == "CLOSED"
        tree = api.get(f"{server.ds}/uploads/{uid}/tree").json()
        zones = next(node for node in tree if node["name"] == "ZONES")
        sizes = {child["name"]: child["size"] for child in zones["children"]}
        assert sizes["ZONES.shp"] == shp.stat().st_size
