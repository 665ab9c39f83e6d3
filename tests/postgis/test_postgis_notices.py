"""A run that integrates vector data says at its start when PostGIS cannot be used, and how to fix it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpf_flow.postgis.notices import availability_notice


def _dry_run(tmp_path: Path, workflow: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "GPF_FLOW_HOME": str(tmp_path / "home"), **env}
    if "GPF_FLOW_POSTGRES" not in env:
        environ.pop("GPF_FLOW_POSTGRES", None)
    return subprocess.run(
        [sys.executable, "-m", "gpf_flow", "run", workflow, "--dry-run"],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GPF_FLOW_POSTGRES": "off"}, "PostgreSQL is turned off"),
        ({"GPF_FLOW_PG_BINDIR": "/nonexistent"}, "PostgreSQL is not installed"),
    ],
)
def test_a_vector_run_is_told_at_its_start(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    done = _dry_run(tmp_path, "vector-generic", **env)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "mise-en-base" in done.stdout, output
    assert expected in output, output
    assert "SQL files (.sql lots) cannot be integrated" in output
    if "not installed" in expected:
        assert "apt-get install postgresql postgis" in output


def test_runs_without_vector_integration_say_nothing(tmp_path: Path) -> None:
    done = _dry_run(tmp_path, "wms-generic", GPF_FLOW_POSTGRES="off")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "publication-wms" in done.stdout and "PostgreSQL" not in done.stdout + done.stderr


def test_a_dsn_needs_no_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPF_FLOW_POSTGRES", "postgresql://u:p@127.0.0.1:1/db")
    assert availability_notice() is None
    monkeypatch.setenv("GPF_FLOW_POSTGRES", "off")
    assert availability_notice() is not None
