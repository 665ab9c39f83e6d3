"""Commands about workflow files: ``validate``, ``plan``, ``graph`` and the ``catalog`` group.

Heavy modules (jinja2, jsonschema, networkx, rich tables) are imported inside the commands.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpf_flow.cli import common
from gpf_flow.cli.common import PairParamCommand, pairs

if TYPE_CHECKING:
    from gpf_flow.workflow.model import Workflow

FILE_HELP = (
    "Workflow file (JSONC), or the name of a catalog workflow (e.g. `wms-generic`) when no such file exists."
)

FileArgument = Annotated[str, typer.Argument(help=FILE_HELP, show_default=False, metavar="FILE")]
# Typer cannot declare a repeatable two-value option (list of tuples); the option is declared as a
# list and turned into `nargs=2` by PairParamCommand when the click command is built.
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "-p",
        "--param",
        help="Load-time parameter value: `-p NAME VALUE` (repeatable). Wins over --params-file and defaults.",
        show_default=False,
        metavar="NAME VALUE",
        parser=lambda value: value,  # keep the (name, value) pair as the parser gives it
    ),
]
ParamsFileOption = Annotated[
    Path | None,
    typer.Option("--params-file", help="JSON object of parameter values.", show_default=False),
]
StrictOption = Annotated[bool, typer.Option("--strict", help="Treat warnings (duplicate keys) as errors.")]

SUMMARY_STEPS = 15  # step names listed by `validate` (the summary must fit on one screen)


def _warn(message: str) -> None:
    from rich.markup import escape

    common.err_console().print(f"[yellow]warning:[/yellow] {escape(message)}")


def _load(file: str, params: list[Any] | None, params_file: Path | None, strict: bool) -> Workflow:
    from gpf_flow.workflow.load import load_workflow

    return load_workflow(file, pairs(params), params_file=params_file, strict=strict, on_warning=_warn)


@cache
def _template_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(``{resolver.name``, ``_resolver_`` insertion marker) for the resolvers the runner knows."""
    from gpf_flow.resolve.parser import DEFAULT_RESOLVERS

    names = "|".join(map(re.escape, DEFAULT_RESOLVERS))
    return re.compile(rf"\{{({names})\.([A-Za-z_]+)"), re.compile(rf"^_({names})_$")


def templates_used(workflow: Workflow) -> Counter[str]:
    """Official run-time templates found in the actions, e.g. ``store_entity.stored_data`` → 2."""
    template, marker = _template_patterns()
    found: Counter[str] = Counter()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.update(f"{m.group(1)}.{m.group(2)}" for m in template.finditer(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                match = marker.match(key)
                if match and len(value) == 1:
                    found[f"{match.group(1)} (dict form)"] += 1
                walk(item)
        elif isinstance(value, list):
            if value and isinstance(value[0], str) and marker.match(value[0]):
                found[f"{value[0].strip('_')} (list form)"] += 1
            for item in value:
                walk(item)

    for step in workflow.steps.values():
        for action in step.actions:
            walk(dict(action.data))
    return found


def _parameter_rows(
    workflow: Workflow, given: dict[str, str], params_file: Path | None
) -> list[tuple[str, str, str]]:
    from_file: dict[str, Any] = {}
    if params_file is not None:
        from gpf_flow.workflow.params import read_params_file

        from_file = read_params_file(params_file)
    rows = []
    for name, spec in workflow.parameters.items():
        if name in given:
            rows.append((name, str(given[name]), "-p"))
        elif name in from_file:
            rows.append((name, str(from_file[name]), "--params-file"))
        elif spec.has_default:
            rows.append((name, str(spec.default), "default"))
        else:
            rows.append((name, "", "unset"))
    return rows


def validate(
    file: FileArgument,
    param: ParamOption = None,
    params_file: ParamsFileOption = None,
    strict: StrictOption = False,
) -> None:
    """Check a workflow (syntax, schema, parameters, parents, cycles) and print a summary.

    Exit 0 when valid, 1 when the workflow is invalid, 2 on bad usage.
    """
    from rich.markup import escape

    from gpf_flow.workflow.dag import plan

    workflow = _load(file, param, params_file, strict)
    result = plan(workflow)
    out = common.console()
    actions = Counter(action.type for step in workflow.steps.values() for action in step.actions)
    heading = f" — {escape(workflow.title)}" if workflow.title else ""
    out.print(f"[bold green]✓ valid[/bold green] {escape(str(workflow.path or file))}{heading}")
    if workflow.description:
        out.print(f"  [dim]{escape(workflow.description)}[/dim]")
    from gpf_flow.safe_text import printable, shorten

    names = [shorten(printable(name, keep_newlines=False)) for name in workflow.steps]
    shown = ", ".join(names[:SUMMARY_STEPS]) + (
        f", … ({len(names) - SUMMARY_STEPS} more)" if len(names) > SUMMARY_STEPS else ""
    )
    out.print(
        f"  [bold]steps[/bold]: {len(names)} in {len(result.generations)} generation(s): " + escape(shown)
    )
    out.print(
        f"  [bold]actions[/bold]: {sum(actions.values())} — "
        + escape(", ".join(f"{kind} ×{count}" for kind, count in actions.most_common()))
    )
    rows = _parameter_rows(workflow, pairs(param), params_file)
    if rows:
        out.print("  [bold]parameters[/bold]:")
        for name, value, origin in rows:
            out.print(f"    {escape(name)} = {escape(repr(value))} [dim]({origin})[/dim]")
    else:
        out.print("  [bold]parameters[/bold]: none")
    templates = templates_used(workflow)
    if templates:
        out.print(
            "  [bold]templates used[/bold]: "
            + escape(", ".join(f"{name} ×{count}" for name, count in sorted(templates.items())))
        )
    else:
        out.print("  [bold]templates used[/bold]: none")


def plan_command(
    file: FileArgument,
    step: Annotated[str | None, typer.Option("--step", help="Only this step.", show_default=False)] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="This step and all its ancestors.", show_default=False)
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="This step and all its descendants.", show_default=False)
    ] = None,
    param: ParamOption = None,
    params_file: ParamsFileOption = None,
) -> None:
    """Print the steps that would run, generation by generation (steps of a generation are independent)."""
    from rich.markup import escape

    from gpf_flow.render.graph import action_summary
    from gpf_flow.workflow.dag import plan

    workflow = _load(file, param, params_file, False)
    result = plan(workflow, step=step, until=until, from_=from_)
    out = common.console()
    out.print(
        f"[bold]{escape(workflow.title or workflow.name)}[/bold]: {len(result.steps)} step(s) "
        f"in {len(result.generations)} generation(s) ({escape(result.selection)})"
    )
    for number, generation in enumerate(result.generations, start=1):
        out.print(f"[bold cyan]generation {number}[/bold cyan]")
        for name in generation:
            summary = action_summary(workflow.steps[name])
            out.print(f"  {escape(name)}  [dim]{escape(summary)}[/dim]")


