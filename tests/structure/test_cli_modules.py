"""The CLI's command modules: all listed, all importable, and a broken one stops start-up."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import gpf_flow.cli

CLI_DIR = Path(gpf_flow.cli.__file__).parent


def test_every_command_module_is_listed_and_imports() -> None:
    on_disk = {f"gpf_flow.cli.{p.stem}" for p in CLI_DIR.glob("*_cmds.py")}
    assert on_disk == set(gpf_flow.cli.COMMAND_MODULES)
    for name in gpf_flow.cli.COMMAND_MODULES:
        module = importlib.import_module(name)
        assert callable(module.register), name


def test_a_command_module_that_fails_to_import_fails_start_up() -> None:
    # ``None`` in sys.modules makes the import raise ModuleNotFoundError for that very module:
    # the case that used to be skipped silently, leaving the app without its commands.
    code = "import sys\nsys.modules['gpf_flow.cli.account_cmds'] = None\nimport gpf_flow.cli.application\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "gpf_flow.cli.account_cmds" in done.stderr


def test_every_command_is_registered() -> None:
    names = {command.name for command in gpf_flow.cli.app.registered_commands}
    groups = {group.name for group in gpf_flow.cli.app.registered_groups}
    assert {"run", "status", "upload", "validate", "plan", "graph", "serve"} <= names
    assert {"catalog", "dataset", "entities"} <= groups
