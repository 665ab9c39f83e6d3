"""Is a process of this machine still there? The ``/proc`` and signal checks behind recovery.

A job row names the process that launched it (``launcher_pid``/``launcher_host``) and, once
claimed, the process that owns it (``owner_pid``/``host``) with a heartbeat.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time

HOST = socket.gethostname()
STALE_AFTER_S = 60.0
"""An owner silent for longer than this is taken as gone (another machine, a frozen process)."""


def pid_alive(pid: int | None) -> bool:
    """True if a process with this pid exists on this machine and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def owner_gone(row: sqlite3.Row, running_here: set[str] | None = None) -> bool:
    """True if the process owning a PROGRESS job is gone (or silent for too long).

    ``running_here``: the jobs the caller's own dispatcher runs (they are alive by definition).
    A job owned by this process but not in that set may belong to another store's dispatcher
    of this process: only its heartbeat tells."""
    owner = row["owner_pid"]
    if running_here is not None and owner == os.getpid() and row["id"] in running_here:
        return False
    if row["host"] == HOST and owner is not None and not pid_alive(owner):
        return True
    beat = row["heartbeat"]
    return beat is not None and time.time() - beat > STALE_AFTER_S


def launcher_gone(row: sqlite3.Row) -> bool:
    """True if the process of this machine that launched a WAITING job is gone (an orphan)."""
    return bool(row["launcher_host"] == HOST and not pid_alive(row["launcher_pid"]))


def launched_here(row: sqlite3.Row) -> bool:
    """True if this process launched the job."""
    return bool(row["launcher_pid"] == os.getpid() and row["launcher_host"] == HOST)
