"""Which server serves a home right now: ``gpf-flow serve`` writes ``serving.json`` (its public
base URL and process id) while it runs, so a ``gpf-flow run`` on the same home prints links at
the address the server really answers on, and can say how to start one when none runs.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from gpf_flow.store.local.liveness import pid_alive

SERVING_FILE = "serving.json"


def record(home: Path, public_url: str) -> None:
    """Note that this process serves ``home`` at ``public_url`` (atomic write)."""
    tmp = home / f".serving-{os.getpid()}.json"
    tmp.write_text(json.dumps({"public_url": public_url, "pid": os.getpid()}), encoding="utf-8")
    tmp.replace(home / SERVING_FILE)


def clear(home: Path) -> None:
    """Forget this process's record (another server's record is left alone)."""
    path = home / SERVING_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


def serving_url(home: Path) -> str | None:
    """The public base URL of the server running on ``home`` now, or None."""
    try:
        data = json.loads((home / SERVING_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pid, url = data.get("pid"), data.get("public_url")
    if not isinstance(pid, int) or not isinstance(url, str) or not pid_alive(pid):
        return None
    return url
