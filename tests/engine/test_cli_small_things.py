"""Small things a user hits at once: ``--version``, ``graph`` without a file, whole ids in tables
written to a pipe."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _gpf(cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GPF_FLOW_HOME": str(home), "GPF_FLOW_STORE": "local"}
    env.pop("GPF_FLOW_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "gpf_flow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version(tmp_path: Path) -> None:
    from gpf_flow import __version__

    done = _gpf(tmp_path, tmp_path / "home", "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"gpf-flow {__version__}"


def test_graph_without_a_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    empty = _gpf(tmp_path, home, "graph")
    assert empty.returncode != 0 and "no workflow file" in empty.stderr and "Traceback" not in empty.stderr
    shutil.copy(REPO / "workflows" / "wms-generic.jsonc", tmp_path)
    (tmp_path / "notes.jsonc").write_text('{"not": "a workflow"}')
    one = _gpf(tmp_path, home, "graph")
    assert one.returncode == 0 and "mise-en-base" in one.stdout
    shutil.copy(REPO / "workflows" / "cleanup-generic.jsonc", tmp_path)
    two = _gpf(tmp_path, home, "graph")
    assert two.returncode != 0
    assert "cleanup-generic.jsonc" in two.stderr and "wms-generic.jsonc" in two.stderr


def test_tables_keep_whole_ids_and_names_in_a_pipe(tmp_path: Path) -> None:
    from gpf_flow.store.local import LocalStore

    home = tmp_path / "home"
    name = "a_rather_long_upload_name_" + "x" * 90
    with LocalStore(home) as store:
        upload = store.create_entity("upload", {"name": name, "type": "VECTOR", "srs": "EPSG:2154"})
    done = _gpf(tmp_path, home, "entities", "list", "upload")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if upload["_id"] in line]
    assert len(lines) == 1 and name in lines[0]
