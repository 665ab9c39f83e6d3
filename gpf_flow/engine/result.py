"""What a run returns: each step's outcome, the entities created and the links published."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpf_flow.errors import Interrupted


@dataclass
class StepResult:
    """One step's outcome in a run.

    ``status``: ``done``, ``failed``, ``interrupted``, ``skipped`` (done earlier), ``blocked``
    (a parent failed), ``not run`` (the run was interrupted first) or ``planned`` (dry run).
    """

    name: str
    status: str = "not run"
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    reason: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (None if the step did not start or end)."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclass
class RunResult:
    """The outcome of :func:`gpf_flow.run`."""

    workflow: str
    run_id: int | None
    status: str
    """``success``, ``failed``, ``interrupted`` or ``planned`` (dry run)."""
    steps: dict[str, StepResult]
    started: float
    finished: float
    state_path: str | None = None

    @property
    def ok(self) -> bool:
        """The run succeeded (or, in a dry run, was planned)."""
        return self.status in ("success", "planned")

    @property
    def failed(self) -> dict[str, str]:
        """Step → error for every failed step."""
        return {s.name: s.error or "failed" for s in self.steps.values() if s.status == "failed"}

    @property
    def links(self) -> list[dict[str, Any]]:
        """Every published offering's links, step by step."""
        return [{"step": s.name, **link} for s in self.steps.values() for link in s.links]

    @property
    def duration(self) -> float:
        """Seconds from start to end of the run."""
        return self.finished - self.started


class RunInterrupted(Interrupted):
    """Ctrl-C stopped the run; running executions were aborted. ``result`` holds what happened."""

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message)
        self.result = result
