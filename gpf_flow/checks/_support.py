"""Helpers shared by the upload checks: confined paths, file selection, bounded error reporting."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from gpf_flow.checks.base import CheckContext

MAX_ERRORS_PER_FILE = 20
"""Beyond this many ERROR lines for one file, the rest are summarised in one line."""


def confined(ctx: CheckContext, relative: str) -> Path | None:
    """The absolute path of an upload file, or None if ``relative`` escapes the upload folder."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        return None
    root = ctx.root.resolve()
    path = (root / pure).resolve()
    if path != root and root not in path.parents:
        return None
    return path


def suffix_of(relative: str) -> str:
    """The lower-case extension of a path, ``.tar.gz`` style double extensions included."""
    name = PurePosixPath(relative).name.lower()
    for double in (".tar.gz", ".tar.bz2", ".tar.xz", ".aux.xml"):
        if name.endswith(double):
            return double
    return PurePosixPath(name).suffix


def select(files: Iterable[str], extensions: Iterable[str]) -> Iterator[str]:
    """The files whose extension is one of ``extensions``, in sorted order."""
    wanted = set(extensions)
    for relative in sorted(files):
        if suffix_of(relative) in wanted:
            yield relative


class ErrorBudget:
    """Logs ERROR lines for one file up to a limit, then counts the rest."""

    def __init__(self, ctx: CheckContext, relative: str, limit: int = MAX_ERRORS_PER_FILE) -> None:
        self.ctx = ctx
        self.relative = relative
        self.limit = limit
        self.count = 0

    def error(self, what: str) -> None:
        """Record one problem of the file."""
        self.count += 1
        if self.count <= self.limit:
            self.ctx.log(f"ERROR {self.relative}: {what}")

    def close(self) -> None:
        """Log the summary line for problems beyond the limit."""
        if self.count > self.limit:
            self.ctx.log(f"ERROR {self.relative}: {self.count - self.limit} more problems not listed")

    @property
    def ok(self) -> bool:
        return self.count == 0
