"""The ``gpf-flow`` command line: a thin typer app over the library.

This package's own module stays light: :func:`main` answers ``--help`` from the help cache
(:mod:`gpf_flow.cli.help_cache`) without importing typer, and imports the app
(:mod:`gpf_flow.cli.application`, also reachable as ``gpf_flow.cli.app``) for everything else.
"""

from __future__ import annotations

import os
import sys
from typing import Any

COMMAND_MODULES = (
    "gpf_flow.cli.workflow_cmds",
    "gpf_flow.cli.run_cmds",
    "gpf_flow.cli.delivery_cmds",
    "gpf_flow.cli.entity_cmds",
    "gpf_flow.cli.serve_cmds",
    "gpf_flow.cli.account_cmds",
)
"""Every command module; each has a ``register(app)`` function and imports heavy libraries lazily."""


def __getattr__(name: str) -> Any:
    if name == "app":
        from gpf_flow.cli.application import app

        return app
    raise AttributeError(f"module 'gpf_flow.cli' has no attribute {name!r}")


def _debug_requested() -> bool:
    """``--debug`` anywhere on the command line (taken out of it), or ``GPF_FLOW_DEBUG`` set."""
    asked = "--debug" in sys.argv[1:]
    if asked:
        sys.argv[1:] = [arg for arg in sys.argv[1:] if arg != "--debug"]
    return asked or os.environ.get("GPF_FLOW_DEBUG", "") not in ("", "0")


def main() -> None:
    """Console-script entry point: a cached help text, or the app (see :func:`application.run`)."""
    from gpf_flow.cli import help_cache

    debug = _debug_requested()
    words = help_cache.help_words(sys.argv[1:])
    text = help_cache.cached_help(words) if words is not None else None
    if text is not None:
        help_cache.emit(text)
        return
    from gpf_flow.cli.application import run

    run(debug)
