"""A check worker that dies mid-check: ``upload -b CONTINUE`` says that RESUME mends it, and it does.

For real: ``gpf-flow upload`` runs the local store in its own process; as soon as one of its check
executions has a worker process, the test kills that process (SIGKILL, a crash), reading its pid
from the store's database. The checks end as interrupted, not as failed by the data.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from gpf_flow.datasets import write_dataset
from gpf_flow.store.local.layout import db_path

HINT = "--behavior RESUME"


def kill_first_check_worker(home: Path, timeout: float = 60.0) -> int:
    """SIGKILL the worker process of the first running check execution; its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db_path(home).exists():
            try:
                with sqlite3.connect(f"file:{db_path(home)}?mode=ro", uri=True, timeout=5) as db:
                    row = db.execute(
                        "SELECT worker_pid FROM entities WHERE type = 'check_execution' "
                        "AND status = 'PROGRESS' AND worker_pid IS NOT NULL LIMIT 1"
                    ).fetchone()
            except sqlite3.OperationalError:  # the database is being created
                row = None
            if row is not None:
                os.kill(int(row[0]), signal.SIGKILL)
                return int(row[0])
        time.sleep(0.01)
    raise AssertionError("no check execution got a worker process")


def test_crash_during_checks_then_continue_says_resume(
    tmp_path: Path, home: Path, run_cli, start_cli
) -> None:
    folder = write_dataset("raster-sample", tmp_path / "data")
    descriptor = str(folder / "upload_descriptor.jsonc")
    first = start_cli("upload", "-f", descriptor)
    killed = kill_first_check_worker(home)
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 1, out
    assert f"worker process {killed} is gone" in out, out
    flat = " ".join(out.split())
    assert "the checks were interrupted" in flat and HINT in flat, out

    # what the issue saw: CONTINUE only said the worker was gone; now it says what mends it
    again = run_cli("upload", "-f", descriptor, "--behavior", "CONTINUE")
    flat = " ".join(again.stdout.split())
    assert again.returncode == 1, again.stdout + again.stderr
    assert "the checks were interrupted (their process is gone), not failed by the data" in flat, again.stdout
    assert f"run the same command with {HINT} to re-open the upload and check it again" in flat
    assert "Traceback" not in again.stdout + again.stderr

    mended = run_cli("upload", "-f", descriptor, "--behavior", "RESUME")
    assert mended.returncode == 0, mended.stdout + mended.stderr
    assert "CLOSED" in mended.stdout
