"""Names from untrusted workflow files printed safely: no control character reaches the terminal
or breaks a Mermaid/DOT line, long names are shortened, and printing stays fast."""

from __future__ import annotations

import json
from pathlib import Path

import pydot
from hostile_helpers import assert_clean, gpf_flow, write_json

from gpf_flow.safe_text import printable, shorten

CONFIG = {"type": "configuration", "body_parameters": {}}
HOSTILE_NAME = "a\x1b[31mRED\x00\nX\r\u202eZ"


def _workflow(tmp_path: Path, *names: str) -> Path:
    steps = {name: {"actions": [CONFIG]} for name in names}
    return write_json(tmp_path / "w.jsonc", {"workflow": {"steps": steps}})


def test_control_characters_are_escaped_in_validate_and_tree(tmp_path: Path) -> None:
    path = _workflow(tmp_path, HOSTILE_NAME)
    for args in (("validate", str(path)), ("graph", str(path))):
        outcome = gpf_flow(*args)
        assert_clean(outcome, 0, "a\\e[31mRED\\x00\\nX\\r\\u202eZ")
        assert "\x1b" not in outcome.out and "\x00" not in outcome.out and "\u202e" not in outcome.out


def test_mermaid_keeps_one_line_per_node(tmp_path: Path) -> None:
    outcome = gpf_flow("graph", str(_workflow(tmp_path, HOSTILE_NAME, "b")), "--format", "mermaid")
    assert_clean(outcome, 0)
    lines = outcome.out.splitlines()
    assert lines[0] == "flowchart TD"
    assert len(lines) == 3 and all(line.startswith("    s") for line in lines[1:]), lines
    assert "\x00" not in outcome.out and "\x1b" not in outcome.out


def test_dot_parses_back_with_the_escaped_name(tmp_path: Path) -> None:
    outcome = gpf_flow("graph", str(_workflow(tmp_path, HOSTILE_NAME)), "--format", "dot")
    assert_clean(outcome, 0)
    assert "\x00" not in outcome.out and "\x1b" not in outcome.out
    graphs = pydot.graph_from_dot_data(outcome.out)
    assert graphs and len(graphs[0].get_nodes()) >= 1


def test_very_long_step_names_are_shortened(tmp_path: Path) -> None:
    name = "n" * 80000
    outcome = gpf_flow("validate", str(_workflow(tmp_path, name)))
    assert_clean(outcome, 0, "valid", "…")
    assert len(outcome.out) < 2000


def test_printable_and_shorten() -> None:
    assert printable("a\x1bb\x00c\nd") == "a\\eb\\x00c\nd"
    assert printable("a\nb\tc", keep_newlines=False) == "a\\nb\\tc"
    assert printable("é ünïcode 漢字") == "é ünïcode 漢字"
    assert shorten("x" * 10, 80) == "x" * 10
    cut = shorten("a" * 50 + "b" * 50, 21)
    assert len(cut) == 21 and cut.startswith("a") and cut.endswith("b") and "…" in cut


def test_json_lines_output_stays_json(tmp_path: Path) -> None:
    outcome = gpf_flow("plan", str(_workflow(tmp_path, HOSTILE_NAME)), "--output", "json")
    if outcome.code == 2 and "--output" in outcome.text:
        return  # plan has no JSON output: nothing to check here
    assert_clean(outcome, 0)
    for line in outcome.out.splitlines():
        json.loads(line)
