"""Commands about workflow files: ``validate``, ``plan``, ``graph`` and the ``catalog`` group.

Heavy modules (jinja2, jsonschema, networkx, rich tables) are imported inside the commands.
"""

from collections import Counter
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


def _warn(message: str) -> None:
    from rich.markup import escape

    common.err_console().print(f"[yellow]warning:[/yellow] {escape(message)}")


def _load(file: str, params: list[Any] | None, params_file: Path | None, strict: bool) -> "Workflow":
    from gpf_flow.workflow.load import load_workflow

    return load_workflow(file, pairs(params), params_file=params_file, strict=strict, on_warning=_warn)


def templates_used(workflow: "Workflow") -> Counter[str]:
    """Official run-time templates found in the actions, e.g. ``store_entity.stored_data`` → 2."""
    from gpf_flow.resolve.usage import count_templates

    return count_templates(dict(a.data) for step in workflow.steps.values() for a in step.actions)


def validate(
    file: FileArgument,
    param: ParamOption = None,
    params_file: ParamsFileOption = None,
    strict: StrictOption = False,
) -> None:
    """Check a workflow (syntax, schema, parameters, parents, cycles) and print a summary.

    Exit 0 when valid, 1 when the workflow is invalid, 2 on bad usage.
    """
    from gpf_flow.render.workflow import print_validation
    from gpf_flow.workflow.dag import plan
    from gpf_flow.workflow.param_sources import parameter_sources

    workflow = _load(file, param, params_file, strict)
    result = plan(workflow)
    parameters = parameter_sources(workflow, pairs(param), params_file)
    templates = templates_used(workflow)
    print_validation(common.console(), workflow, str(workflow.path or file), result, parameters, templates)


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
    from gpf_flow.render.workflow import print_plan
    from gpf_flow.workflow.dag import plan

    workflow = _load(file, param, params_file, False)
    print_plan(common.console(), workflow, plan(workflow, step=step, until=until, from_=from_))


def graph(
    file: Annotated[
        str | None,
        typer.Argument(
            help=FILE_HELP + " Default: the only workflow (*.jsonc) of the current folder.",
            show_default=False,
            metavar="[FILE]",
        ),
    ] = None,
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
    if file is None:
        file = _only_workflow_here()
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


def _last_states(workflow: "Workflow", home: str | None) -> dict[str, str]:
    """Each step's last recorded state in the home's run state (empty when never run there)."""
    from gpf_flow.engine.runner import default_state_path

    state_path = default_state_path(None, home)
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
    from gpf_flow import catalog
    from gpf_flow.render.tables import catalog_table

    common.console().print(catalog_table(catalog.entries()))


@catalog_app.command("show")
def catalog_show(
    name: Annotated[str, typer.Argument(help="Catalog workflow name (see `catalog list`).")],
) -> None:
    """Show a catalog workflow: description, parameters and graph."""
    from gpf_flow import catalog
    from gpf_flow.render.workflow import print_catalog_entry
    from gpf_flow.workflow.load import load_workflow

    entry = catalog.get(name)
    print_catalog_entry(common.console(), entry.name, load_workflow(entry.path, on_warning=_warn))


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


def _only_workflow_here() -> str:
    """The only workflow file (``*.jsonc`` with a ``workflow`` key) of the current folder."""
    from gpf_flow.errors import UsageError

    candidates = sorted(
        p.name
        for p in Path.cwd().glob("*.jsonc")
        if p.is_file() and '"workflow"' in p.read_text(errors="replace")
    )
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise UsageError(
            "no workflow file (*.jsonc) in the current folder",
            hint="give one: `gpf-flow graph FILE`, or a catalog name (`gpf-flow catalog list`)",
        )
    raise UsageError(
        f"{len(candidates)} workflow files here: {', '.join(candidates)}",
        hint="say which one: `gpf-flow graph " + candidates[0] + "`",
    )
