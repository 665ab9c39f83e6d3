"""The ``gpf-flow`` command line: a thin typer app over the library.

Each command group lives in its own module with a ``register(app)`` function; modules import
heavy libraries inside the command bodies so that ``gpf-flow --help`` starts fast.
"""

import sys

import typer

from gpf_flow.cli import common
from gpf_flow.cli.coercion import FastCoercionGroup

app = typer.Typer(
    name="gpf-flow",
    help=(
        "Declarative workflows for the Géoplateforme Entrepôt, with an embedded offline Entrepôt.\n\n"
        "Typical session: `gpf-flow dataset get raster-sample`, `gpf-flow upload -f "
        "raster-sample/upload_descriptor.jsonc`, `gpf-flow catalog get wms-generic`, "
        "`gpf-flow run wms-generic.jsonc`, `gpf-flow serve`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: typer's rich help renderer imports rich.markdown and costs ~0.2 s of
    # start-up, and `gpf-flow --help` must stay well under 0.3 s.
    rich_markup_mode=None,
    # Plain values (a str given as a str...) coerced without importing pydantic: see cli/coercion.py.
    cls=FastCoercionGroup,
)

COMMAND_MODULES = (
    "gpf_flow.cli.workflow_cmds",
    "gpf_flow.cli.run_cmds",
    "gpf_flow.cli.delivery_cmds",
    "gpf_flow.cli.entity_cmds",
    "gpf_flow.cli.serve_cmds",
    "gpf_flow.cli.account_cmds",
)
"""Every command module; each has a ``register(app)`` function and imports heavy libraries lazily."""


@app.callback()
def _root() -> None:
    """Declarative workflows for the Géoplateforme Entrepôt, with an embedded offline Entrepôt."""


@app.command("version")
def version() -> None:
    """Print the gpf-flow version."""
    from gpf_flow import __version__

    typer.echo(f"gpf-flow {__version__}")


def _register_all() -> None:
    """Import every command module and let it add its commands; a broken module fails start-up."""
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_all()


def main() -> None:
    """Console-script entry point: runs the app and turns user errors into messages and exit codes."""
    try:
        app()
    except common.GpfFlowError as exc:
        common.print_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        common.err_console().print("[yellow]interrupted[/yellow]")
        sys.exit(130)
