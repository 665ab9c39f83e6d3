"""A workflow's DAG as a rich :class:`~rich.tree.Tree` for the terminal.

Steps without parents are roots; every step is shown under each of its parents, but its own
children are only expanded the first time (later occurrences say "see above"), so a diamond
stays readable and the tree stays finite.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.text import Text
from rich.tree import Tree

from gpf_flow.render.graph import action_summary
from gpf_flow.safe_text import printable, shorten

if TYPE_CHECKING:
    from gpf_flow.workflow.model import Workflow

_MARKS: dict[str, tuple[str, str]] = {
    "done": ("✓", "green"),
    "failed": ("✗", "red"),
    "running": ("●", "yellow"),
    "interrupted": ("■", "magenta"),
    "pending": ("○", "dim"),
}


def _label(name: str, summary: str, state: str | None, repeated: bool) -> Text:
    text = Text()
    if state in _MARKS:
        mark, style = _MARKS[state]
        text.append(f"{mark} ", style=style)
    text.append(shorten(printable(name, keep_newlines=False), 200), style="bold" if not repeated else "")
    text.append(f"  {summary}", style="dim cyan")
    if state:
        text.append(f"  [{state}]", style=_MARKS.get(state, ("", "dim"))[1])
    if repeated:
        text.append("  (see above)", style="dim")
    return text


def to_tree(workflow: Workflow, status: Mapping[str, str] | None = None) -> Tree:
    """The workflow as a rich tree (title as root label)."""
    status = status or {}
    children: dict[str, list[str]] = {name: [] for name in workflow.steps}
    for name, step in workflow.steps.items():
        for parent in step.parents:
            children.setdefault(parent, []).append(name)
    root = Tree(Text(workflow.title or workflow.name, style="bold magenta"))
    expanded: set[str] = set()

    def add(top: Tree, top_name: str) -> None:
        # depth first with an explicit stack: a chain of thousands of steps is as deep as it is long
        pending: list[tuple[Tree, str]] = [(top, top_name)]
        while pending:
            node, name = pending.pop()
            repeated = name in expanded
            step = workflow.steps.get(name)
            summary = action_summary(step) if step else "unknown step"
            branch = node.add(_label(name, summary, status.get(name), repeated))
            if repeated:
                continue
            expanded.add(name)
            pending.extend((branch, child) for child in reversed(children.get(name, [])))

    for name, step in workflow.steps.items():
        if not step.parents:
            add(root, name)
    for name in workflow.steps:  # steps only reachable through a cycle (never in a loaded workflow)
        if name not in expanded:
            add(root, name)
    return root


def tree_text(workflow: Workflow, status: Mapping[str, str] | None = None, width: int = 120) -> str:
    """The tree as plain text (for ``-o FILE``)."""
    from rich.console import Console

    console = Console(record=True, width=width, color_system=None, file=io.StringIO())
    console.print(to_tree(workflow, status))
    return console.export_text()
