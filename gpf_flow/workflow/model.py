"""Immutable model of a loaded workflow: ``Workflow`` → ``Step`` → ``Action``.

The loader (``gpf_flow.workflow.load``) builds these after parsing, parameter rendering,
validation and ``iter_key``/``iter_vals`` expansion. Action bodies keep the official template
strings (``{store_entity...}``, ``{user.last_name}``) untouched: they are resolved just before
the action runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Action:
    """One action of a step, as written in the file (after ``iter_vals`` expansion)."""

    type: str
    data: Mapping[str, Any]
    """Every key of the action object (``type`` included), templates unresolved."""
    index: int
    """Position in the step's expanded action list."""

    @property
    def comments(self) -> tuple[str, ...]:
        """The action's own ``comments`` (see :meth:`Workflow.merged_comments` for inherited ones)."""
        return tuple(self.data.get("comments") or ())

    @property
    def tags(self) -> Mapping[str, str]:
        """The action's own ``tags`` (see :meth:`Workflow.merged_tags` for inherited ones)."""
        return dict(self.data.get("tags") or {})

    @property
    def datastore(self) -> str | None:
        """The action's own ``datastore`` id, or None (see :meth:`Workflow.datastore_for`)."""
        value = self.data.get("datastore")
        return str(value) if value else None


@dataclass(frozen=True)
class Step:
    """A named node of the DAG with its parents and ordered actions."""

    name: str
    actions: tuple[Action, ...]
    parents: tuple[str, ...] = ()
    comments: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    datastore: str | None = None


@dataclass(frozen=True)
class ParameterSpec:
    """A load-time parameter declared under ``parameters`` (gpf-flow addition)."""

    name: str
    description: str = ""
    default: Any = None
    required: bool = False

    @property
    def has_default(self) -> bool:
        """Whether a default is declared (a JSON ``null`` default counts as none)."""
        return self.default is not None


@dataclass(frozen=True)
class Workflow:
    """A loaded, validated workflow."""

    steps: Mapping[str, Step]
    """Steps by name, in file order."""
    path: Path | None = None
    title: str | None = None
    description: str | None = None
    parameters: Mapping[str, ParameterSpec] = field(default_factory=dict)
    comments: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    datastore: str | None = None
    document: Mapping[str, Any] = field(default_factory=dict)
    """The rendered document as parsed (for ``validate``'s summary and the run state)."""

    @property
    def name(self) -> str:
        """Short name for messages and run records: the file stem, else the title, else ``workflow``."""
        return self.path.stem if self.path else (self.title or "workflow")

    def step(self, name: str) -> Step:
        """The step called ``name`` (``KeyError`` when there is none)."""
        return self.steps[name]

    def merged_comments(self, step: Step, action: Action) -> list[str]:
        """Comments merged file → step → action, without duplicates, in that order."""
        merged: list[str] = []
        for text in (*self.comments, *step.comments, *action.comments):
            if text not in merged:
                merged.append(text)
        return merged

    def merged_tags(self, step: Step, action: Action) -> dict[str, str]:
        """Tags merged file → step → action; the nearer one wins on a key."""
        return {**self.tags, **step.tags, **action.tags}

    def datastore_for(self, step: Step, action: Action) -> str | None:
        """Datastore chosen action → step → file (the command line and config come before/after)."""
        return action.datastore or step.datastore or self.datastore
