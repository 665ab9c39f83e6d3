"""What ``validate``, ``plan`` and ``catalog show`` print about a workflow, for people."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gpf_flow.render.graph import action_summary
from gpf_flow.render.tree import to_tree

if TYPE_CHECKING:
    from gpf_flow.workflow.dag import Plan
    from gpf_flow.workflow.model import Workflow

SUMMARY_STEPS = 15  # step names listed by `validate` (the summary must fit on one screen)


def print_validation(
    out: Console,
    workflow: Workflow,
    shown_path: str,
    plan: Plan,
    parameters: Sequence[tuple[str, str, str]],
    templates: Mapping[str, int],
) -> None:
    """The ``validate`` summary: title, steps and generations, actions, parameters, templates."""
    actions = Counter(action.type for step in workflow.steps.values() for action in step.actions)
    heading = f" — {escape(workflow.title)}" if workflow.title else ""
    out.print(f"[bold green]✓ valid[/bold green] {escape(shown_path)}{heading}")
    if workflow.description:
        out.print(f"  [dim]{escape(workflow.description)}[/dim]")
    from gpf_flow.safe_text import printable, shorten

    names = [shorten(printable(name, keep_newlines=False)) for name in workflow.steps]
    shown = ", ".join(names[:SUMMARY_STEPS]) + (
        f", … ({len(names) - SUMMARY_STEPS} more)" if len(names) > SUMMARY_STEPS else ""
    )
    out.print(
        f"  [bold]steps[/bold]: {len(names)} in {len(plan.generations)} generation(s): " + escape(shown)
    )
    out.print(
        f"  [bold]actions[/bold]: {sum(actions.values())} — "
        + escape(", ".join(f"{kind} ×{count}" for kind, count in actions.most_common()))
    )
    if parameters:
        out.print("  [bold]parameters[/bold]:")
        for name, value, origin in parameters:
            out.print(f"    {escape(name)} = {escape(repr(value))} [dim]({origin})[/dim]")
    else:
        out.print("  [bold]parameters[/bold]: none")
    if templates:
        out.print(
            "  [bold]templates used[/bold]: "
            + escape(", ".join(f"{name} ×{count}" for name, count in sorted(templates.items())))
        )
    else:
        out.print("  [bold]templates used[/bold]: none")


def print_plan(out: Console, workflow: Workflow, plan: Plan) -> None:
    """The ``plan`` listing: the selected steps, generation by generation, with their actions."""
    out.print(
        f"[bold]{escape(workflow.title or workflow.name)}[/bold]: {len(plan.steps)} step(s) "
        f"in {len(plan.generations)} generation(s) ({escape(plan.selection)})"
    )
    for number, generation in enumerate(plan.generations, start=1):
        out.print(f"[bold cyan]generation {number}[/bold cyan]")
        for name in generation:
            out.print(f"  {escape(name)}  [dim]{escape(action_summary(workflow.steps[name]))}[/dim]")


def print_catalog_entry(out: Console, name: str, workflow: Workflow) -> None:
    """``catalog show``: description, a parameters table, the step tree, how to get a copy."""
    out.print(f"[bold]{escape(name)}[/bold] — {escape(workflow.title or '')}")
    if workflow.description:
        out.print(escape(workflow.description))
    if workflow.parameters:
        table = Table(title="parameters (-p NAME VALUE)")
        table.add_column("name", style="cyan")
        table.add_column("default")
        table.add_column("description", style="dim")
        for spec in workflow.parameters.values():
            default = str(spec.default) if spec.has_default else ("(required)" if spec.required else "")
            table.add_row(spec.name, default, spec.description)
        out.print(table)
    out.print(to_tree(workflow))
    out.print(f"[dim]get a copy to edit: gpf-flow catalog get {escape(name)}[/dim]")
