"""Disk errors of processings said plainly: which file, and why (``No space left on device``...).

SQLite reports a full disk as ``database or disk is full``; :func:`sqlite_error` turns it into
the ``OSError`` (``ENOSPC``, with the file name) that any other write would raise, and
:func:`write_failure` makes one sentence of such an error for the execution's log.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from gpf_flow.processings.base import ProcessingFailed

_HINTS = {
    errno.ENOSPC: "free some space on that disk, or give the store a home on a larger one",
    errno.EDQUOT: "free some space within your quota, or give the store a home elsewhere",
    errno.EACCES: "check the folder's owner and permissions",
    errno.EROFS: "the file system is read-only: give the store a home on a writable one",
}


def sqlite_error(exc: sqlite3.Error, path: Path) -> Exception:
    """SQLite's "disk is full" on ``path`` as ``OSError(ENOSPC)`` naming the file; others unchanged."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return exc


_WRITING = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def describe_os_error(exc: OSError) -> str:
    """``writing /x/y.mbtiles: No space left on device (free some space...)``."""
    doing = "writing" if exc.errno in _WRITING else "accessing"
    where = f" {exc.filename}" if exc.filename else ""
    cause = exc.strerror or str(exc) or type(exc).__name__
    hint = _HINTS.get(exc.errno or 0)
    return f"{doing}{where}: {cause}" + (f" ({hint})" if hint else "")


def write_failure(exc: OSError) -> ProcessingFailed:
    """The processing's failure for an ``OSError`` (full disk, permissions...)."""
    return ProcessingFailed(describe_os_error(exc))
