"""Local store: processing executions run by worker processes (success, failure, crash, abort)."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_test_helpers import make_upload, wait_for, wait_status
from store_test_procs import P_CRASH, P_FAIL, P_MANDATORY, P_OK, P_SLOW, P_STUBBORN

from gpf_flow.errors import BadRequestError, ConflictError
from gpf_flow.store.local import LocalStore

TERMINAL = {"SUCCESS", "FAILURE", "ABORTED"}


def _execution(store: LocalStore, tmp_path: Path, spec_id: str, params: dict | None = None) -> dict:
    up = make_upload(store, tmp_path)
    return store.create_processing_execution(
        {
            "processing": spec_id,
            "inputs": {"upload": [up["_id"]]},
            "output": {"stored_data": {"name": "OUT", "storage_tags": ["TEST"]}},
            "parameters": params or {},
        }
    )


def test_execution_success_outputs_and_logs(store: LocalStore, tmp_path: Path) -> None:
    ex = _execution(store, tmp_path, P_OK.id, {"marker": "m1", "nested": {"a": [1, 2]}})
    assert ex["status"] == "CREATED"
    assert ex["processing"] == {"_id": P_OK.id, "name": "Test copy"}
    assert ex["parameters"] == {"marker": "m1", "nested": {"a": [1, 2]}}
    inp = ex["inputs"]["upload"][0]
    assert set(inp) >= {"_id", "name", "type", "status"} and ex["inputs"]["stored_data"] == []
    sd_id = ex["output"]["stored_data"]["_id"]
    sd = store.get_entity("stored_data", sd_id)
    assert sd["status"] == "CREATED" and sd["type"] == "TEST-DATA" and sd["name"] == "OUT"
    store.launch_processing_execution(ex["_id"])
    with pytest.raises(ConflictError):
        store.launch_processing_execution(ex["_id"])
    done = wait_status(store, "processing_execution", ex["_id"], TERMINAL)
    assert done["status"] == "SUCCESS", store.processing_execution_logs(ex["_id"])
    sd = store.get_entity("stored_data", sd_id)
    assert sd["status"] == "GENERATED"
    assert sd["type_infos"] == {"count": 2, "marker": "m1"} and sd["srs"] == "EPSG:2154"
    assert sd["extent"]["type"] == "Point" and sd["size"] > 0
    folder = store.stored_data_dir(sd_id)
    assert (folder / "marker.txt").read_text() == "m1"
    assert (folder / "files" / "ZONES" / "ZONES.dbf").read_bytes() == b"dbf!"
    logs = store.processing_execution_logs(ex["_id"])
    assert any("copied ZONES/ZONES.shp" in line for line in logs)
    assert store.processing_execution_logs(ex["_id"], 2) == logs[2:]
    assert store.processing_execution_logs(ex["_id"], len(logs)) == []
    listed = store.list_entities("processing_execution", {"output_stored_data": sd_id})
    assert [e["_id"] for e in listed.items] == [ex["_id"]]
    assert (
        store.list_entities("processing_execution", {"input_upload": inp["_id"], "processing": P_OK.id}).total
        == 1
    )
    assert store.list_entities("processing_execution", {"input_upload": sd_id}).total == 0


def test_update_form_replaces_data(store: LocalStore, tmp_path: Path) -> None:
    ex = _execution(store, tmp_path, P_OK.id, {"marker": "v1"})
    sd_id = ex["output"]["stored_data"]["_id"]
    store.launch_processing_execution(ex["_id"])
    assert wait_status(store, "processing_execution", ex["_id"], TERMINAL)["status"] == "SUCCESS"
    up_id = ex["inputs"]["upload"][0]["_id"]
    ex2 = store.create_processing_execution(
        {
            "processing": P_OK.id,
            "inputs": {"upload": [up_id]},
            "output": {"stored_data": {"_id": sd_id}},
            "parameters": {"marker": "v2"},
        }
    )
    assert ex2["output"]["stored_data"]["_id"] == sd_id
    store.launch_processing_execution(ex2["_id"])
    assert wait_status(store, "processing_execution", ex2["_id"], TERMINAL)["status"] == "SUCCESS"
    assert (store.stored_data_dir(sd_id) / "marker.txt").read_text() == "v2"
    assert store.get_entity("stored_data", sd_id)["type_infos"]["marker"] == "v2"


def test_no_output_key_when_none(store: LocalStore, tmp_path: Path) -> None:
    up = make_upload(store, tmp_path)
    ex = store.create_processing_execution({"processing": P_OK.id, "inputs": {"upload": [up["_id"]]}})
    assert "output" not in ex and ex["parameters"] == {}
    store.launch_processing_execution(ex["_id"])
    assert wait_status(store, "processing_execution", ex["_id"], TERMINAL)["status"] == "SUCCESS"


def test_bad_execution_bodies(store: LocalStore, tmp_path: Path) -> None:
    up = make_upload(store, tmp_path)
    with pytest.raises(BadRequestError, match="processing"):
        store.create_processing_execution({"processing": "nope", "inputs": {"upload": [up["_id"]]}})
    with pytest.raises(BadRequestError, match=r"inputs.upload\[0\]"):
        store.create_processing_execution({"processing": P_OK.id, "inputs": {"upload": ["nope"]}})
    with pytest.raises(BadRequestError, match="parameters.level"):
        store.create_processing_execution({"processing": P_MANDATORY.id, "inputs": {"upload": [up["_id"]]}})
    archive = store.create_entity("upload", {"name": "Z", "type": "ARCHIVE", "srs": "EPSG:2154"})
    with pytest.raises(BadRequestError, match="ARCHIVE"):
        store.create_processing_execution({"processing": P_OK.id, "inputs": {"upload": [archive["_id"]]}})


def test_failure_marks_output_unstable_and_logs_reason(store: LocalStore, tmp_path: Path) -> None:
    ex = _execution(store, tmp_path, P_FAIL.id)
    store.launch_processing_execution(ex["_id"])
    done = wait_status(store, "processing_execution", ex["_id"], TERMINAL)
    assert done["status"] == "FAILURE"
    assert store.processing_execution_logs(ex["_id"])[-1].endswith("ERROR the input has no layer named ZONES")
    sd_id = ex["output"]["stored_data"]["_id"]
    assert store.get_entity("stored_data", sd_id)["status"] == "UNSTABLE"
    assert not store.stored_data_dir(sd_id).exists()  # nothing half-written is kept
    store.delete_entity("processing_execution", ex["_id"])
    store.delete_entity("stored_data", sd_id)


def test_crashing_worker_is_failure_and_store_survives(store: LocalStore, tmp_path: Path) -> None:
    ex = _execution(store, tmp_path, P_CRASH.id)
    store.launch_processing_execution(ex["_id"])
    done = wait_status(store, "processing_execution", ex["_id"], TERMINAL)
    assert done["status"] == "FAILURE"
    logs = store.processing_execution_logs(ex["_id"])
    assert any("about to crash" in line for line in logs)
    assert "interrupted: worker process" in logs[-1] and "is gone (exit code 7)" in logs[-1]
    assert any("worker output: fatal: native library crashed" in line for line in logs)
    assert store.get_entity("stored_data", ex["output"]["stored_data"]["_id"])["status"] == "UNSTABLE"
    # the store keeps working: another execution succeeds
    ok = _execution(store, tmp_path, P_OK.id)
    store.launch_processing_execution(ok["_id"])
    final = wait_status(store, "processing_execution", ok["_id"], TERMINAL)
    assert final["status"] == "SUCCESS", store.processing_execution_logs(ok["_id"])


def test_abort_running_and_waiting(store: LocalStore, tmp_path: Path) -> None:
    ex = _execution(store, tmp_path, P_SLOW.id, {"seconds": 60})
    store.launch_processing_execution(ex["_id"])
    wait_status(store, "processing_execution", ex["_id"], {"PROGRESS"})
    wait_for(lambda: any("tick" in line for line in store.processing_execution_logs(ex["_id"])), what="ticks")
    assert store.get_entity("stored_data", ex["output"]["stored_data"]["_id"])["status"] == "GENERATING"
    store.abort_processing_execution(ex["_id"])
    done = wait_status(store, "processing_execution", ex["_id"], TERMINAL)
    assert done["status"] == "ABORTED"
    sd_id = ex["output"]["stored_data"]["_id"]
    assert store.get_entity("stored_data", sd_id)["status"] == "UNSTABLE"
    assert not store.stored_data_dir(sd_id).exists()
    with pytest.raises(ConflictError):
        store.abort_processing_execution(ex["_id"])
    # WAITING (never started) → ABORTED at once
    ex2 = _execution(store, tmp_path, P_SLOW.id, {"seconds": 60})
    store.abort_processing_execution(ex2["_id"])
    assert store.get_entity("processing_execution", ex2["_id"])["status"] == "ABORTED"


def test_running_execution_blocks_deletes(store: LocalStore, tmp_path: Path) -> None:
    ex = _execution(store, tmp_path, P_SLOW.id, {"seconds": 60})
    store.launch_processing_execution(ex["_id"])
    wait_status(store, "processing_execution", ex["_id"], {"PROGRESS"})
    with pytest.raises(ConflictError):
        store.delete_entity("processing_execution", ex["_id"])
    with pytest.raises(ConflictError):
        store.delete_entity("upload", ex["inputs"]["upload"][0]["_id"])
    store.abort_processing_execution(ex["_id"])
    wait_status(store, "processing_execution", ex["_id"], TERMINAL)
    store.delete_entity("processing_execution", ex["_id"])


def test_abort_ignored_by_processing_stops_the_worker(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpf_flow.store.local import dispatcher

    monkeypatch.setattr(dispatcher, "ABORT_GRACE_S", 0.5)
    ex = _execution(store, tmp_path, P_STUBBORN.id, {"seconds": 120})
    store.launch_processing_execution(ex["_id"])
    wait_for(lambda: store.processing_execution_logs(ex["_id"]), what="worker start")
    store.abort_processing_execution(ex["_id"])
    done = wait_status(store, "processing_execution", ex["_id"], TERMINAL)
    assert done["status"] == "ABORTED"
    assert "was stopped" in store.processing_execution_logs(ex["_id"])[-1]
    assert store.get_entity("stored_data", ex["output"]["stored_data"]["_id"])["status"] == "UNSTABLE"
