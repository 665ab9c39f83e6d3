"""A run state that tells the truth: run wms-generic, run cleanup-generic, run wms-generic again.

The second wms-generic finds its steps recorded done but their entities deleted: ``status`` shows
them "gone", the run runs them again, and its links (printed at the address the running
``gpf-flow serve`` answers on, not the default 8700) answer 200.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest


def _serve_helpers() -> Any:
    name = "e2e_serve_conftest_helpers"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "serve" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _gpf(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GPF_FLOW_HOME": str(home), "GPF_FLOW_STORE": "local"}
    env.pop("GPF_FLOW_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "gpf_flow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"gpf-flow {' '.join(args)}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def _summary(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return next(e for e in events if e.get("event") == "summary")


def _links_answer(summary: dict[str, Any], base_url: str) -> None:
    urls = [u["url"] for link in summary["links"] for u in link["urls"] if "{" not in u["url"]]
    assert urls, summary["links"]
    for url in urls:
        assert url.startswith(base_url), f"{url} is not on the server's address {base_url}"
        assert httpx.get(url, timeout=60).status_code == 200, url


@pytest.mark.slow
def test_rerun_after_cleanup_runs_the_gone_steps_again(tmp_path: Path) -> None:
    helpers = _serve_helpers()
    server = helpers.start_server(tmp_path)
    try:
        home, work = server.home, tmp_path / "work"
        work.mkdir()
        _gpf(home, work, "dataset", "get", "raster-sample")
        _gpf(home, work, "upload", "-f", "raster-sample/upload_descriptor.jsonc")
        first = _summary(_gpf(home, work, "run", "wms-generic", "-p", "bottom_level", "12", "-o", "json"))
        assert first["status"] == "success"
        _links_answer(first, server.base_url)

        cleanup = _summary(_gpf(home, work, "run", "cleanup-generic", "-o", "json"))
        deleted = [
            (e["type"], e["name"]) for s in cleanup["steps"] for e in s["entities"] if e.get("deleted")
        ]
        assert any(t == "stored_data" and n.endswith("__pyramide_raster") for t, n in deleted), deleted
        assert sum(t == "offering" for t, _n in deleted) == 2, deleted
        status = json.loads(
            _gpf(home, work, "status", "wms-generic", "-p", "bottom_level", "12", "-o", "json").stdout
        )
        by_step = {row["step"]: row for row in status}
        assert by_step["mise-en-base"]["status"] == "gone", status
        assert by_step["publication-wms"]["status"] == "gone", status
        assert any("gone" in reason for reason in by_step["publication-wms"]["gone"])

        again = _gpf(home, work, "run", "wms-generic", "-p", "bottom_level", "12", "-o", "json")
        summary = _summary(again)
        assert summary["status"] == "success"
        assert {s["name"]: s["status"] for s in summary["steps"]} == {
            "mise-en-base": "done",
            "configuration-wms": "done",
            "configuration-wmts": "done",
            "publication-wms": "done",
            "publication-wmts": "done",
        }
        assert "running it again" in again.stdout
        _links_answer(summary, server.base_url)

        # nothing is gone now: a third run skips every step
        third = _summary(_gpf(home, work, "run", "wms-generic", "-p", "bottom_level", "12", "-o", "json"))
        assert {s["status"] for s in third["steps"]} == {"skipped"}
    finally:
        helpers.stop_server(server)
