"""Helpers shared by the upload checks: confined paths, file selection, bounded error reporting."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
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


def locate(ctx: CheckContext, relative: str) -> Path | None:
    """The path of a data file, or None after logging that it is missing or outside the upload."""
    path = confined(ctx, relative)
    if path is None or not path.is_file():
        ctx.log(f"ERROR {relative}: file is missing or outside the upload")
        return None
    return path


def stop_if_aborted(ctx: CheckContext) -> bool:
    """True (and logged) when the check was asked to stop."""
    if ctx.is_aborted():
        ctx.log("WARNING check aborted")
        return True
    return False


def check_each(
    ctx: CheckContext, relatives: Iterable[str], check_file: Callable[[str, Path], bool]
) -> bool | None:
    """Run ``check_file(relative, path)`` on every file found in the upload, in order.

    Returns whether every file was found and passed, or None when the check was aborted.
    """
    ok = True
    for relative in relatives:
        if stop_if_aborted(ctx):
            return None
        path = locate(ctx, relative)
        ok = path is not None and check_file(relative, path) and ok
    return None if stop_if_aborted(ctx) else ok


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
        """True while no problem was recorded."""
        return self.count == 0
