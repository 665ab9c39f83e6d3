"""Steps of one generation really run at the same time (checked on event timestamps)."""

from __future__ import annotations

from pathlib import Path

from engine_helpers import Events, work_action, write_workflow

from gpf_flow import events as ev
from gpf_flow import run
from gpf_flow.engine.options import RunOptions
from gpf_flow.store.local import LocalStore


def diamond(seconds: float) -> dict:
    return {
        "workflow": {
            "steps": {
                "root": {"actions": [work_action("sd_root")]},
                "left": {"parents": ["root"], "actions": [work_action("sd_left", seconds=seconds, lines=2)]},
                "right": {
                    "parents": ["root"],
                    "actions": [work_action("sd_right", seconds=seconds, lines=2)],
                },
                "join": {"parents": ["left", "right"], "actions": [work_action("sd_join")]},
            }
        }
    }


def span(events: Events, step: str) -> tuple[float, float]:
    start = events.of(ev.StepStarted, step=step)[0].at
    end = events.of(ev.StepFinished, step=step)[0].at
    return start, end


def test_branches_overlap_and_the_join_waits_for_both(
    tmp_path: Path, store: LocalStore, events: Events
) -> None:
    wf = write_workflow(tmp_path, diamond(2.0))  # long enough to overlap on a loaded machine
    result = run(wf, store, RunOptions(jobs=4), on_event=events)
    assert result.status == "success", result.failed
    left, right, root, join = (span(events, s) for s in ("left", "right", "root", "join"))
    assert left[0] >= root[1] and right[0] >= root[1]
    assert left[0] < right[1] and right[0] < left[1]  # the two intervals intersect
    assert join[0] >= max(left[1], right[1])


def test_one_job_runs_the_branches_one_after_the_other(
    tmp_path: Path, store: LocalStore, events: Events
) -> None:
    wf = write_workflow(tmp_path, diamond(0.3))
    assert run(wf, store, RunOptions(jobs=1), on_event=events).status == "success"
    left, right = span(events, "left"), span(events, "right")
    assert left[1] <= right[0] or right[1] <= left[0]
