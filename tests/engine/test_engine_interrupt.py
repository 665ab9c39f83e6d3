"""Ctrl-C: running executions are aborted on the store, steps recorded interrupted, exit 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from engine_helpers import Events, cli_env, gpf_flow_cmd, work_action, write_workflow

from gpf_flow import events as ev
from gpf_flow import run
from gpf_flow.engine.options import RunOptions
from gpf_flow.engine.result import RunInterrupted
from gpf_flow.engine.state import step_records
from gpf_flow.store.base import iter_entities
from gpf_flow.store.local import LocalStore


def long_workflow(tmp_path: Path):
    return write_workflow(
        tmp_path,
        {
            "workflow": {
                "steps": {
                    "long": {"actions": [work_action("sd_long", seconds="{params.seconds}", lines=1)]},
                    "next": {"parents": ["long"], "actions": [work_action("sd_next")]},
                }
            }
        },
    )


def test_cancel_aborts_the_execution_and_records_interrupted(tmp_path: Path, store: LocalStore) -> None:
    wf = long_workflow(tmp_path)
    cancel = threading.Event()
    events = Events()

    def on_event(event: ev.Event) -> None:
        events(event)
        if isinstance(event, ev.LogLine):
            cancel.set()

    with pytest.raises(RunInterrupted) as info:
        run(wf, store, RunOptions(params={"seconds": 60}), on_event=on_event, cancel=cancel)
    assert info.value.exit_code == 130
    assert info.value.result.steps["long"].status == "interrupted"
    assert info.value.result.steps["next"].status == "not run"
    (execution,) = list(iter_entities(store, "processing_execution"))
    assert store.get_entity("processing_execution", execution["_id"])["status"] == "ABORTED"
    assert events.of(ev.RunFinished)[0].status == "interrupted"
    assert step_records(wf, store.home / "runs.sqlite")["long"].status == "interrupted"

    # the re-run resumes: the aborted output is replaced, nothing is duplicated
    again = run(wf, store, RunOptions(params={"seconds": 0}))
    assert again.status == "success", again.failed
    (stored,) = list(iter_entities(store, "stored_data", {"name": "sd_long"}))
    assert store.get_entity("stored_data", stored["_id"])["status"] == "GENERATED"


def test_sigint_to_gpf_flow_run(tmp_path: Path, home: Path, store: LocalStore) -> None:
    wf = long_workflow(tmp_path)
    store.close()  # the test processing is now registered in the home; the CLI opens its own store
    proc = subprocess.Popen(
        [
            *gpf_flow_cmd(),
            "run",
            str(wf.path),
            "--home",
            str(home),
            "--output",
            "json",
            "-p",
            "seconds",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(home),
    )
    assert proc.stdout is not None
    seen: list[dict] = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] == "log_line":
            break
    else:
        pytest.fail(f"no log line before the end: {seen} {proc.stderr.read() if proc.stderr else ''}")
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    objects = seen + [json.loads(line) for line in rest.splitlines()]
    assert objects[-1]["event"] == "summary" and objects[-1]["status"] == "interrupted"
    assert any(o["event"] == "run_finished" and o["status"] == "interrupted" for o in objects)
    with LocalStore(home) as again:
        (execution,) = list(iter_entities(again, "processing_execution"))
        assert again.get_entity("processing_execution", execution["_id"])["status"] == "ABORTED"
    assert step_records(wf, home / "runs.sqlite")["long"].status == "interrupted"


def test_terminal_ctrl_c_reaches_the_whole_process_group(
    tmp_path: Path, home: Path, store: LocalStore
) -> None:
    wf = long_workflow(tmp_path)
    store.close()
    proc = subprocess.Popen(
        [*gpf_flow_cmd(), "run", str(wf.path), "--home", str(home), "-o", "json", "-p", "seconds", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(home),
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "log_line":
            break
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    with LocalStore(home) as again:
        (execution,) = list(iter_entities(again, "processing_execution"))
        assert again.get_entity("processing_execution", execution["_id"])["status"] == "ABORTED"


def test_kill_9_leaves_the_step_interrupted_not_running(
    tmp_path: Path, home: Path, store: LocalStore
) -> None:
    """A killed run cannot record its end: its steps show ``interrupted`` once its process is gone."""
    wf = long_workflow(tmp_path)
    store.close()
    proc = subprocess.Popen(
        [*gpf_flow_cmd(), "run", str(wf.path), "--home", str(home), "-o", "json", "-p", "seconds", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(home),
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "log_line":
            break
    proc.kill()
    proc.communicate(timeout=60)
    record = step_records(wf, home / "runs.sqlite")["long"]
    assert record.status == "interrupted"
    assert record.error is not None and "process is gone" in record.error
    status = subprocess.run(
        [*gpf_flow_cmd(), "status", str(wf.path), "--home", str(home)],
        capture_output=True,
        text=True,
        env=cli_env(home),
        timeout=120,
    )
    assert "interrupted" in status.stdout and "running" not in status.stdout, status.stdout + status.stderr
