"""``--output json``: events as JSON lines, one object per line, for CI and scripts.

Every long command (``run``, ``upload``) uses the same form: each event's
:meth:`~gpf_flow.events.Event.to_dict` (``{"event": kind, "at": ..., ...}``) on its own line,
flushed at once, then one last ``{"event": "summary", ...}`` line with the command's result.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gpf_flow.delivery.events import DeliveryReport
    from gpf_flow.engine.result import RunResult
    from gpf_flow.events import Event


class TextSink(Protocol):
    """Where the lines go: a text file, ``sys.stdout``, or the CLI's broken-pipe-safe stdout."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class JsonLinesRenderer:
    """One JSON object per event, one per line; safe to call from several threads."""

    def __init__(self, stream: TextSink) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        self._write(event.to_dict())

    def summary(self, data: Mapping[str, Any]) -> None:
        """The last line: ``{"event": "summary", "at": ..., **data}``."""
        self._write({"event": "summary", "at": time.time(), **data})

    def _write(self, data: Mapping[str, Any]) -> None:
        line = json.dumps(data, ensure_ascii=False, default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def run_summary(result: RunResult) -> dict[str, Any]:
    """What the ``summary`` line of ``run --output json`` holds: every step and link."""
    return {
        "status": result.status,
        "run_id": result.run_id,
        "duration": result.duration,
        "steps": [
            {
                "name": s.name,
                "status": s.status,
                "duration": s.duration,
                "error": s.error,
                "reason": s.reason,
                "entities": s.entities,
                "links": s.links,
            }
            for s in result.steps.values()
        ],
        "links": result.links,
    }


def delivery_summary(report: DeliveryReport) -> dict[str, Any]:
    """What the ``summary`` line of ``upload --output json`` holds: every dataset and static."""
    return report.to_dict()
