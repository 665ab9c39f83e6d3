"""The graphlib-based plans and cycle checks give what networkx gives, on random graphs.

`gpf_flow.workflow.dag` avoids importing networkx on the happy path (start-up time); these tests
hold it to networkx's own answers: the same generations (as sets), the same selections for
``--until`` / ``--from``, and the same verdict on cycles, with networkx's cycle when there is one.
"""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st
from test_workflow_properties import dags

from gpf_flow.workflow.dag import find_cycle, generations, graph_from_parents, plan
from gpf_flow.workflow.model import Step, Workflow


def workflow_of(parents: dict[str, list[str]]) -> Workflow:
    return Workflow(
        steps={name: Step(name=name, actions=(), parents=tuple(p)) for name, p in parents.items()}
    )


def as_sets(found: list[list[str]]) -> list[set[str]]:
    return [set(generation) for generation in found]


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    """Any directed graph, cycles and self-loops included."""
    size = draw(st.integers(min_value=1, max_value=12))
    names = [f"s{i}" for i in range(size)]
    return {name: draw(st.lists(st.sampled_from(names), unique=True, max_size=4)) for name in names}


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_cycle_verdict_and_cycle_are_networkx_ones(parents: dict[str, list[str]]) -> None:
    graph = graph_from_parents(parents)
    if nx.is_directed_acyclic_graph(graph):
        assert find_cycle(parents) is None
        assert as_sets(generations(parents) or []) == as_sets(
            [list(g) for g in nx.topological_generations(graph)]
        )
    else:
        assert generations(parents) is None
        edges = nx.find_cycle(graph)
        assert find_cycle(parents) == [edges[0][0], *(edge[1] for edge in edges)]


@settings(max_examples=100, deadline=None)
@given(dags(), st.data())
def test_plans_and_selections_are_networkx_ones(parents: dict[str, list[str]], data: st.DataObject) -> None:
    workflow = workflow_of(parents)
    graph = graph_from_parents(parents)
    order = list(parents)
    name = data.draw(st.sampled_from(order))
    cases = {
        "all": (plan(workflow), graph),
        "--step": (plan(workflow, step=name), graph.subgraph({name})),
        "--until": (plan(workflow, until=name), graph.subgraph(nx.ancestors(graph, name) | {name})),
        "--from": (plan(workflow, from_=name), graph.subgraph(nx.descendants(graph, name) | {name})),
    }
    for label, (result, expected) in cases.items():
        wanted = [sorted(g, key=order.index) for g in nx.topological_generations(expected)]
        assert result.generations == wanted, label
        assert set(result.graph.edges) == set(graph.edges), label
