"""Typed events a delivery emits; renderers (rich console, tests) consume them, the uploader never prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetStarted:
    """An upload is ready to receive files: ``action`` is created, recreated, reused or reopened."""

    dataset: str
    upload_id: str
    action: str
    status: str


@dataclass(frozen=True)
class Info:
    """A message about one dataset (md5 generated, upload already closed...)."""

    dataset: str
    message: str


@dataclass(frozen=True)
class FileStarted:
    """A file starts being sent."""

    dataset: str
    path: str
    size: int


@dataclass(frozen=True)
class FileProgress:
    """``sent`` more bytes of a file went out."""

    dataset: str
    path: str
    sent: int


@dataclass(frozen=True)
class FileFinished:
    """A file is in the upload; ``skipped`` when it was already there with the same size."""

    dataset: str
    path: str
    size: int
    skipped: bool


@dataclass(frozen=True)
class UploadClosed:
    """The upload was closed: its checks are running."""

    dataset: str
    upload_id: str


@dataclass(frozen=True)
class ChecksChanged:
    """The checks document changed: check names by state."""

    dataset: str
    upload_id: str
    asked: tuple[str, ...]
    in_progress: tuple[str, ...]
    passed: tuple[str, ...]
    failed: tuple[str, ...]


@dataclass(frozen=True)
class CheckLog:
    """One new log line of a check execution."""

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
class DatasetFinished:
    """A dataset's delivery is over (checks included)."""

    result: DatasetResult


@dataclass(frozen=True)
class StaticDelivered:
    """A static file was created (or found, or failed)."""

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


@dataclass
class DeliveryReport:
    """Every dataset and static of one descriptor."""

    datasets: list[DatasetResult] = field(default_factory=list)
    statics: list[StaticResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every upload ended CLOSED and every static was delivered."""
        return all(d.ok for d in self.datasets) and all(s.ok for s in self.statics)
