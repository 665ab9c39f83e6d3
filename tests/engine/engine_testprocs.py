"""Small real processings for engine tests (imported by the local store's worker processes).

They take no input and produce an empty stored data; parameters steer them:
``lines`` (log lines to write), ``seconds`` (time to spend, checking for abort),
``fail_if_exists`` (a path: fail while that file exists).
"""

from __future__ import annotations

import time
from pathlib import Path

from gpf_flow.processings.base import ProcessingContext, ProcessingFailed, ProcessingResult, ProcessingSpec


def work(ctx: ProcessingContext) -> ProcessingResult:
    """Log ``lines`` lines over ``seconds`` seconds; fail if ``fail_if_exists`` exists."""
    params = ctx.parameters
    marker = params.get("fail_if_exists")
    if marker and Path(str(marker)).exists():
        ctx.log("ERROR marker file present")
        raise ProcessingFailed(f"marker {marker} exists")
    lines = int(params.get("lines", 3))
    seconds = float(params.get("seconds", 0))
    deadline = time.monotonic() + seconds
    for i in range(lines):
        ctx.log(f"line {i}")
        _sleep(ctx, seconds / max(lines, 1))
    _sleep(ctx, deadline - time.monotonic())
    (ctx.output_dir / "out.txt").write_text("ok")
    return ProcessingResult(type_infos={"lines": lines})


def _sleep(ctx: ProcessingContext, seconds: float) -> None:
    """Sleep in small slices, stopping at once when the execution is aborted."""
    end = time.monotonic() + seconds
    while True:
        ctx.check_abort()
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.05))


TEST_PROCESSING = ProcessingSpec(
    name="Test work",
    description="Engine test processing: logs lines, sleeps, fails on demand.",
    input_upload_types=(),
    input_stored_data_types=(),
    output_type="ARCHIVE",
    storage="FILESYSTEM",
    parameters=(),
    run="engine_testprocs:work",
)
