"""The typer app of ``gpf-flow``, and how it runs: errors as one-line messages, never a traceback.

Each command group lives in its own module with a ``register(app)`` function; modules import
heavy libraries inside the command bodies so that commands start fast.
"""

import sys

import typer

from gpf_flow.cli import COMMAND_MODULES, common, help_cache
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


def _print_version(value: bool) -> None:
    if value:
        from gpf_flow import __version__

        typer.echo(f"gpf-flow {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show the Python traceback of an unexpected error. Env: GPF_FLOW_DEBUG=1."
    ),
) -> None:
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


def is_command(words: tuple[str, ...]) -> bool:
    """Whether these words name a command or group of the app (``()`` is the app itself)."""
    command = typer.main.get_command(app)
    for word in words:
        commands = getattr(command, "commands", None)
        if not isinstance(commands, dict) or word not in commands:
            return False
        command = commands[word]
    return True


def _unexpected(exc: BaseException) -> common.GpfFlowError:
    """A one-line error for an exception no code path expected (never a traceback)."""
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        cause = exc.strerror or str(exc) or type(exc).__name__
        return common.GpfFlowError(
            f"cannot read or write{where}: {cause}",
            hint="free some space or fix the permissions, then run the command again "
            "(--debug shows the traceback)",
        )
    if isinstance(exc, RecursionError):
        message = "the input is nested too deeply to be processed"
    else:
        detail = str(exc).splitlines()[0][:300] if str(exc) else ""
        message = f"unexpected error: {type(exc).__name__}" + (f": {detail}" if detail else "")
    return common.GpfFlowError(
        message, hint="rerun with --debug to see the Python traceback, and report it if the input is valid"
    )


def run(debug: bool) -> None:
    """Run the app on ``sys.argv`` and turn every error into a message and an exit code (1 for an
    unexpected one); ``debug`` lets unexpected errors show their traceback. A help request is
    printed and added to the help cache (see :mod:`gpf_flow.cli.help_cache`)."""
    try:
        if help_cache.render(lambda: app(standalone_mode=False), is_command):
            return
        app()
    except common.GpfFlowError as exc:
        common.print_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        common.err_console().print("[yellow]interrupted[/yellow]")
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        common.print_error(_unexpected(exc))
        sys.exit(1)
