"""What a run is asked to do: :class:`RunOptions`, given to :func:`gpf_flow.engine.runner.run`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpf_flow.actions.base import BEHAVIORS
from gpf_flow.errors import UsageError


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """The choices of one run; the defaults run the whole workflow as ``gpf-flow run`` does.

    ``step``/``until``/``from_`` select steps (one of them at most); ``params`` feed
    ``{params.key}``; ``behavior`` (STOP/DELETE/CONTINUE/RESUME) overrides the per-type defaults;
    ``jobs`` steps run at once; ``dry_run`` resolves and reports without changing anything;
    ``force`` re-runs steps recorded as done; ``state_path`` is the run state file (default
    ``<home>/runs.sqlite``); ``yes`` confirms deletions; ``datastore`` overrides every
    ``datastore`` key of the workflow.
    """

    step: str | None = None
    until: str | None = None
    from_: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    behavior: str | None = None
    jobs: int = 4
    dry_run: bool = False
    force: bool = False
    state_path: str | Path | None = None
    yes: bool = False
    datastore: str | None = None

    def checked(self) -> RunOptions:
        """The options with ``behavior`` upper-cased; a usage error for a bad behavior or ``jobs``."""
        behavior = self.behavior
        if behavior is not None:
            behavior = behavior.strip().upper()
            if behavior not in BEHAVIORS:
                raise UsageError(f"unknown behavior {behavior!r}", hint=f"use one of: {', '.join(BEHAVIORS)}")
        if self.jobs < 1:
            raise UsageError(f"--jobs must be at least 1 (got {self.jobs})")
        return dataclasses.replace(self, behavior=behavior, params=dict(self.params))

    @property
    def selection(self) -> str | None:
        """The selection as the command line writes it (``--step NAME``), None for the whole workflow."""
        for flag, value in (("--step", self.step), ("--until", self.until), ("--from", self.from_)):
            if value:
                return f"{flag} {value}"
        return None
