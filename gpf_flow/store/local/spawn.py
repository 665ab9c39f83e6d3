"""Starting one worker process for one job, and reading what it printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def output_file(home: Path, job_id: str) -> Path:
    """Where a worker's own prints and crash traces go (not the CLI's output)."""
    return home / "logs" / f"worker-{job_id}.out"


def spawn_worker(home: Path, job_id: str, workers: int) -> subprocess.Popen[bytes]:
    """``python -m gpf_flow.store.local.worker HOME JOB_ID OWNER_PID WORKERS``, in its own session."""
    env = dict(os.environ)
    # The worker must import what this process imports (test processings, plugins).
    paths = [p for p in sys.path if p and Path(p).is_dir()]
    if os.getcwd() not in paths:
        paths.insert(0, os.getcwd())
    env["PYTHONPATH"] = os.pathsep.join(paths)
    output = output_file(home, job_id)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gpf_flow.store.local.worker",
                str(home),
                job_id,
                str(os.getpid()),
                str(workers),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            close_fds=True,
            # Own session: a terminal's Ctrl-C reaches the CLI (which aborts its executions),
            # not the workers; a worker still exits when its owner dies (it watches its parent).
            start_new_session=True,
        )


def tail(path: Path, lines: int = 20) -> list[str]:
    """The last lines a worker printed (kept in the job's log when it dies)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]
