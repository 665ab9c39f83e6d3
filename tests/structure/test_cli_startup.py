"""Start-up of the CLI: which modules `--help`, `validate` and `plan` import, and the coercion that
spares them pydantic gives typer's own values. (`tests/cli/test_help_cache.py` checks that the
cached help is click's text.)

Module sets, not timings (the machine's load makes timings meaningless in a test): a command that
imports networkx, pydantic or jsonschema again fails here; `bench/startup.py` measures the time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer._click import Context
from typer._coercion import build_runtime_param

import gpf_flow.cli
from gpf_flow.cli.coercion import FastCoercionGroup

# Imported by none of the commands below: each costs tens of milliseconds (networkx, pydantic
# through typer's adapters, jsonschema) or belongs to the commands that do real work.
NEVER = {
    "networkx",
    "pydantic",
    "typer._adapters",
    "jsonschema",
    "numpy",
    "rasterio",
    "pyproj",
    "shapely",
    "httpx",
    "starlette",
    "uvicorn",
    "mapproxy",
    "lxml",
    "PIL",
    "sdk_entrepot_gpf",
}
# `--help` prints click's plain help: nothing that reads or renders a workflow.
NOT_FOR_HELP = NEVER | {"rich", "json5", "jinja2", "jsonschema_rs", "gpf_flow.workflow", "gpf_flow.render"}


def imported_modules(*args: str, cache: Path | None = None) -> set[str]:
    """Modules `gpf-flow ARGS` imports (as `python -X importtime` lists them), with the help cache in
    ``cache`` if given; the command must succeed."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)} if cache else None
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gpf_flow", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip(), "the command printed nothing"
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "[us]" not in line
    }
    assert "gpf_flow.cli" in names
    return names


def offending(names: set[str], forbidden: set[str]) -> set[str]:
    return {name for name in names if name in forbidden or name.split(".")[0] in forbidden}


@pytest.mark.parametrize("args", [("--help",), ("validate", "--help"), ("plan", "--help")])
def test_help_imports_no_workflow_machinery(args: tuple[str, ...], tmp_path: Path) -> None:
    rendered = imported_modules(*args, cache=tmp_path)  # first time: typer renders it
    assert "typer" in rendered
    assert offending(rendered, NOT_FOR_HELP) == set()
    cached = imported_modules(*args, cache=tmp_path)  # then: the cached text, without typer
    assert offending(cached, NOT_FOR_HELP | {"typer", "click"}) == set()


@pytest.mark.parametrize(
    "args",
    [
        ("validate", "wms-generic"),
        ("validate", "wms-generic", "-p", "layer_name", "couche", "--strict"),
        ("plan", "wms-generic"),
        ("plan", "vector-generic", "--until", "publication-wfs"),
    ],
)
def test_validate_and_plan_import_no_heavy_library(args: tuple[str, ...]) -> None:
    names = imported_modules(*args)
    assert offending(names, NEVER) == set()
    assert "jsonschema_rs" in names  # the workflow was checked against the schema all the same


def _samples(annotation: Any, info: Any) -> list[Any]:
    if info.parser is not None:
        return [[("name", "value")], [("a", "1"), ("a", "2")], ("x", "y")]
    samples: dict[Any, list[Any]] = {
        str: ["abc", "", "é ü", "-", "4"],
        int: [0, 4, -3, 65536, "7", "x", True],
        bool: [True, False, "true"],
        list[str]: [["a", "b"], ("k=v",), []],
    }
    return samples.get(annotation, ["abc", "4"])


def _outcome(runtime_param: Any, value: Any, param: Any, ctx: Context) -> tuple[str, Any]:
    try:
        return "value", runtime_param._coerce_value(value, param=param, ctx=ctx)
    except Exception as exc:
        return type(exc).__name__, str(exc)


def test_fast_coercion_gives_typer_values_and_errors() -> None:
    root = typer.main.get_command(gpf_flow.cli.app)
    assert isinstance(root, FastCoercionGroup)
    checked = 0

    def walk(command: Any) -> None:
        nonlocal checked
        ctx = Context(command)
        for param in command.params:
            fast = param._runtime_param
            if param.type_descriptor.file_annotation is not None:
                continue
            assert type(fast).__name__ == "FastRuntimeParam", (command.name, param.name)
            typer_param = build_runtime_param(param.type_descriptor)
            for value in _samples(param.type_descriptor.annotation, param.type_descriptor.parameter_info):
                expected = _outcome(typer_param, value, param, ctx)
                assert _outcome(fast, value, param, ctx) == expected, (command.name, param.name, value)
                checked += 1
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(root)
    assert checked > 100
