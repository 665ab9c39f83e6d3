"""Helpers of the hostile-input tests: run the real CLI as a process, start a real server."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

_CLI_ENV = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def gpf_flow(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> Outcome:
    """``python -m gpf_flow ARGS`` in a new process (what a user runs)."""
    done = subprocess.run(
        [sys.executable, "-m", "gpf_flow", *args],
        capture_output=True,
        cwd=cwd,
        env={**os.environ, **_CLI_ENV, **(env or {})},
        timeout=timeout,
    )
    return Outcome(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def assert_clean(outcome: Outcome, code: int, *fragments: str) -> None:
    """Exit ``code``, no traceback, and each fragment somewhere in the output."""
    assert "Traceback" not in outcome.text, outcome.text
    assert outcome.code == code, outcome.text
    flat = " ".join(outcome.text.split())  # the console wraps long messages
    for fragment in fragments:
        assert fragment in outcome.text or " ".join(fragment.split()) in flat, (fragment, outcome.text)


def one_step(action: dict[str, Any] | None = None, **step: Any) -> dict[str, Any]:
    """A workflow document with one step ``a``."""
    action = action or {"type": "delete-entity", "entity_type": "upload", "entity_id": "x"}
    return {"workflow": {"steps": {"a": {"actions": [action], **step}}}}


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def serve_conftest() -> ModuleType:
    """The serve tests' fixtures module (``start_server``, ``stop_server``), loaded by path."""
    path = Path(__file__).parents[1] / "serve" / "conftest.py"
    spec = importlib.util.spec_from_file_location("hostile_serve_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
