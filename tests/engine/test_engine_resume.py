"""Failures: a failed step blocks its descendants, independent branches finish, a re-run resumes."""

from __future__ import annotations

from pathlib import Path

from engine_helpers import Events, configuration_action, offering_action, work_action, write_workflow

from gpf_flow import events as ev
from gpf_flow import run
from gpf_flow.engine.state import step_records
from gpf_flow.store.base import iter_entities
from gpf_flow.store.local import LocalStore


def test_failure_in_step_2_of_3_then_resume_creates_no_duplicates(
    tmp_path: Path, store: LocalStore, events: Events
) -> None:
    marker = tmp_path / "fail-now"
    marker.write_text("x")
    wf = write_workflow(
        tmp_path,
        {
            "workflow": {
                "steps": {
                    "one": {"actions": [work_action("sd_one")]},
                    "two": {
                        "parents": ["one"],
                        "actions": [work_action("sd_two", fail_if_exists=str(marker))],
                    },
                    "three": {
                        "parents": ["two"],
                        "actions": [configuration_action("cfg_two", "sd_two"), offering_action("cfg_two")],
                    },
                }
            }
        },
    )
    first = run(wf, store, on_event=events)
    assert first.status == "failed"
    assert [first.steps[n].status for n in ("one", "two", "three")] == ["done", "failed", "blocked"]
    assert "ended FAILURE" in first.failed["two"]
    assert "ERROR marker file present" in first.failed["two"]  # the last log lines are quoted
    assert events.of(ev.StepSkipped, step="three")[0].status == "blocked"
    sd_two = store.list_entities("stored_data", {"name": "sd_two"}).items[0]
    assert store.get_entity("stored_data", sd_two["_id"])["status"] == "UNSTABLE"
    records = step_records(wf, store.home / "runs.sqlite")
    assert {n: r.status for n, r in records.items()} == {"one": "done", "two": "failed"}
    assert "ended FAILURE" in (records["two"].error or "")

    marker.unlink()
    again = Events()
    second = run(wf, store, on_event=again)
    assert second.status == "success", second.failed
    assert [second.steps[n].status for n in ("one", "two", "three")] == ["skipped", "done", "done"]
    # the UNSTABLE output of the failed attempt was replaced, not duplicated
    assert [e.entity_id for e in again.of(ev.EntityDeleted)] == [sd_two["_id"]]
    for name in ("sd_one", "sd_two"):
        assert len(list(iter_entities(store, "stored_data", {"name": name}))) == 1
    executions = list(iter_entities(store, "processing_execution"))
    assert len(executions) == 3  # one, two (failed), two (resumed)
    assert len(list(iter_entities(store, "offering"))) == 1


def test_resumed_step_skips_the_actions_it_already_did(tmp_path: Path, store: LocalStore) -> None:
    wf = write_workflow(
        tmp_path,
        {
            "workflow": {
                "steps": {
                    "make": {"actions": [work_action("sd_m")]},
                    "pub": {
                        "parents": ["make"],
                        "actions": [configuration_action("cfg_m", "sd_m"), offering_action("cfg_missing")],
                    },
                }
            }
        },
    )
    first = run(wf, store)
    assert first.steps["pub"].status == "failed"
    assert "INFOS(name=cfg_missing)" in first.failed["pub"]
    events = Events()
    second = run(wf, store, on_event=events)
    assert second.steps["pub"].status == "failed"
    skipped = events.of(ev.ActionFinished, step="pub", status="skipped")
    assert [a.index for a in skipped] == [0]  # the configuration is not redone
    assert [e["type"] for e in second.steps["pub"].entities] == ["configuration"]  # carried over
    third = run(wf, store)  # carried over again from the skipped record
    assert [e["type"] for e in third.steps["pub"].entities] == ["configuration"]
    assert len(list(iter_entities(store, "configuration", {"name": "cfg_m"}))) == 1


def test_independent_branch_finishes_when_another_fails(tmp_path: Path, store: LocalStore) -> None:
    marker = tmp_path / "boom"
    marker.write_text("x")
    wf = write_workflow(
        tmp_path,
        {
            "workflow": {
                "steps": {
                    "root": {"actions": [work_action("sd_root")]},
                    "bad": {
                        "parents": ["root"],
                        "actions": [work_action("sd_bad", fail_if_exists=str(marker))],
                    },
                    "after_bad": {"parents": ["bad"], "actions": [work_action("sd_after")]},
                    "good": {"parents": ["root"], "actions": [work_action("sd_good", seconds=0.5, lines=2)]},
                    "after_good": {"parents": ["good"], "actions": [work_action("sd_after_good")]},
                }
            }
        },
    )
    result = run(wf, store)
    statuses = {n: s.status for n, s in result.steps.items()}
    assert statuses == {
        "root": "done",
        "bad": "failed",
        "good": "done",
        "after_bad": "blocked",
        "after_good": "done",
    }
    assert list(result.failed) == ["bad"]
    assert result.steps["after_bad"].reason == "parent step 'bad' did not succeed"
