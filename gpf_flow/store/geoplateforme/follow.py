"""Follow a processing execution to its end while reading only the log lines not seen yet."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gpf_flow.store.base import EXECUTION_TERMINAL, Entity, Store


@dataclass(frozen=True)
class PollSchedule:
    """Adaptive polling: quick right after a status change (short executions end fast), then
    slower, up to ``maximum``, while the status stays the same."""

    first: float = 0.5
    factor: float = 1.5
    maximum: float = 5.0

    def next(self, delay: float, changed: bool) -> float:
        """The wait after a poll that waited ``delay`` and saw (``changed``) or not a new status."""
        return self.first if changed else min(self.maximum, delay * self.factor)


def follow_execution(
    store: Store,
    execution_id: str,
    *,
    on_lines: Callable[[list[str]], None] | None = None,
    schedule: PollSchedule | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Entity:
    """Poll an execution until it is SUCCESS, FAILURE or ABORTED; hand over new log lines as they come.

    Each poll is one ``GET`` of the execution plus the log pages holding new lines (usually one
    request); the status is read before the logs so the last lines are never missed.
    """
    plan = schedule or PollSchedule()
    seen = 0
    delay = plan.first
    status = None
    while True:
        execution = store.get_entity("processing_execution", execution_id)
        changed = execution.get("status") != status
        status = execution.get("status")
        new = store.processing_execution_logs(execution_id, seen)
        seen += len(new)
        if new and on_lines is not None:
            on_lines(new)
        if execution.get("status") in EXECUTION_TERMINAL:
            return execution
        sleep(delay)
        delay = plan.next(delay, changed)
