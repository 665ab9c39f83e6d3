"""What the runner writes into ``runs.sqlite``, behind one object that knows whether to write.

A dry run records nothing (it still reads the last states when the file exists); the runner
calls the recorder the same way in both cases instead of testing for a state and a run id at
every write.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpf_flow.engine.state import RunState, StepRecord


class RunRecorder:
    """Records one run; every write is a no-op until :meth:`start_run` has given a run id."""

    def __init__(self, state: RunState | None) -> None:
        self._state = state
        self.run_id: int | None = None

    @classmethod
    def open(cls, path: Path, *, dry_run: bool) -> RunRecorder:
        """A recorder on ``path``; a dry run opens it only to read, and only when it exists."""
        if dry_run and not path.exists():
            return cls(None)
        return cls(RunState(path))

    def close(self) -> None:
        """Close the run state file, if one was opened."""
        if self._state is not None:
            self._state.close()

    # -- reading (works in a dry run too) -----------------------------------------------------
    def last_steps(self, key: str, datastore: str | None) -> dict[str, StepRecord]:
        """Each step's last meaningful record for the workflow on this datastore (empty without state)."""
        return self._state.last_steps(key, datastore) if self._state is not None else {}

    def step_actions(self, run_id: int, step: str) -> list[dict[str, Any]]:
        """The actions of a step as recorded by run ``run_id`` (empty without state)."""
        return self._state.step_actions(run_id, step) if self._state is not None else []

    # -- writing (only once a run was started) ------------------------------------------------
    def start_run(
        self,
        key: str,
        name: str,
        *,
        datastore: str | None,
        store: str,
        params: Mapping[str, Any],
        selection: str | None,
    ) -> None:
        """Record a new run (sets :attr:`run_id`); without a state file, nothing happens."""
        if self._state is not None:
            self.run_id = self._state.start_run(
                key, name, datastore=datastore, store=store, params=params, selection=selection
            )

    def finish_run(self, status: str) -> None:
        """Record the run's end."""
        if self._state is not None and self.run_id is not None:
            self._state.finish_run(self.run_id, status)

    def start_step(self, step: str, status: str = "running") -> None:
        """Record a step starting, or skipped/blocked with another ``status``."""
        if self._state is not None and self.run_id is not None:
            self._state.start_step(self.run_id, step, status)

    def finish_step(self, step: str, status: str, error: str | None) -> None:
        """Record a step's end."""
        if self._state is not None and self.run_id is not None:
            self._state.finish_step(self.run_id, step, status, error)

    def start_action(self, step: str, index: int, action_type: str, body: Any) -> None:
        """Record an action starting with its body (recorded again once templates are resolved)."""
        if self._state is not None and self.run_id is not None:
            self._state.start_action(self.run_id, step, index, action_type, body)

    def finish_action(
        self,
        step: str,
        index: int,
        status: str,
        *,
        entities: list[dict[str, Any]],
        links: list[dict[str, Any]],
        error: str | None = None,
    ) -> None:
        """Record an action's end with what it created and published."""
        if self._state is not None and self.run_id is not None:
            self._state.finish_action(
                self.run_id, step, index, status, entities=entities, links=links, error=error
            )
