"""Events: what the runner, the actions and a delivery report while they work.

One family for the whole library: every event is a frozen dataclass deriving from :class:`Event`,
with a ``kind`` (its name in JSON), ``at`` (``time.time()`` when it was made) and
:meth:`Event.to_dict` (``{"event": "<kind>", "at": ..., ...fields}``). Renderers in
:mod:`gpf_flow.render` consume them (rich console, JSON lines); producers never print.

The run events are here; the delivery events (:mod:`gpf_flow.delivery.events`) derive from the
same base. This module imports nothing of gpf-flow, so any package may emit events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    """Base of all events: ``kind`` names the event, ``at`` is when it happened (epoch seconds)."""

    kind: ClassVar[str] = "event"
    # keyword-only so that subclasses may declare positional fields without defaults
    at: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict with the event kind first (nested dataclasses become dicts)."""
        return {"event": self.kind, **asdict(self)}

    def to_json(self) -> str:
        """One JSON line (no newline): the ``--output json`` form of the event."""
        return json.dumps(self.to_dict(), ensure_ascii=False, default=str)


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    """The run begins: selected steps grouped by generation."""

    kind: ClassVar[str] = "run_started"
    run_id: int | None
    workflow: str
    generations: list[list[str]]
    dry_run: bool = False
    store: str = ""
    datastore: str = ""


@dataclass(frozen=True, kw_only=True)
class StepStarted(Event):
    """A step starts running its actions."""

    kind: ClassVar[str] = "step_started"
    step: str
    actions: int = 0


@dataclass(frozen=True, kw_only=True)
class StepSkipped(Event):
    """A step is not run: already done, or a parent failed (``blocked``)."""

    kind: ClassVar[str] = "step_skipped"
    step: str
    reason: str
    status: str = "skipped"
    """``skipped`` (done earlier) or ``blocked`` (a parent failed)."""


@dataclass(frozen=True, kw_only=True)
class StepFinished(Event):
    """A step ended: ``done``, ``failed``, ``interrupted`` or ``planned`` (dry run)."""

    kind: ClassVar[str] = "step_finished"
    step: str
    status: str
    duration: float
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class ActionStarted(Event):
    """An action starts; ``body`` is the action after template resolution."""

    kind: ClassVar[str] = "action_started"
    step: str
    index: int
    action_type: str
    body: dict[str, Any] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    """Dry run: templates on entities that do not exist yet."""


@dataclass(frozen=True, kw_only=True)
class ActionFinished(Event):
    """An action ended: ``done``, ``failed``, ``interrupted``, ``skipped`` or ``planned``."""

    kind: ClassVar[str] = "action_finished"
    step: str
    index: int
    action_type: str
    status: str
    duration: float
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class LogLine(Event):
    """One log line of a processing execution, in order, each printed once."""

    kind: ClassVar[str] = "log_line"
    step: str
    execution_id: str
    number: int
    """0-based line number in the execution's log."""
    line: str


@dataclass(frozen=True, kw_only=True)
class StatusChanged(Event):
    """A followed entity (execution, offering) changed status."""

    kind: ClassVar[str] = "status_changed"
    step: str
    entity_type: str
    entity_id: str
    status: str


@dataclass(frozen=True, kw_only=True)
class EntityCreated(Event):
    """An action created (or, with ``reused``, took over) an entity on the store."""

    kind: ClassVar[str] = "entity_created"
    step: str
    entity_type: str
    entity_id: str
    name: str | None = None
    reused: bool = False


@dataclass(frozen=True, kw_only=True)
class EntityDeleted(Event):
    """An action deleted (or unpublished) an entity."""

    kind: ClassVar[str] = "entity_deleted"
    step: str
    entity_type: str
    entity_id: str
    name: str | None = None


@dataclass(frozen=True, kw_only=True)
class LinkPublished(Event):
    """An offering is PUBLISHED; ``urls`` as the API gives them (``{"type", "url"}`` objects)."""

    kind: ClassVar[str] = "link_published"
    step: str
    offering_id: str
    layer_name: str | None
    offering_type: str | None
    urls: list[Any]


@dataclass(frozen=True, kw_only=True)
class Warning(Event):  # noqa: A001 - the event's natural name
    """Something the user should know that does not stop the run."""

    kind: ClassVar[str] = "warning"
    message: str
    step: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    """The run ended: ``success``, ``failed``, ``interrupted`` or ``planned`` (dry run)."""

    kind: ClassVar[str] = "run_finished"
    run_id: int | None
    status: str
    duration: float
    failed: dict[str, str] = field(default_factory=dict)
    """Step name → error, for every failed step."""


EventCallback = Callable[[Event], None]
"""What ``run(on_event=...)`` and ``Uploader(on_event=...)`` receive."""
