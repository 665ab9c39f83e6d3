"""End to end through HTTP: the uploader delivers the sample datasets through ``GeoplateformeStore``
(and resumes a partial upload), and a catalog workflow runs on a real ``gpf-flow serve`` with the
same results as on a local store used directly."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from gpf_helpers import fast_settings

from gpf_flow.store.base import Store, iter_entities
from gpf_flow.store.geoplateforme import GeoplateformeStore, flatten_tree


def sample(name: str, dest: Path) -> Path:
    from gpf_flow.datasets import write_dataset

    return Path(write_dataset(name, dest))


def deliver(store: Store, folder: Path, behavior: str | None = None) -> tuple[Any, list[Any]]:
    from gpf_flow.delivery.descriptor import load_descriptor
    from gpf_flow.delivery.uploader import PollPolicy, deliver

    events: list[Any] = []
    report = deliver(
        store,
        load_descriptor(folder / "upload_descriptor.jsonc"),
        behavior=behavior,
        on_event=events.append,
        poll=PollPolicy(first=0.1, maximum=0.5),
    )
    return report, events


def local_files(folder: Path) -> dict[str, int]:
    return {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in folder.rglob("*")
        if p.is_file() and p.parent != folder
    }


def test_gpf_full_delivery_of_the_vector_sample_and_resume(gpf_server: Any, tmp_path: Path) -> None:
    from gpf_flow.delivery.events import FileFinished

    folder = sample("vector-sample", tmp_path / "data")
    store = GeoplateformeStore(fast_settings(gpf_server))
    try:
        # a partial earlier delivery: the upload exists, one file complete, one truncated
        upload = store.create_entity(
            "upload", {"name": "EXAMPLE_DATASET_VECTOR", "type": "VECTOR", "srs": "EPSG:2154"}
        )
        store.upload_push_file(upload["_id"], folder / "ZONES" / "ZONES.shp", "ZONES/ZONES.shp")
        truncated = tmp_path / "ZONES.dbf"
        truncated.write_bytes((folder / "ZONES" / "ZONES.dbf").read_bytes()[:100])
        store.upload_push_file(upload["_id"], truncated, "ZONES/ZONES.dbf")

        report, events = deliver(store, folder, behavior="CONTINUE")
        assert report.ok, report
        finished = [e for e in events if isinstance(e, FileFinished)]
        skipped = {e.path for e in finished if e.skipped}
        sent = {e.path for e in finished if not e.skipped}
        assert skipped == {"ZONES/ZONES.shp"}  # the complete file was not sent again
        assert "ZONES/ZONES.dbf" in sent  # the truncated one was replaced

        uploads = list(iter_entities(store, "upload", {"name": "EXAMPLE_DATASET_VECTOR"}))
        assert [u["_id"] for u in uploads] == [upload["_id"]]
        assert uploads[0]["status"] == "CLOSED"
        tree = flatten_tree(store.upload_tree(upload["_id"]))
        expected = local_files(folder) | {"ZONES.md5": (folder / "ZONES.md5").stat().st_size}
        assert tree == expected
        checks = store.upload_checks(upload["_id"])
        assert checks.finished and checks.passed and not checks.failed
        statics = store.list_entities("static", {"name": "style_zones"})
        assert statics.total == 1 and statics.items[0]["type"] == "GEOSERVER-STYLE"
    finally:
        store.close()


def summary(result: Any, store: Store, base_url: str) -> dict[str, Any]:
    """What a run produced, without ids and with the services' base URL neutralised."""
    steps: dict[str, Any] = {}
    for name, step in result.steps.items():
        entities = sorted((e["type"], e["name"]) for e in step.entities)
        links = sorted(
            (str(link.get("layer_name")), str(link.get("type")), url_text.replace(base_url, "{base}"))
            for link in step.links
            for url_text in map(_url_of, link.get("urls") or [])
        )
        steps[name] = {"status": step.status, "entities": entities, "links": links}
    stored = [
        (e["name"], e["type"], e["status"], store.get_entity("stored_data", e["_id"]).get("type_infos"))
        for e in iter_entities(store, "stored_data")
    ]
    offerings = sorted((o["layer_name"], o["type"], o["status"]) for o in iter_entities(store, "offering"))
    return {
        "status": result.status,
        "steps": steps,
        "stored_data": sorted(stored, key=str),
        "offerings": offerings,
    }


def _url_of(item: Any) -> str:
    url = item.get("url") if isinstance(item, dict) else item
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "{id}", str(url))


CATALOG_RUNS = [("archive-sample", "archive-generic.jsonc"), ("vector-sample", "vector-generic.jsonc")]


def deliver_and_run(store: Store, tmp_path: Path, label: str, base_url: str) -> list[dict[str, Any]]:
    """Deliver each sample and run its catalog workflow on ``store``; the summary after each run."""
    from gpf_flow import load_workflow, run
    from gpf_flow.catalog import catalog_dir
    from gpf_flow.engine.options import RunOptions

    summaries = []
    for dataset, workflow_file in CATALOG_RUNS:
        report, _ = deliver(store, sample(dataset, tmp_path / f"{label}-data"))
        assert report.ok, (label, dataset)
        workflow = load_workflow(catalog_dir() / workflow_file)
        result = run(workflow, store, RunOptions(state_path=tmp_path / f"{label}-runs.sqlite", yes=True))
        assert result.status == "success", (label, workflow_file, result.failed)
        summaries.append(summary(result, store, base_url))
    return summaries


@pytest.mark.slow
def test_gpf_catalog_workflows_over_http_match_the_local_store(make_gpf_server: Any, tmp_path: Path) -> None:
    from gpf_flow import LocalStore

    gpf_server = make_gpf_server()  # a fresh server: the runs start from the same state as the local ones
    remote = GeoplateformeStore(fast_settings(gpf_server))
    try:
        http_summaries = deliver_and_run(remote, tmp_path, "http", gpf_server.base_url)
    finally:
        remote.close()

    local = LocalStore(tmp_path / "local-home")
    try:
        local_summaries = deliver_and_run(local, tmp_path, "local", local.public_url)
    finally:
        local.close()

    assert http_summaries == local_summaries
    last = http_summaries[-1]
    assert {o[1] for o in last["offerings"]} == {"DOWNLOAD", "WFS", "WMS-VECTOR"}
    assert {d[1] for d in last["stored_data"]} == {"ARCHIVE", "VECTOR-DB"}
