"""Fixtures for end-to-end delivery tests: the real ``gpf-flow`` CLI run in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {"GPF_FLOW_HOME": str(home), "GPF_FLOW_STORE": "local", "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    )
    return env


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty local-store home for one test."""
    return tmp_path / "home"


@pytest.fixture
def run_cli(home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``gpf-flow ARGS...`` (as ``python -m gpf_flow``) against the test's home."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gpf_flow", *args],
            capture_output=True,
            text=True,
            env=_env(home),
            cwd=cwd,
            timeout=timeout,
        )

    return run


@pytest.fixture
def start_cli(home: Path) -> Callable[..., subprocess.Popen[str]]:
    """Start ``gpf-flow ARGS...`` without waiting, stdout as an unbuffered text pipe."""

    def start(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "gpf_flow", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(home),
            cwd=cwd,
        )

    return start
