"""Small processings and checks for the local store's tests (imported by worker processes)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from gpf_flow.checks.base import CheckContext, CheckSpec
from gpf_flow.processings.base import ProcessingContext, ProcessingFailed, ProcessingResult, ProcessingSpec


def ok(ctx: ProcessingContext) -> ProcessingResult:
    """Copies every input upload file into the output and logs each one."""
    count = 0
    for data in ctx.uploads:
        for path in sorted(data.path.rglob("*")):
            if path.is_file():
                rel = path.relative_to(data.path)
                target = ctx.output_dir / "files" / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
                ctx.log(f"INFO copied {rel.as_posix()}")
                count += 1
    (ctx.output_dir / "marker.txt").write_text(str(ctx.parameters.get("marker", "")), encoding="utf-8")
    return ProcessingResult(
        type_infos={"count": count, "marker": ctx.parameters.get("marker")},
        srs="EPSG:2154",
        extent={"type": "Point", "coordinates": [2.0, 46.0]},
    )


def slow(ctx: ProcessingContext) -> ProcessingResult:
    """Logs ticks until aborted or ``seconds`` elapse; writes a partial file first."""
    (ctx.output_dir / "partial.txt").write_text("partial", encoding="utf-8")
    marker = ctx.parameters.get("started_file")
    ctx.log(f"INFO pid {os.getpid()}")
    if marker:  # written then renamed: a reader never sees it empty
        tmp = Path(f"{marker}.tmp")
        tmp.write_text(str(os.getpid()), encoding="utf-8")
        os.replace(tmp, marker)
    end = time.monotonic() + float(ctx.parameters.get("seconds", 30))
    tick = 0
    while time.monotonic() < end:
        ctx.check_abort()
        ctx.log(f"INFO tick {tick}")
        tick += 1
        time.sleep(0.05)
    return ProcessingResult(type_infos={"ticks": tick})


def stubborn(ctx: ProcessingContext) -> ProcessingResult:
    """Ignores aborts (sleeps without looking) for ``seconds``."""
    ctx.log("INFO sleeping without checking for aborts")
    time.sleep(float(ctx.parameters.get("seconds", 60)))
    return ProcessingResult()


def fail(ctx: ProcessingContext) -> ProcessingResult:
    """Fails like a processing that found bad input."""
    ctx.log("INFO looking at the input")
    (ctx.output_dir / "half.txt").write_text("half", encoding="utf-8")
    raise ProcessingFailed("the input has no layer named ZONES")


def crash(ctx: ProcessingContext) -> ProcessingResult:
    """Dies abruptly (as a segfault in a native library would)."""
    ctx.log("INFO about to crash")
    print("fatal: native library crashed", file=sys.stderr, flush=True)
    os._exit(7)


def check_ok(ctx: CheckContext) -> bool:
    """Passes when the upload holds at least one data file."""
    for name in ctx.files:
        ctx.log(f"INFO seen {name}")
    return bool(ctx.files)


def check_bad_name(ctx: CheckContext) -> bool:
    """Fails when a data file's name contains 'bad'."""
    bad = [f for f in ctx.files if "bad" in f]
    for name in bad:
        ctx.log(f"ERROR {name} is bad")
    return not bad


def check_slow(ctx: CheckContext) -> bool:
    """Takes ``GPF_TEST_CHECK_SECONDS`` seconds (default 30), unless aborted."""
    end = time.monotonic() + float(os.environ.get("GPF_TEST_CHECK_SECONDS", "30"))
    while time.monotonic() < end:
        if ctx.is_aborted():
            return False
        time.sleep(0.05)
    return True


def _spec(name: str, func: str, params: tuple[dict[str, object], ...] = ()) -> ProcessingSpec:
    return ProcessingSpec(
        name=name,
        description=f"test processing {func}",
        input_upload_types=("VECTOR", "RASTER"),
        input_stored_data_types=("TEST-DATA",),
        output_type="TEST-DATA",
        storage="FILESYSTEM",
        parameters=params,
        run=f"store_test_procs:{func}",
    )


P_OK = _spec("Test copy", "ok")
P_SLOW = _spec("Test slow", "slow")
P_FAIL = _spec("Test fail", "fail")
P_CRASH = _spec("Test crash", "crash")
P_STUBBORN = _spec("Test stubborn", "stubborn")
P_MANDATORY = _spec("Test mandatory", "ok", ({"name": "level", "description": "a level", "mandatory": True},))
TEST_PROCESSINGS = (P_OK, P_SLOW, P_FAIL, P_CRASH, P_MANDATORY, P_STUBBORN)

C_OK = CheckSpec("Test files present", "at least one file", (), "store_test_procs:check_ok")
C_BAD = CheckSpec("Test bad names", "no file named bad", ("VECTOR",), "store_test_procs:check_bad_name")
C_SLOW = CheckSpec("Test slow check", "takes a while", ("RASTER",), "store_test_procs:check_slow")
TEST_CHECKS = (C_OK, C_BAD, C_SLOW)
