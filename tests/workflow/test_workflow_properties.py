"""Property tests: random DAGs plan into valid generations; graphs with a cycle are rejected."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from workflow_helpers import steps_doc

from gpf_flow.errors import WorkflowError
from gpf_flow.workflow.dag import plan
from gpf_flow.workflow.load import load_workflow_text


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    size = draw(st.integers(min_value=1, max_value=25))
    names = [f"s{i}" for i in range(size)]
    order = draw(st.permutations(names))  # file order differs from the topological order
    parents: dict[str, list[str]] = {}
    for index, name in enumerate(names):
        parents[name] = draw(st.lists(st.sampled_from(names[:index]), unique=True)) if index else []
    return {name: parents[name] for name in order}


@settings(max_examples=60, deadline=None)
@given(dags())
def test_generations_only_depend_on_earlier_ones(parents: dict[str, list[str]]) -> None:
    result = plan(load_workflow_text(json.dumps(steps_doc(parents))))
    seen: set[str] = set()
    for generation in result.generations:
        for name in generation:
            assert set(parents[name]) <= seen
        seen.update(generation)
    assert seen == set(parents) and len(result.steps) == len(parents)


@settings(max_examples=60, deadline=None)
@given(dags(), st.data())
def test_a_cycle_is_rejected(parents: dict[str, list[str]], data: st.DataObject) -> None:
    names = sorted(parents, key=lambda n: int(n[1:]))
    # close a cycle: an early step gets a later one (or itself) as parent, and the path exists
    low = data.draw(st.integers(min_value=0, max_value=len(names) - 1))
    high = data.draw(st.integers(min_value=low, max_value=len(names) - 1))
    chain = names[low : high + 1]
    for child, parent in zip(chain[1:], chain[:-1], strict=True):
        if parent not in parents[child]:
            parents[child] = [*parents[child], parent]
    parents[chain[0]] = [*parents[chain[0]], chain[-1]]
    with pytest.raises(WorkflowError) as caught:
        load_workflow_text(json.dumps(steps_doc(parents)))
    message = str(caught.value)
    assert "cycle" in message
    cycle = message.split("cycle: ", 1)[1].splitlines()[0].split(" -> ")
    assert cycle[0] == cycle[-1]
    for parent, child in zip(cycle[:-1], cycle[1:], strict=True):
        assert parent in parents[child]
