"""Standard check: every data file is listed in an md5 file of the upload and matches it."""

from __future__ import annotations

import re

from gpf_flow.checks._support import confined
from gpf_flow.checks.base import CheckContext
from gpf_flow.delivery.md5 import md5_of

_LINE = re.compile(r"^(?P<md5>[0-9a-fA-F]{32}) [ *](?P<path>.+)$")


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
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            match = _LINE.match(line)
            if match is None:
                ctx.log(f"ERROR {md5_file}: line {number} is not '<md5>  <path>': {line[:80]!r}")
                clean = False
                continue
            listed_path = match.group("path").strip().removeprefix("./")
            previous = listed.get(listed_path)
            if previous is not None and previous != match.group("md5").lower():
                ctx.log(f"ERROR {md5_file}: line {number} lists {listed_path} again with another checksum")
                clean = False
            listed[listed_path] = match.group("md5").lower()
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
        if ctx.is_aborted():
            ctx.log("WARNING check aborted")
            return False
        expected = listed.get(relative)
        if expected is None:
            ctx.log(f"ERROR {relative}: not listed in any md5 file")
            ok = False
            continue
        path = confined(ctx, relative)
        if path is None or not path.is_file():
            ctx.log(f"ERROR {relative}: file is missing or outside the upload")
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
