"""``gpf-flow run`` and ``gpf-flow status`` as real subprocesses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from engine_helpers import (
    cli_env,
    configuration_action,
    gpf_flow_cmd,
    offering_action,
    work_action,
    write_workflow,
)

from gpf_flow.store.local import LocalStore


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*gpf_flow_cmd(), *args, "--home", str(home)],
        capture_output=True,
        text=True,
        env=cli_env(home),
        timeout=120,
    )


def workflow(tmp_path: Path):
    return write_workflow(
        tmp_path,
        {
            "parameters": {"suffix": {"description": "name suffix", "default": "a"}},
            "workflow": {
                "steps": {
                    "make": {"actions": [work_action("sd_{{ suffix }}_{params.extra}", lines=2)]},
                    "cfg": {
                        "parents": ["make"],
                        "actions": [
                            configuration_action("cfg_{{ suffix }}", "sd_{{ suffix }}_{params.extra}")
                        ],
                    },
                    "pub": {"parents": ["cfg"], "actions": [offering_action("cfg_{{ suffix }}")]},
                }
            },
        },
    )


def test_json_output_parses_line_by_line_and_status(tmp_path: Path, home: Path, store: LocalStore) -> None:
    wf = workflow(tmp_path)
    store.close()
    done = cli(home, "run", str(wf.path), "-p", "suffix", "b", "-p", "extra", "x", "--output", "json")
    assert done.returncode == 0, done.stderr
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [o["event"] for o in objects]
    assert kinds[0] == "run_started" and kinds[-2:] == ["run_finished", "summary"]
    assert {"step_started", "log_line", "entity_created", "link_published", "step_finished"} <= set(kinds)
    summary = objects[-1]
    assert summary["status"] == "success"
    assert [s["name"] for s in summary["steps"]] == ["make", "cfg", "pub"]
    assert summary["links"][0]["layer_name"] == "layer_cfg_b"
    created = [o for o in objects if o["event"] == "entity_created" and o["entity_type"] == "stored_data"]
    assert created[0]["name"] == "sd_b_x"

    again = cli(home, "run", str(wf.path), "-p", "suffix", "b", "-p", "extra", "x")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skipped") >= 3
    assert "Published offerings" in again.stdout
    assert "http://127.0.0.1:8700/download/layer_cfg_b" in again.stdout

    status = cli(home, "status", str(wf.path), "-p", "suffix", "b", "--output", "json")
    assert status.returncode == 0, status.stderr
    assert [(r["step"], r["status"]) for r in json.loads(status.stdout)] == [
        ("make", "done"),
        ("cfg", "done"),
        ("pub", "done"),
    ]
    # --store counts only the runs on that store
    for kind, expected in (("local", "done"), ("geoplateforme", "never run")):
        chosen = cli(home, "status", str(wf.path), "-p", "suffix", "b", "--output", "json", "--store", kind)
        assert chosen.returncode == 0, chosen.stderr
        assert {r["status"] for r in json.loads(chosen.stdout)} == {expected}


def test_rich_output_dry_run_and_failure_exit_code(tmp_path: Path, home: Path, store: LocalStore) -> None:
    wf = workflow(tmp_path)
    store.close()
    dry = cli(home, "run", str(wf.path), "-p", "extra", "y", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert '"name": "sd_a_y"' in dry.stdout
    pending = "{store_entity.stored_data.infos._id [INFOS(name=sd_a_{params.extra})]}"
    assert f"pending (entity not created yet): {pending}" in dry.stdout

    failed = cli(home, "run", str(wf.path), "--step", "cfg", "-p", "extra", "y")
    assert failed.returncode == 1
    assert "no successful record" in failed.stdout
    assert "matches: 0" in failed.stdout and "failed" in failed.stdout

    status = cli(home, "status", str(wf.path))
    assert status.returncode == 0
    lines = {line.split("│")[1].strip(): line for line in status.stdout.splitlines() if line.count("│") > 3}
    assert "failed" in lines["cfg"] and "never run" in lines["make"]

    missing = cli(home, "run", str(wf.path))
    assert missing.returncode == 1 and "-p extra VALUE" in missing.stdout + missing.stderr


def test_a_reader_that_goes_away_does_not_fail_the_run(tmp_path: Path, home: Path, store: LocalStore) -> None:
    """`gpf-flow run ... | head -1`: the output pipe closes early; the steps still end done."""
    wf = workflow(tmp_path)
    store.close()
    for output in ("rich", "json"):
        proc = subprocess.Popen(
            [*gpf_flow_cmd(), "run", str(wf.path), "--home", str(home), "-p", "extra", output, "-o", output],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(home),
        )
        assert proc.stdout is not None
        assert proc.stdout.readline()  # the first line, then the reader goes away
        proc.stdout.close()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        status = cli(home, "status", str(wf.path), "-p", "extra", output, "--output", "json")
        assert {row["step"]: row["status"] for row in json.loads(status.stdout)} == {
            "make": "done",
            "cfg": "done",
            "pub": "done",
        }
