"""`gpf-flow graph` colours steps by their last state in the run state of the store's home."""

from __future__ import annotations

import subprocess
from pathlib import Path

from engine_helpers import cli_env, gpf_flow_cmd, work_action, write_workflow

from gpf_flow import run
from gpf_flow.store.local import LocalStore


def test_graph_colours_steps_by_their_last_state(tmp_path: Path, home: Path, store: LocalStore) -> None:
    marker = tmp_path / "fail-now"
    marker.write_text("x")
    wf = write_workflow(
        tmp_path,
        {
            "workflow": {
                "steps": {
                    "good": {"actions": [work_action("sd_good")]},
                    "bad": {
                        "parents": ["good"],
                        "actions": [work_action("sd_bad", fail_if_exists=str(marker))],
                    },
                    "never": {"parents": ["bad"], "actions": [work_action("sd_never")]},
                }
            }
        },
    )
    assert run(wf, store).status == "failed"
    store.close()

    def graph(fmt: str, where: Path) -> str:
        done = subprocess.run(
            [*gpf_flow_cmd(), "graph", str(wf.path), "--format", fmt, "--home", str(where)],
            capture_output=True,
            text=True,
            env=cli_env(where),
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    mermaid = graph("mermaid", home)
    done_line = next(
        line for line in mermaid.splitlines() if line.strip().startswith("class ") and "done" in line
    )
    failed_line = next(
        line for line in mermaid.splitlines() if line.strip().startswith("class ") and "failed" in line
    )
    assert "classDef done" in mermaid and "classDef failed" in mermaid
    ids = {line.split("[")[0].strip(): line for line in mermaid.splitlines() if '["' in line}
    good_id = next(i for i, line in ids.items() if '"good' in line)
    bad_id = next(i for i, line in ids.items() if '"bad' in line)
    never_id = next(i for i, line in ids.items() if '"never' in line)
    assert good_id in done_line and bad_id in failed_line
    assert never_id not in done_line and never_id not in failed_line

    dot = graph("dot", home)
    assert dot.count("fillcolor") >= 2

    # another home, where this workflow never ran: no colours at all
    plain = graph("mermaid", tmp_path / "other-home")
    assert "classDef" not in plain
