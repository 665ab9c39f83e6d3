"""Typed events a delivery emits, and its results; the uploader never prints.

The events derive from :class:`gpf_flow.events.Event` (``kind``, ``at``, ``to_dict``), like the
runner's, with the same conventions: ``gpf-flow upload --output json`` prints one
:meth:`~gpf_flow.events.Event.to_dict` per line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from gpf_flow.events import Event


@dataclass(frozen=True)
class DatasetStarted(Event):
    """An upload is ready to receive files: ``action`` is created, recreated, reused or reopened."""

    kind: ClassVar[str] = "dataset_started"

    dataset: str
    upload_id: str
    action: str
    status: str


@dataclass(frozen=True)
class Info(Event):
    """A message about one dataset (md5 generated, upload already closed...)."""

    kind: ClassVar[str] = "dataset_info"

    dataset: str
    message: str


@dataclass(frozen=True)
class FileStarted(Event):
    """A file starts being sent."""

    kind: ClassVar[str] = "file_started"

    dataset: str
    path: str
    size: int


@dataclass(frozen=True)
class FileProgress(Event):
    """``sent`` more bytes of a file went out."""

    kind: ClassVar[str] = "file_progress"

    dataset: str
    path: str
    sent: int


@dataclass(frozen=True)
class FileFinished(Event):
    """A file is in the upload; ``skipped`` when it was already there with the same size."""

    kind: ClassVar[str] = "file_finished"

    dataset: str
    path: str
    size: int
    skipped: bool


@dataclass(frozen=True)
class UploadClosed(Event):
    """The upload was closed: its checks are running."""

    kind: ClassVar[str] = "upload_closed"

    dataset: str
    upload_id: str


@dataclass(frozen=True)
class ChecksChanged(Event):
    """The checks document changed: check names by state."""

    kind: ClassVar[str] = "checks_changed"

    dataset: str
    upload_id: str
    asked: tuple[str, ...]
    in_progress: tuple[str, ...]
    passed: tuple[str, ...]
    failed: tuple[str, ...]


@dataclass(frozen=True)
class CheckLog(Event):
    """One new log line of a check execution."""

    kind: ClassVar[str] = "check_log"

    dataset: str
    check: str
    line: str


@dataclass(frozen=True)
class FailedCheck:
    """A check that failed, with the ERROR lines of its log."""

    name: str
    execution_id: str
    errors: tuple[str, ...]


@dataclass
class DatasetResult:
    """What became of one dataset of the descriptor."""

    name: str
    upload_id: str | None = None
    status: str | None = None
    error: str | None = None
    failed_checks: list[FailedCheck] = field(default_factory=list)
    files_sent: int = 0
    files_skipped: int = 0
    bytes_sent: int = 0

    @property
    def ok(self) -> bool:
        """The upload ended CLOSED (every check passed) without error."""
        return self.error is None and self.status == "CLOSED"


@dataclass
class StaticResult:
    """What became of one static file of the descriptor."""

    name: str
    static_id: str | None = None
    action: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The static exists in the store (created or reused) without error."""
        return self.error is None and self.static_id is not None


@dataclass(frozen=True)
class DatasetFinished(Event):
    """A dataset's delivery is over (checks included)."""

    kind: ClassVar[str] = "dataset_finished"

    result: DatasetResult


@dataclass(frozen=True)
class StaticDelivered(Event):
    """A static file was created (or found, or failed)."""

    kind: ClassVar[str] = "static_delivered"

    result: StaticResult


DeliveryEvent = (
    DatasetStarted
    | Info
    | FileStarted
    | FileProgress
    | FileFinished
    | UploadClosed
    | ChecksChanged
    | CheckLog
    | DatasetFinished
    | StaticDelivered
)
EventHandler = Callable[[DeliveryEvent], None]
"""What ``Uploader(on_event=...)`` receives."""


@dataclass
class DeliveryReport:
    """Every dataset and static of one descriptor."""

    datasets: list[DatasetResult] = field(default_factory=list)
    statics: list[StaticResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every upload ended CLOSED and every static was delivered."""
        return all(d.ok for d in self.datasets) and all(s.ok for s in self.statics)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON: every dataset and static, with its ``ok`` verdict."""
        return {
            "ok": self.ok,
            "datasets": [{**asdict(d), "ok": d.ok} for d in self.datasets],
            "statics": [{**asdict(s), "ok": s.ok} for s in self.statics],
        }
