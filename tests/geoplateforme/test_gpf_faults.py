"""Fault injection: a proxy in front of a real ``gpf-flow serve`` answers 503, 429 with Retry-After,
drops connections before and after forwarding, and answers slowly. The delivery and the processing
still end right, and nothing is created twice."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from gpf_faultproxy import FaultProxy
from gpf_helpers import fast_settings

from gpf_flow.store.base import iter_entities
from gpf_flow.store.follow import PollSchedule, follow_execution
from gpf_flow.store.geoplateforme import GeoplateformeStore, flatten_tree

VECTOR_PROCESSING = "Intégration de données vecteur livrées en base"


def vector_sample(tmp_path: Path) -> Path:
    from gpf_flow.datasets import write_dataset

    return Path(write_dataset("vector-sample", tmp_path))


def data_files(folder: Path) -> dict[str, Path]:
    """``remote path -> local file`` for the sample's data directory (md5 files apart)."""
    return {
        p.relative_to(folder).as_posix(): p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.parent != folder
    }


def wait_checks(store: GeoplateformeStore, upload_id: str) -> Any:
    deadline = time.monotonic() + 60
    while True:
        checks = store.upload_checks(upload_id)
        if checks.finished or time.monotonic() > deadline:
            return checks
        time.sleep(0.2)


def test_gpf_delivery_and_processing_survive_faults(gpf_server: Any, tmp_path: Path) -> None:
    folder = vector_sample(tmp_path)
    files = data_files(folder)
    assert "ZONES/ZONES.shp" in files
    name = f"FAULTS_{int(time.time() * 1000)}"
    proxy = FaultProxy(upstream_port=gpf_server.port, slow_seconds=2.0).start()
    # the token endpoint is reached directly; the API goes through the proxy
    settings = fast_settings(gpf_server, via=proxy.url, timeout="1.2", upload_timeout="1.2")
    store = GeoplateformeStore(settings)
    try:
        # creation: a 503 (not applied), then the answer is lost (applied server side)
        proxy.add("POST", r"/uploads$", 503, "drop-after")
        proxy.add("GET", r"/uploads$", 429, "drop")  # listings: rate limited, dropped
        upload = store.create_entity("upload", {"name": name, "type": "VECTOR", "srs": "EPSG:2154"})
        assert upload["name"] == name and upload["status"] == "OPEN"

        # pushes: lost answer, 503, slow answer (client timeout), dropped before forwarding
        proxy.add("POST", r"/data$", "drop-after", 503, "slow", "drop")
        proxy.add("GET", r"/tree$", 503, 429)
        sent: list[int] = []
        for remote, local in files.items():
            store.upload_push_file(upload["_id"], local, remote, progress=sent.append)
        store.upload_push_md5(upload["_id"], folder / "ZONES.md5")
        assert sum(sent) == sum(p.stat().st_size for p in files.values())  # progress counted once

        tree = flatten_tree(store.upload_tree(upload["_id"]))
        expected = {remote: local.stat().st_size for remote, local in files.items()}
        expected["ZONES.md5"] = (folder / "ZONES.md5").stat().st_size
        assert tree == expected

        proxy.add("POST", r"/close$", "drop-after")
        proxy.add("GET", r"/checks$", 503, "slow")
        store.upload_close(upload["_id"])
        checks = wait_checks(store, upload["_id"])
        assert checks.finished and not checks.failed and checks.passed

        processing = store.list_entities("processing", {"name": VECTOR_PROCESSING}).items[0]
        proxy.add("POST", r"/processings/executions$", 502, "drop-after")
        proxy.add("POST", r"/launch$", "drop-after")
        proxy.add("GET", r"/logs$", 503, "drop", 429)
        proxy.add("GET", r"/processings/executions/[^/]+$", "slow", 503)
        execution = store.create_processing_execution(
            {
                "processing": processing["_id"],
                "inputs": {"upload": [upload["_id"]]},
                "output": {"stored_data": {"name": f"{name}_DB"}},
                "parameters": {},
            }
        )
        assert execution["status"] == "CREATED"
        store.launch_processing_execution(execution["_id"])
        lines: list[str] = []
        final = follow_execution(
            store,
            execution["_id"],
            on_lines=lambda _offset, new: lines.extend(new),
            schedule=PollSchedule(first=0.1, maximum=0.5),
        )
        assert final["status"] == "SUCCESS", lines

        assert proxy.pending() == 0, proxy.rules
        applied = proxy.faults_applied()
        assert {fault for _m, _p, fault in applied} >= {"drop-after", "503", "429", "drop", "slow", "502"}
    finally:
        proxy.stop()
        store.close()

    # nothing was created twice (checked directly on the server, without the proxy)
    direct = GeoplateformeStore(fast_settings(gpf_server))
    try:
        assert len(list(iter_entities(direct, "upload", {"name": name}))) == 1
        assert len(list(iter_entities(direct, "stored_data", {"name": f"{name}_DB"}))) == 1
        executions = list(iter_entities(direct, "processing_execution", {"input_upload": upload["_id"]}))
        assert [e["_id"] for e in executions] == [execution["_id"]]
        full_log = direct.processing_execution_logs(execution["_id"])
        assert lines == full_log  # every line exactly once, in order
    finally:
        direct.close()


@pytest.mark.parametrize("fault", ["drop-after", 503])
def test_gpf_comment_and_offering_creates_are_not_duplicated(
    gpf_store: GeoplateformeStore, fault_proxy: FaultProxy, gpf_server: Any, fault: str | int
) -> None:
    store = GeoplateformeStore(fast_settings(gpf_server, via=fault_proxy.url, timeout="2"))
    try:
        name = f"CMT_{fault}_{int(time.time() * 1000)}"
        upload = store.create_entity("upload", {"name": name, "type": "VECTOR", "srs": "EPSG:2154"})
        fault_proxy.add("POST", r"/comments$", fault)
        store.add_comment("upload", upload["_id"], "hello")
        fault_proxy.add("POST", r"/tags$", fault)
        store.add_tags("upload", upload["_id"], {"k": "v"})
        assert [c["text"] for c in gpf_store.list_comments("upload", upload["_id"])] == ["hello"]
        assert gpf_store.get_entity("upload", upload["_id"])["tags"] == {"k": "v"}
        fault_proxy.add("DELETE", rf"/uploads/{upload['_id']}$", fault)
        store.delete_entity("upload", upload["_id"])
        assert gpf_store.list_entities("upload", {"name": name}).total == 0
        assert fault_proxy.pending() == 0
    finally:
        store.close()
