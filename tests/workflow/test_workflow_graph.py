"""Mermaid and DOT output: valid with awkward names (parsed back with pydot), status colours, tree."""

from __future__ import annotations

import json
import re

import pydot
import pytest
from workflow_helpers import run_cli

from gpf_flow.render.graph import to_dot, to_mermaid
from gpf_flow.render.tree import tree_text
from gpf_flow.workflow.load import load_workflow_text
from gpf_flow.workflow.model import Workflow

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NAMES = {
    "mise en base": [],
    "création d'une « config »": ["mise en base"],
    'publi "wms" -> <b>': ["création d'une « config »"],
    "back\\slash-ü": ["mise en base"],
    "fin": ['publi "wms" -> <b>', "back\\slash-ü"],
}


def awkward() -> Workflow:
    steps = {
        name: {
            "parents": parents,
            "actions": [{"type": "configuration"}, {"type": "offering"}, {"type": "offering"}],
        }
        for name, parents in NAMES.items()
    }
    return load_workflow_text(json.dumps({"workflow": {"steps": steps}}))


def unquote(dot_id: str) -> str:
    """A DOT id as pydot returns it (quoted, escaped) back to the step name."""
    if not dot_id.startswith('"'):
        return dot_id
    return re.sub(r"\\(.)", r"\1", dot_id[1:-1])


def test_dot_parses_back_with_the_same_nodes_and_edges() -> None:
    (graph,) = pydot.graph_from_dot_data(to_dot(awkward()))
    nodes = {unquote(node.get_name()) for node in graph.get_nodes()} - {"node"}
    assert nodes == set(NAMES)
    edges = {(unquote(e.get_source()), unquote(e.get_destination())) for e in graph.get_edges()}
    assert edges == {(parent, child) for child, parents in NAMES.items() for parent in parents}


def test_dot_labels_show_action_types_and_status_colours() -> None:
    dot = to_dot(awkward(), status={"fin": "failed", "mise en base": "done"})
    (graph,) = pydot.graph_from_dot_data(dot)
    (fin,) = graph.get_node('"fin"')
    assert fin.get("label") == '"fin\\nconfiguration, offering ×2"'
    assert fin.get("fillcolor") == '"#f8d7da"'
    (first,) = graph.get_node('"mise en base"')
    assert first.get("fillcolor") == '"#d4edda"'


def test_mermaid_is_a_flowchart_with_safe_ids_and_escaped_labels() -> None:
    text = to_mermaid(awkward(), status={"fin": "running"})
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    node_lines = [line.strip() for line in lines if re.match(r"^\s+s\d+\[", line)]
    assert len(node_lines) == len(NAMES)
    for line in node_lines:
        match = re.fullmatch(r's\d+\["([^"]*)"\]', line)
        assert match, line  # one quoted label, no raw quote inside
        assert "<" not in match.group(1).replace("<br/>", "")
    assert "#quot;wms#quot; -#gt; #lt;b#gt;" in text
    assert "création d'une « config »" in text
    edges = [line.strip() for line in lines if "-->" in line]
    assert len(edges) == sum(len(p) for p in NAMES.values())
    assert all(re.fullmatch(r"s\d+ --> s\d+", edge) for edge in edges)
    assert "classDef running" in text and re.search(r"class s4 running", text)


def test_mermaid_escapes_a_hash_that_would_read_as_an_entity_code() -> None:
    steps = {"n°#1; #quot;": {"actions": [{"type": "offering"}]}}
    text = to_mermaid(load_workflow_text(json.dumps({"workflow": {"steps": steps}})))
    assert 's0["n°#35;1; #35;quot;<br/>offering"]' in text


def test_tree_shows_each_step_and_marks_repeats() -> None:
    text = tree_text(awkward(), status={"mise en base": "done"})
    assert "✓ mise en base" in text
    assert text.count("fin  configuration, offering ×2") == 2  # under both parents
    assert "(see above)" in text


def test_graph_command_writes_each_format(write, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(
        {
            "workflow": {
                "steps": {n: {"parents": p, "actions": [{"type": "configuration"}]} for n, p in NAMES.items()}
            }
        }
    )
    for fmt in ("dot", "mermaid", "tree"):
        out = tmp_path / f"g.{fmt}"
        result = run_cli("graph", str(path), "--format", fmt, "-o", str(out))
        assert result.code == 0, result.err
        assert "fin" in out.read_text(encoding="utf-8")
    pydot.graph_from_dot_data((tmp_path / "g.dot").read_text(encoding="utf-8"))
    assert (tmp_path / "g.mermaid").read_text(encoding="utf-8").startswith("flowchart TD")
    result = run_cli("graph", str(path), "--format", "svg")
    assert result.code == 2
    assert "tree, mermaid, dot" in result.err
