"""Shared pieces of the CLI: consoles, error printing, and the options every store command takes."""

from __future__ import annotations

import contextlib
import sys
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from typer.core import TyperCommand

from gpf_flow.errors import GpfFlowError

if TYPE_CHECKING:
    from rich.console import Console

    from gpf_flow.store.base import Store

__all__ = [
    "GpfFlowError",
    "HomeOption",
    "StoreOption",
    "ConfigOption",
    "PostgresOption",
    "use_postgres",
    "console",
    "err_console",
    "print_error",
    "open_store_from_options",
    "PairParamCommand",
    "ParamOption",
    "pairs",
]

HomeOption = Annotated[
    str | None,
    typer.Option(
        "--home",
        help="Folder of the local store (default: $GPF_FLOW_HOME or ~/.local/share/gpf-flow).",
        show_default=False,
    ),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store to use: local (embedded, default) or geoplateforme (the real API). Env: GPF_FLOW_STORE.",
        show_default=False,
    ),
]
ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="Géoplateforme configuration (official SDK config.ini or gpf-flow TOML). Env: GPF_FLOW_CONFIG.",
        show_default=False,
    ),
]


PostgresOption = Annotated[
    str | None,
    typer.Option(
        "--postgres",
        help="PostgreSQL for VECTOR-DB stored data: a DSN (existing server), 'embedded' (a cluster in "
        "the home, default when PostgreSQL is installed) or 'off' (GeoPackage). Env: GPF_FLOW_POSTGRES.",
        show_default=False,
    ),
]


def use_postgres(value: str | None) -> None:
    """Pass ``--postgres`` on through ``GPF_FLOW_POSTGRES``, which the store's worker processes inherit."""
    if value:
        import os

        os.environ["GPF_FLOW_POSTGRES"] = value


class ClosedPipeSafeStream:
    """stdout that survives its reader going away (`gpf-flow run ... | head`).

    On the first broken pipe, the file descriptor is pointed at /dev/null: later writes (live view,
    summary, interpreter shutdown flush) go nowhere instead of raising, so the command finishes its
    work and exits with the code of that work.
    """

    @property
    def _stream(self) -> TextIO:
        return sys.stdout  # looked up at each use, as rich does (tests swap sys.stdout)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._discard()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._discard()

    def _discard(self) -> None:
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding... as the real stream
        return getattr(self._stream, name)


@cache
def stdout() -> ClosedPipeSafeStream:
    """The process's stdout, safe against a reader that goes away."""
    return ClosedPipeSafeStream()


NOT_A_TERMINAL_WIDTH = 10_000
"""Columns of the stdout console when it is not a terminal: wide enough that nothing is cut."""


@cache
def console() -> Console:
    """The stdout console. When stdout is not a terminal (a pipe, a file), lines are never wrapped
    nor cut at 80 columns, so ids and names in tables stay whole for grep and scripts."""
    out = _safe_console(file=stdout())
    if out.is_terminal:
        return out
    return _safe_console(file=stdout(), width=NOT_A_TERMINAL_WIDTH)


def _safe_console(**options: Any) -> Console:
    """A console that prints text from untrusted files safely: control characters escaped (an
    ANSI sequence in a step name never reaches the terminal) and no automatic highlighting (rich's
    highlighter is quadratic: an 80,000-character step name took a minute to print)."""
    from rich.console import Console

    from gpf_flow.safe_text import printable

    class SafeConsole(Console):
        def render_str(self, text: str, **kwargs: Any) -> Any:
            return super().render_str(printable(text), **kwargs)

    return SafeConsole(highlight=False, **options)


@cache
def err_console() -> Console:
    """The stderr console (errors, warnings, progress). Not a terminal: messages are not wrapped, so a
    log or a script sees each one on one line."""
    err = _safe_console(stderr=True)
    if err.is_terminal:
        return err
    return _safe_console(stderr=True, width=NOT_A_TERMINAL_WIDTH)


def print_error(exc: GpfFlowError) -> None:
    """Print a user error without a traceback."""
    from rich.markup import escape

    from gpf_flow.safe_text import printable

    err_console().print(f"[bold red]error:[/bold red] {escape(printable(exc.message))}")
    if exc.hint:
        err_console().print(f"  [cyan]hint:[/cyan] {escape(printable(exc.hint))}")


def open_store_from_options(store: str | None, home: str | None, config: str | None) -> Store:
    """Open the store the options (then the environment) choose."""
    from gpf_flow.store import open_store

    return open_store(store, home=home, config=config)


class PairParamCommand(TyperCommand):
    """A command whose ``-p/--param`` takes two values (``-p NAME VALUE``), repeatable."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for option in self.params:
            if option.name == "param":
                option.nargs = 2


ParamOption = Annotated[
    list[Any] | None,
    typer.Option(
        "-p",
        "--param",
        help="Parameter `-p NAME VALUE` (repeatable): feeds {{ name }} and {params.name}.",
        metavar="NAME VALUE",
        show_default=False,
        parser=lambda value: value,  # keep the (name, value) pair as click gives it
    ),
]


def pairs(values: list[Any] | None) -> dict[str, str]:
    """``-p`` pairs as a dict; the last value of a name wins."""
    return {str(name): str(value) for name, value in values or []}
