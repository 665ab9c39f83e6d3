"""Behaviours when the entity already exists: STOP, DELETE, CONTINUE, RESUME, with the SDK's defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import Events, configuration_action, offering_action, work_action, write_workflow

from gpf_flow import events as ev
from gpf_flow import run
from gpf_flow.engine.options import RunOptions
from gpf_flow.store.base import iter_entities
from gpf_flow.store.local import LocalStore


def run_step(tmp_path: Path, store: LocalStore, *actions: dict[str, Any], behavior: str | None = None) -> Any:
    wf = write_workflow(tmp_path / "b", {"workflow": {"steps": {"s": {"actions": list(actions)}}}})
    events = Events()
    return run(wf, store, RunOptions(force=True, behavior=behavior), on_event=events), events


def count(store: LocalStore, entity_type: str, **infos: str) -> int:
    return len(list(iter_entities(store, entity_type, infos)))


@pytest.fixture
def made(tmp_path: Path, store: LocalStore) -> LocalStore:
    result, _ = run_step(
        tmp_path, store, work_action("sd"), configuration_action("cfg", "sd"), offering_action("cfg")
    )
    assert result.status == "success", result.failed
    return store


def test_configuration_defaults_to_continue_and_offering_too(tmp_path: Path, made: LocalStore) -> None:
    result, events = run_step(tmp_path, made, configuration_action("cfg", "sd"), offering_action("cfg"))
    assert result.status == "success", result.failed
    assert [e.reused for e in events.of(ev.EntityCreated)] == [True, True]
    assert len(events.of(ev.LinkPublished)) == 1  # a reused offering still shows its links
    assert count(made, "configuration") == 1 and count(made, "offering") == 1


@pytest.mark.parametrize("behavior", ["STOP", "RESUME"])
def test_configuration_stop_and_resume_refuse(tmp_path: Path, made: LocalStore, behavior: str) -> None:
    result, _ = run_step(tmp_path, made, configuration_action("cfg", "sd"), behavior=behavior)
    assert result.status == "failed"
    assert (
        "configuration 'cfg' (layer 'layer_cfg'" in result.failed["s"]
        and "already exists" in result.failed["s"]
    )


def test_offering_stop_refuses_and_delete_republishes(tmp_path: Path, made: LocalStore) -> None:
    old = next(iter_entities(made, "offering"))["_id"]
    result, _ = run_step(tmp_path, made, offering_action("cfg"), behavior="STOP")
    assert result.status == "failed" and "already exists" in result.failed["s"]
    result, events = run_step(tmp_path, made, offering_action("cfg"), behavior="DELETE")
    assert result.status == "success", result.failed
    assert [e.entity_id for e in events.of(ev.EntityDeleted)] == [old]
    offerings = list(iter_entities(made, "offering"))
    assert len(offerings) == 1 and offerings[0]["_id"] != old


def test_configuration_delete_removes_its_offerings_first(tmp_path: Path, made: LocalStore) -> None:
    result, events = run_step(tmp_path, made, configuration_action("cfg", "sd"), behavior="DELETE")
    assert result.status == "success", result.failed
    assert [e.entity_type for e in events.of(ev.EntityDeleted)] == ["offering", "configuration"]
    assert count(made, "configuration") == 1 and count(made, "offering") == 0


def test_processing_defaults_to_stop_continue_reuses(tmp_path: Path, store: LocalStore) -> None:
    first, _ = run_step(tmp_path, store, work_action("sd_p"))
    assert first.status == "success"
    stopped, _ = run_step(tmp_path, store, work_action("sd_p"))
    assert stopped.status == "failed" and "stored data 'sd_p'" in stopped.failed["s"]
    reused, events = run_step(tmp_path, store, work_action("sd_p"), behavior="CONTINUE")
    assert reused.status == "success", reused.failed
    assert {e.entity_type for e in events.of(ev.EntityCreated)} == {"processing_execution", "stored_data"}
    assert all(e.reused for e in events.of(ev.EntityCreated))
    assert count(store, "processing_execution") == 1 and count(store, "stored_data") == 1


def test_unstable_output_continue_fails_resume_replaces(tmp_path: Path, store: LocalStore) -> None:
    marker = tmp_path / "marker"
    marker.write_text("x")
    failed, _ = run_step(tmp_path, store, work_action("sd_u", fail_if_exists=str(marker)))
    assert failed.status == "failed"
    marker.unlink()
    cont, _ = run_step(tmp_path, store, work_action("sd_u"), behavior="CONTINUE")
    assert cont.status == "failed" and "UNSTABLE" in cont.failed["s"]
    resumed, _ = run_step(tmp_path, store, work_action("sd_u"), behavior="RESUME")
    assert resumed.status == "success", resumed.failed
    (sd,) = list(iter_entities(store, "stored_data", {"name": "sd_u"}))
    assert store.get_entity("stored_data", sd["_id"])["status"] == "GENERATED"
