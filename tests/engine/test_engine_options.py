"""RunOptions (what a run is asked to do) and the recorder that writes the run state."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import work_action, write_workflow

from gpf_flow import RunOptions, run
from gpf_flow.engine.recorder import RunRecorder
from gpf_flow.engine.state import RunState, step_records
from gpf_flow.errors import UsageError
from gpf_flow.store.local import LocalStore


def test_options_are_checked_and_normalised() -> None:
    checked = RunOptions(behavior=" delete ", params={"a": 1}).checked()
    assert checked.behavior == "DELETE" and checked.params == {"a": 1}
    with pytest.raises(UsageError, match="unknown behavior 'MAYBE'"):
        RunOptions(behavior="maybe").checked()
    with pytest.raises(UsageError, match="--jobs must be at least 1"):
        RunOptions(jobs=0).checked()
    assert RunOptions().selection is None
    assert RunOptions(until="pub").selection == "--until pub"


def test_a_dry_run_on_a_fresh_home_writes_no_state(tmp_path: Path, store: LocalStore) -> None:
    wf = write_workflow(tmp_path, {"workflow": {"steps": {"s": {"actions": [work_action("sd_dry")]}}}})
    state = tmp_path / "state" / "runs.sqlite"
    assert run(wf, store, RunOptions(dry_run=True, state_path=state)).status == "planned"
    assert not state.exists()
    assert run(wf, store, RunOptions(state_path=state)).status == "success"
    assert step_records(wf, state)["s"].status == "done"


def test_the_recorder_writes_only_once_a_run_is_started(tmp_path: Path) -> None:
    nothing = RunRecorder(None)
    nothing.start_run("k", "wf", datastore=None, store="local", params={}, selection=None)
    nothing.start_step("s")
    nothing.finish_run("success")
    assert nothing.run_id is None and nothing.last_steps("k", None) == {}

    reading = RunRecorder(RunState(tmp_path / "runs.sqlite"))  # opened, no run started: a dry run
    reading.start_step("s")
    reading.finish_step("s", "done", None)
    assert reading.last_steps("k", None) == {}
    reading.start_run("k", "wf", datastore=None, store="local", params={}, selection=None)
    reading.start_step("s")
    reading.finish_step("s", "done", None)
    assert reading.last_steps("k", None)["s"].status == "done"
    reading.close()
