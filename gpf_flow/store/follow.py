"""Following a processing execution to its end on any store, reading only the log lines not seen yet.

One mechanism for every follower: the run engine's ``processing-execution`` action, the benches
and the tests. Each poll is one ``GET`` of the execution; its ``logs`` (from the last offset: the
HTTP backend turns that into the log pages holding new lines only) are read only when there may
be something new to show: a new status, the end, or ``log_every`` seconds since the last read.
Polls back off while nothing changes, but never wait more than :data:`MAX_END_DELAY`, so the end
of an execution is noticed within that delay. The status is read before the logs, and stores
write an execution's last log lines before its terminal status, so the last lines are never
missed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gpf_flow.errors import ConflictError
from gpf_flow.store.base import Action, Entity, EntityType, Store
from gpf_flow.store.views import ExecutionView

MAX_END_DELAY = 2.0
"""Longest wait between two status reads: the end of an execution is noticed within it."""
LOG_EVERY = 5.0
"""While the status stays the same, new log lines are read at most this often (seconds)."""


@dataclass(frozen=True)
class PollSchedule:
    """Adaptive polling: ``first`` right after something happened (a new status or new log lines),
    then ×``factor`` while nothing happens, up to ``maximum``."""

    first: float = 0.2
    factor: float = 1.5
    maximum: float = 5.0

    def next(self, delay: float, changed: bool) -> float:
        """The wait after a poll that waited ``delay`` and saw (``changed``) or not something new."""
        return self.first if changed else min(self.maximum, max(delay, self.first) * self.factor)


def follow_execution(
    store: Store,
    execution_id: str,
    *,
    on_lines: Callable[[int, list[str]], None] | None = None,
    on_status: Callable[[str], None] | None = None,
    schedule: PollSchedule | None = None,
    cancel: threading.Event | None = None,
    log_every: float = LOG_EVERY,
) -> Entity:
    """Poll an execution until it is SUCCESS, FAILURE or ABORTED and return it.

    ``on_lines(offset, lines)`` receives each batch of new log lines with the offset of the first;
    ``on_status`` each new status. When ``cancel`` is set, the execution is aborted on the store
    (once) and followed until it has really ended; the caller tells an interruption from
    ``cancel.is_set()``.
    """
    plan = schedule or PollSchedule()
    stop = cancel or threading.Event()
    offset = 0
    status: str | None = None
    delay = plan.first
    aborted = False
    last_log_read = time.monotonic()

    def read_logs() -> bool:
        nonlocal offset, last_log_read
        last_log_read = time.monotonic()
        lines = store.logs(EntityType.PROCESSING_EXECUTION, execution_id, start=offset)
        if lines and on_lines is not None:
            on_lines(offset, lines)
        offset += len(lines)
        return bool(lines)

    while True:
        if stop.is_set() and not aborted:
            aborted = True
            current = store.get_entity(EntityType.PROCESSING_EXECUTION, execution_id)
            if not ExecutionView.of(current).terminal:
                with contextlib.suppress(ConflictError):  # it ended between the read and the abort
                    store.act(EntityType.PROCESSING_EXECUTION, execution_id, Action.ABORT)
        execution = store.get_entity(EntityType.PROCESSING_EXECUTION, execution_id)
        view = ExecutionView.of(execution)
        changed = view.status_text != status
        status = view.status_text
        if changed and on_status is not None:
            on_status(status)
        terminal = view.terminal
        if changed or terminal or time.monotonic() - last_log_read >= log_every:
            changed = read_logs() or changed
        if terminal:
            return execution
        delay = min(plan.next(delay, changed), MAX_END_DELAY)
        if aborted:
            time.sleep(min(delay, 0.2))  # aborting: the cancel flag is set, poll fast until the end
        else:
            stop.wait(delay)
