"""Standard check: every data file is listed in an md5 file of the upload and matches it."""

from __future__ import annotations

from gpf_flow.checks._support import confined, locate, stop_if_aborted
from gpf_flow.checks.base import CheckContext
from gpf_flow.delivery.md5 import md5_lines, md5_of


def _read_listing(ctx: CheckContext) -> tuple[dict[str, str], bool]:
    """``path -> md5`` from every md5 file, and whether they all parsed cleanly."""
    listed: dict[str, str] = {}
    clean = True
    for md5_file in sorted(ctx.md5_files):
        path = confined(ctx, md5_file)
        if path is None or not path.is_file():
            ctx.log(f"ERROR {md5_file}: md5 file is missing or outside the upload")
            clean = False
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line, entry in md5_lines(text):
            if entry is None:
                ctx.log(f"ERROR {md5_file}: line {number} is not '<md5>  <path>': {line[:80]!r}")
                clean = False
                continue
            listed_path, md5 = entry
            previous = listed.get(listed_path)
            if previous is not None and previous != md5:
                ctx.log(f"ERROR {md5_file}: line {number} lists {listed_path} again with another checksum")
                clean = False
            listed[listed_path] = md5
        ctx.log(f"INFO {md5_file}: {len(text.splitlines())} lines read")
    return listed, clean


def run(ctx: CheckContext) -> bool:
    """Pass when there is an md5 file, every data file is listed and every checksum matches."""
    if not ctx.md5_files:
        ctx.log("ERROR upload: no md5 file at the upload's root; push one listing '<md5>  <path>' per file")
        return False
    listed, ok = _read_listing(ctx)
    data_files = set(ctx.files)
    for relative in sorted(data_files):
        if stop_if_aborted(ctx):
            return False
        expected = listed.get(relative)
        if expected is None:
            ctx.log(f"ERROR {relative}: not listed in any md5 file")
            ok = False
            continue
        path = locate(ctx, relative)
        if path is None:
            ok = False
            continue
        actual = md5_of(path)
        if actual != expected:
            ctx.log(f"ERROR {relative}: md5 mismatch (expected {expected}, file has {actual})")
            ok = False
        else:
            ctx.log(f"INFO {relative}: md5 ok")
    for relative in sorted(set(listed) - data_files):
        ctx.log(f"ERROR {relative}: listed in an md5 file but not delivered")
        ok = False
    ctx.log(f"INFO {len(data_files)} files checked: {'all match' if ok else 'problems found'}")
    return ok
