"""Archive check: every zip (and tar) passes its CRC checks and no member escapes the archive."""

from __future__ import annotations

import posixpath
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from gpf_flow.checks._support import ErrorBudget, locate, stop_if_aborted, suffix_of
from gpf_flow.checks.base import CheckContext

ZIP_EXTENSIONS = (".zip",)
TAR_EXTENSIONS = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
_CHUNK = 1 << 20


def unsafe_member(name: str) -> str | None:
    """Why an archive member name would escape the extraction folder, or None if it is safe."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or PureWindowsPath(name).drive:
        return "absolute path"
    if ".." in posix.parts:
        return "path goes up with '..'"
    return None


def _check_zip(path: Path, budget: ErrorBudget) -> int:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        budget.error(f"not a readable zip: {exc}")
        return 0
    with archive:
        infos = archive.infolist()
        for info in infos:
            reason = unsafe_member(info.filename)
            if reason:
                budget.error(f"member {info.filename!r} escapes the archive ({reason})")
            if info.is_dir():
                continue
            try:
                # Reading to the end makes zipfile verify the member's CRC-32 (what testzip() does).
                with archive.open(info) as member:
                    while member.read(_CHUNK):
                        pass
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
                budget.error(f"member {info.filename!r} is damaged: {exc}")
        return len(infos)


def _check_tar(path: Path, budget: ErrorBudget) -> int:
    count = 0
    try:
        with tarfile.open(path) as archive:
            for info in archive:
                count += 1
                reason = unsafe_member(info.name)
                if reason:
                    budget.error(f"member {info.name!r} escapes the archive ({reason})")
                if info.issym() or info.islnk():
                    # A symlink's target is relative to its folder, a hard link's to the archive root.
                    base = PurePosixPath(info.name).parent if info.issym() else PurePosixPath()
                    link_reason = unsafe_member(posixpath.normpath(str(base / info.linkname)))
                    if link_reason:
                        budget.error(f"link {info.name!r} points outside the archive ({link_reason})")
                if info.isfile():
                    extracted = archive.extractfile(info)
                    if extracted is not None:
                        while extracted.read(_CHUNK):
                            pass
    except (tarfile.TarError, zlib.error, OSError, EOFError) as exc:
        budget.error(f"damaged tar archive: {exc}")
    return count


def run(ctx: CheckContext) -> bool:
    """Pass when every archive reads to the end with good CRCs and only safe member names."""
    ok = True
    archives = 0
    for relative in sorted(ctx.files):
        if stop_if_aborted(ctx):
            return False
        suffix = suffix_of(relative)
        if suffix not in ZIP_EXTENSIONS + TAR_EXTENSIONS:
            ctx.log(f"INFO {relative}: not an archive, delivered as is")
            continue
        path = locate(ctx, relative)
        if path is None:
            ok = False
            continue
        archives += 1
        budget = ErrorBudget(ctx, relative)
        members = _check_zip(path, budget) if suffix in ZIP_EXTENSIONS else _check_tar(path, budget)
        budget.close()
        state = "all intact" if budget.ok else f"{budget.count} problem(s)"
        ctx.log(f"INFO {relative}: {members} member(s), {state}")
        ok = budget.ok and ok
    ctx.log(f"INFO {archives} archive(s) checked: {'all intact' if ok else 'problems found'}")
    return ok
