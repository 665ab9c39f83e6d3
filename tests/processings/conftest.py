"""Fixtures for the processing tests: a real ProcessingContext with collected logs."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gpf_flow.processings.base import InputData, ProcessingContext

# Data generators next to the tests (processings_rasters.py, processings_vectors.py), shared with bench/.
sys.path.insert(0, str(Path(__file__).parent))


@dataclass
class Harness:
    """A context plus what the processing reported through it."""

    ctx: ProcessingContext
    logs: list[str] = field(default_factory=list)
    abort: threading.Event = field(default_factory=threading.Event)


MakeCtx = Callable[..., Harness]


@pytest.fixture
def make_ctx(tmp_path: Path) -> MakeCtx:
    """Build a context: ``make_ctx(uploads=[(entity, folder)], stored_data=[...], parameters={...})``."""
    counter = iter(range(1000))

    def build(
        *,
        uploads: list[tuple[Mapping[str, Any], Path]] = (),  # type: ignore[assignment]
        stored_data: list[tuple[Mapping[str, Any], Path]] = (),  # type: ignore[assignment]
        parameters: Mapping[str, Any] | None = None,
        workers: int = 1,
    ) -> Harness:
        out = tmp_path / f"output-{next(counter)}"
        out.mkdir()
        logs: list[str] = []
        abort = threading.Event()
        ctx = ProcessingContext(
            parameters=dict(parameters or {}),
            uploads=[InputData(entity=e, path=p) for e, p in uploads],
            stored_data=[InputData(entity=e, path=p) for e, p in stored_data],
            output_dir=out,
            log=logs.append,
            is_aborted=abort.is_set,
            output_entity={"name": "test output"},
            workers=workers,
        )
        return Harness(ctx=ctx, logs=logs, abort=abort)

    return build
