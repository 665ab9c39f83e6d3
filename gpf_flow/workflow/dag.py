"""The workflow as a DAG of steps and the execution plan of a selection of it.

Edges go from a parent to its child. A plan is a list of generations (Kahn's levels, as
``networkx.topological_generations`` gives them): every step of a generation only depends on steps
of earlier generations, so the steps of one generation may run concurrently. Inside a generation
steps keep the file order, so plans are stable.

Checks and plans use the standard library's ``graphlib`` on the happy path: importing networkx
costs more than a whole ``gpf-flow validate``. networkx is imported only for ``Plan.graph`` and to
name the cycle of a cyclic graph, so messages stay the ones networkx gives.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from gpf_flow.errors import UsageError
from gpf_flow.workflow._gc import gc_paused
from gpf_flow.workflow.locate import did_you_mean

if TYPE_CHECKING:
    import networkx as nx

    from gpf_flow.workflow.model import Workflow


@dataclass(frozen=True)
class Plan:
    """The steps to run, grouped in generations of independent steps."""

    generations: list[list[str]]
    """Step names by generation; a generation only depends on earlier ones."""
    workflow: Workflow = field(repr=False, compare=False)
    """The planned workflow."""
    selection: str = "all steps"
    """How the steps were chosen, for messages (``--until X``...)."""

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The whole workflow's graph (parent → child), not only the selection (imports networkx)."""
        return build_graph(self.workflow)

    @cached_property
    def steps(self) -> list[str]:
        """All selected steps, flattened in topological order."""
        return [name for generation in self.generations for name in generation]


def graph_from_parents(parents: Mapping[str, Sequence[str]]) -> nx.DiGraph:
    """A DiGraph with one node per step (file order) and an edge parent → child.

    Parents that are not steps become nodes too; callers check them with :func:`unknown_parents`.
    """
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(parents)
    graph.add_edges_from((parent, child) for child, names in parents.items() for parent in names)
    return graph


def build_graph(workflow: Workflow) -> nx.DiGraph:
    """The workflow's DAG; node attribute ``step`` holds the :class:`Step`."""
    graph = graph_from_parents({name: step.parents for name, step in workflow.steps.items()})
    for name, step in workflow.steps.items():
        graph.nodes[name]["step"] = step
    return graph


def unknown_parents(parents: Mapping[str, Sequence[str]]) -> list[tuple[str, int, str]]:
    """``(step, index, parent)`` for every parent name that is not a step."""
    return [
        (child, index, parent)
        for child, names in parents.items()
        for index, parent in enumerate(names)
        if parent not in parents
    ]


def generations(parents: Mapping[str, Iterable[str]]) -> list[list[str]] | None:
    """The topological generations of ``parents`` (step → its parents), or None when it has a cycle.

    Parents that are not keys are nodes too. Generation sets are those of
    ``networkx.topological_generations``; the order inside a generation is not defined.
    """
    sorter = graphlib.TopologicalSorter(parents)
    try:
        sorter.prepare()
    except graphlib.CycleError:
        return None
    result: list[list[str]] = []
    while sorter.is_active():
        ready = sorter.get_ready()
        result.append(list(ready))
        sorter.done(*ready)
    return result


def find_cycle(parents: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One cycle as a closed list of names (``[a, b, c, a]``), or None when the graph is a DAG."""
    if generations(parents) is not None:
        return None
    import networkx as nx  # only to name the cycle, as before

    edges = nx.find_cycle(graph_from_parents(parents))
    return [edges[0][0], *(edge[1] for edge in edges)]


def _reachable(start: str, links: Mapping[str, Iterable[str]]) -> set[str]:
    """Nodes reachable from ``start`` through ``links`` (``start`` excluded unless on a cycle)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for node in links.get(todo.pop(), ()):
            if node not in seen:
                seen.add(node)
                todo.append(node)
    return seen


def format_cycle(cycle: Iterable[str]) -> str:
    """``a -> b -> c -> a``."""
    return " -> ".join(cycle)


def _check_step(workflow: Workflow, name: str, option: str) -> None:
    if name not in workflow.steps:
        raise UsageError(
            f"{option} {name}: no step named `{name}` in {workflow.name}{did_you_mean(name, workflow.steps)}",
            hint="steps: " + ", ".join(workflow.steps),
        )


def plan(
    workflow: Workflow,
    *,
    step: str | None = None,
    until: str | None = None,
    from_: str | None = None,
) -> Plan:
    """Plan all steps, one ``step``, a step and its ancestors (``until``) or descendants (``from_``).

    At most one selection may be given; an unknown step name is a :class:`UsageError` suggesting
    close names.
    """
    with gc_paused():
        return _plan(workflow, step, until, from_)


def _plan(workflow: Workflow, step: str | None, until: str | None, from_: str | None) -> Plan:
    chosen = [
        (option, name) for option, name in (("--step", step), ("--until", until), ("--from", from_)) if name
    ]
    if len(chosen) > 1:
        raise UsageError(
            "choose one selection: " + " or ".join(f"{option} {name}" for option, name in chosen),
        )
    parents: Mapping[str, Sequence[str]] = {name: item.parents for name, item in workflow.steps.items()}
    order = {name: index for index, name in enumerate(workflow.steps)}
    selected: set[str] | None = None
    selection = "all steps"
    if chosen:
        option, name = chosen[0]
        _check_step(workflow, name, option)
        selection = f"{option} {name}"
        if option == "--step":
            selected = {name}
        elif option == "--until":
            selected = _reachable(name, parents) | {name}
        else:
            children: dict[str, list[str]] = {}
            for child, names in parents.items():
                for parent in names:
                    children.setdefault(parent, []).append(child)
            selected = _reachable(name, children) | {name}
        parents = {node: [p for p in parents.get(node, ()) if p in selected] for node in selected}
    found = generations(parents)
    if found is None:  # a cycle (loaded workflows have none): networkx raises as it always did
        import networkx as nx

        graph = build_graph(workflow)
        found = list(nx.topological_generations(graph if selected is None else graph.subgraph(selected)))
    ordered = [sorted(generation, key=order.__getitem__) for generation in found]
    return Plan(generations=ordered, workflow=workflow, selection=selection)