def graph(
    file: FileArgument,
    format: Annotated[
        str, typer.Option("--format", "-f", help="tree (terminal), mermaid (flowchart) or dot (Graphviz).")
    ] = "tree",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to this file instead of the terminal.")
    ] = None,
    param: ParamOption = None,
    params_file: ParamsFileOption = None,
    home: common.HomeOption = None,
) -> None:
    """Show the workflow's steps as a graph: edges go from parent to child.

    When the workflow has been run with this store home, nodes are coloured by each step's last
    state (done, failed, interrupted, running), as `gpf-flow status` shows it.
    """
    from gpf_flow.errors import UsageError
    from gpf_flow.render.graph import FORMATS, render_text

    if format not in FORMATS:
        raise UsageError(f"unknown --format {format!r}", hint="choose one of: " + ", ".join(FORMATS))
    workflow = _load(file, param, params_file, False)
    status = _last_states(workflow, home)
    if output is not None:
        output.write_text(render_text(workflow, format, status), encoding="utf-8")
        common.err_console().print(f"wrote {output}")
    elif format == "tree":
        from gpf_flow.render.tree import to_tree

        common.console().print(to_tree(workflow, status))
    else:
        typer.echo(render_text(workflow, format, status), nl=False)


def _last_states(workflow: Workflow, home: str | None) -> dict[str, str]:
    """Each step's last recorded state in the home's run state (empty when never run there)."""
    from gpf_flow.config import resolve_home

    state_path = resolve_home(home) / "runs.sqlite"
    if not state_path.exists():
        return {}
    from gpf_flow.engine.state import step_statuses

    return step_statuses(workflow, state_path)


catalog_app = typer.Typer(
    help="Reusable workflows shipped with gpf-flow: list, show, get a copy to edit.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@catalog_app.command("list")
def catalog_list() -> None:
    """List the catalog workflows."""
    from rich.table import Table

    from gpf_flow import catalog

    table = Table(title="gpf-flow catalog")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("title")
    table.add_column("description", style="dim")
    for entry in catalog.entries():
        table.add_row(entry.name, entry.title, entry.description)
    common.console().print(table)


@catalog_app.command("show")
def catalog_show(
    name: Annotated[str, typer.Argument(help="Catalog workflow name (see `catalog list`).")],
) -> None:
    """Show a catalog workflow: description, parameters and graph."""
    from rich.markup import escape
    from rich.table import Table

    from gpf_flow import catalog
    from gpf_flow.render.tree import to_tree
    from gpf_flow.workflow.load import load_workflow

    entry = catalog.get(name)
    workflow = load_workflow(entry.path, on_warning=_warn)
    out = common.console()
    out.print(f"[bold]{escape(entry.name)}[/bold] — {escape(workflow.title or '')}")
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
    out.print(f"[dim]get a copy to edit: gpf-flow catalog get {escape(entry.name)}[/dim]")


@catalog_app.command("get")
def catalog_get(
    name: Annotated[str, typer.Argument(help="Catalog workflow name (see `catalog list`).")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="File or folder to write (default: ./NAME.jsonc)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a catalog workflow out as a file you can edit."""
    from gpf_flow import catalog

    target = catalog.copy_to(name, output, overwrite=force)
    common.console().print(f"wrote {target}")


def register(app: typer.Typer) -> None:
    """Add ``validate``, ``plan``, ``graph`` and ``catalog`` to the app."""
    app.command("validate", cls=PairParamCommand)(validate)
    app.command("plan", cls=PairParamCommand)(plan_command)
    app.command("graph", cls=PairParamCommand)(graph)
    app.add_typer(catalog_app, name="catalog")
