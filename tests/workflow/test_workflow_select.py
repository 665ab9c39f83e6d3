"""Plan selection (all / --step / --until / --from) on a diamond and on a disconnected graph."""

from __future__ import annotations

import json

import pytest
from workflow_helpers import run_cli, steps_doc

from gpf_flow.errors import UsageError
from gpf_flow.workflow.dag import plan
from gpf_flow.workflow.load import load_workflow_text
from gpf_flow.workflow.model import Workflow

DIAMOND = {"top": [], "left": ["top"], "right": ["top"], "bottom": ["left", "right"]}
# two components: a chain and a fork, plus an isolated step
DISCONNECTED = {"a1": [], "a2": ["a1"], "a3": ["a2"], "b1": [], "b2": ["b1"], "b3": ["b1"], "lonely": []}


def load(parents: dict[str, list[str]]) -> Workflow:
    return load_workflow_text(json.dumps(steps_doc(parents)))


def test_diamond_all() -> None:
    result = plan(load(DIAMOND))
    assert result.generations == [["top"], ["left", "right"], ["bottom"]]
    assert result.steps == ["top", "left", "right", "bottom"]
    assert set(result.graph.edges) == {
        ("top", "left"),
        ("top", "right"),
        ("left", "bottom"),
        ("right", "bottom"),
    }


def test_diamond_step() -> None:
    assert plan(load(DIAMOND), step="left").generations == [["left"]]


def test_diamond_until() -> None:
    assert plan(load(DIAMOND), until="bottom").generations == [["top"], ["left", "right"], ["bottom"]]
    assert plan(load(DIAMOND), until="right").generations == [["top"], ["right"]]


def test_diamond_from() -> None:
    assert plan(load(DIAMOND), from_="left").generations == [["left"], ["bottom"]]
    assert plan(load(DIAMOND), from_="top").steps == ["top", "left", "right", "bottom"]


def test_disconnected_all_keeps_file_order_in_generations() -> None:
    result = plan(load(DISCONNECTED))
    assert result.generations == [["a1", "b1", "lonely"], ["a2", "b2", "b3"], ["a3"]]


def test_disconnected_selections_stay_in_their_component() -> None:
    workflow = load(DISCONNECTED)
    assert plan(workflow, until="a3").generations == [["a1"], ["a2"], ["a3"]]
    assert plan(workflow, from_="b1").generations == [["b1"], ["b2", "b3"]]
    assert plan(workflow, from_="lonely").steps == ["lonely"]
    assert plan(workflow, until="b3").steps == ["b1", "b3"]
    assert plan(workflow, step="a2").steps == ["a2"]


def test_unknown_step_is_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        plan(load(DIAMOND), from_="lefft")
    assert caught.value.exit_code == 2
    assert "did you mean `left`?" in str(caught.value)


def test_plan_command_prints_generations(write) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("plan", str(write(steps_doc(DIAMOND))), "--from", "left")
    assert result.code == 0, result.err
    lines = [line.strip() for line in result.out.splitlines()]
    assert "generation 1" in lines and "generation 2" in lines and "generation 3" not in lines
    assert lines.index("generation 1") < lines.index("left  offering") < lines.index("generation 2")
    assert lines.index("generation 2") < lines.index("bottom  offering")
    assert "--from left" in result.out
