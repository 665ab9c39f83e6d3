"""Helpers for the workflow tests: run the real CLI, build small workflow documents."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


# Wide, colourless output (rich reads these when a console is made).
_CLI_ENV = {"COLUMNS": "250", "NO_COLOR": "1"}


def run_cli(*args: str, cwd: Path | None = None) -> CliResult:
    """Run the real CLI entry point (``gpf_flow.cli.main``) in this process, as ``gpf-flow ARGS``.

    Same code path as the console script (argument parsing, error printing, exit codes) without
    the cost of a new interpreter; :func:`run_cli_subprocess` checks the real process end to end.
    """
    from gpf_flow.cli import common, main

    out, err = io.StringIO(), io.StringIO()
    old_argv, old_cwd = sys.argv, Path.cwd()
    old_env = {name: os.environ.get(name) for name in _CLI_ENV}
    sys.argv = ["gpf-flow", *args]
    os.environ.update(_CLI_ENV)
    common.console.cache_clear()  # the cached consoles are made again with this environment...
    common.err_console.cache_clear()
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
        for name, value in old_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        common.console.cache_clear()  # ...and again afterwards, so other tests get their own
        common.err_console.cache_clear()
    return CliResult(code, out.getvalue(), err.getvalue())


def run_cli_subprocess(*args: str, cwd: Path | None = None) -> CliResult:
    """Run ``python -m gpf_flow ARGS`` in a subprocess (wide terminal, no colours)."""
    env = {**os.environ, **_CLI_ENV, "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-m", "gpf_flow", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def steps_doc(parents: Mapping[str, Sequence[str]], **extra: Any) -> dict[str, Any]:
    """A workflow document with one offering action per step and the given parents."""
    steps = {
        name: {"parents": list(names), "actions": [{"type": "offering", "body_parameters": {}}]}
        for name, names in parents.items()
    }
    return {**extra, "workflow": {"steps": steps}}


def templated_doc(value: str, parameters: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """A workflow document whose one step ``a`` has one action with ``body_parameters.n = value``."""
    action = {"type": "configuration", "body_parameters": {"n": value}}
    document: dict[str, Any] = {"workflow": {"steps": {"a": {"actions": [action]}}}}
    if parameters is not None:
        document = {"parameters": parameters, **document}
    return document
