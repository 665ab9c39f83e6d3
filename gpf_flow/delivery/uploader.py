"""Deliver the datasets of an upload descriptor to a store, and follow their checks to the end.

Written against the :class:`gpf_flow.store.base.Store` protocol only, following the official
SDK's sequence (docs/entrepot-api.md §5.1): find the upload by name or create it (``behavior`` STOP, DELETE,
CONTINUE or RESUME when it exists), tags, comments, push the files that the upload's tree does
not already hold with the same size (so an interrupted delivery resumes), push the md5 files,
close; once every dataset is sent, follow the checks (polling fast at first, then slower) and
read the failed checks' ERROR lines. Statics of the descriptor are created in the same run.
Progress goes out as events (:mod:`gpf_flow.delivery.events`); nothing here prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpf_flow.delivery.descriptor import (
    DatasetSpec,
    DescriptorError,
    LocalFile,
    StaticSpec,
    UploadDescriptor,
    collect_files,
    md5_path_for,
)
from gpf_flow.delivery.events import (
    CheckLog,
    ChecksChanged,
    DatasetFinished,
    DatasetResult,
    DatasetStarted,
    DeliveryEvent,
    DeliveryReport,
    EventHandler,
    FailedCheck,
    FileFinished,
    FileProgress,
    FileStarted,
    Info,
    StaticDelivered,
    StaticResult,
    UploadClosed,
)
from gpf_flow.delivery.md5 import Md5Error, verify_md5_file, write_md5_file
from gpf_flow.errors import GpfFlowError, UsageError
from gpf_flow.store import ops
from gpf_flow.store.base import (
    Action,
    Entity,
    EntityType,
    Store,
    UploadChecks,
    UploadStatus,
    flatten_tree,
    iter_entities,
)
from gpf_flow.store.views import UploadView

BEHAVIORS = ("STOP", "DELETE", "CONTINUE", "RESUME")
# What the local store's job table writes when a check's process died (store/local/jobs.py).
_INTERRUPTED_MARK = "interrupted: worker process"
_NOT_RUN_MARK = "not run: the process"
DEFAULT_BEHAVIOR = "STOP"


@dataclass(frozen=True)
class PollPolicy:
    """Adaptive polling: ``first`` seconds, multiplied by ``factor`` up to ``maximum``."""

    first: float = 0.05
    factor: float = 1.5
    maximum: float = 2.0
    timeout: float | None = None
    """Give up following checks after this many seconds (None: wait as long as they run)."""

    def delays(self) -> Iterator[float]:
        """The successive waits."""
        delay = self.first
        while True:
            yield delay
            delay = min(self.maximum, delay * self.factor)


@dataclass
class PreparedDataset:
    """A dataset's files and md5 files, checked locally and ready to send."""

    spec: DatasetSpec
    files: list[LocalFile]
    md5_files: list[Path]


def normalize_behavior(behavior: str | None) -> str:
    """Upper-cased behaviour, checked against :data:`BEHAVIORS`."""
    value = (behavior or DEFAULT_BEHAVIOR).strip().upper()
    if value not in BEHAVIORS:
        raise UsageError(f"unknown behavior {behavior!r}", hint=f"use one of: {', '.join(BEHAVIORS)}")
    return value


def prepare_dataset(spec: DatasetSpec, on_event: EventHandler | None = None) -> PreparedDataset:
    """List the data files; verify each data_dir's md5 file if there is one, else generate it.

    A mismatch raises :class:`gpf_flow.delivery.md5.Md5Error` naming the file, before anything
    is sent.
    """
    files = collect_files(spec)
    md5_files: list[Path] = []
    for data_dir in spec.data_dirs:
        prefix = data_dir.replace("\\", "/").strip("/").removeprefix("./")
        own = {f.remote: f.local for f in files if f.remote == prefix or f.remote.startswith(prefix + "/")}
        md5_path = md5_path_for(spec, data_dir)
        clash = next((m for m in md5_files if m.name == md5_path.name and m != md5_path), None)
        if clash is not None:  # md5 files all land at the upload's root, under their base name
            raise DescriptorError(
                f"{spec.root}: data_dirs {data_dir!r} and another entry both need an md5 file named "
                f"{md5_path.name!r} at the upload's root ({clash} and {md5_path})",
                hint="rename one of the folders, or deliver them in two datasets",
            )
        if md5_path.is_file():
            verify_md5_file(md5_path, own)
        elif md5_path.exists():
            raise Md5Error(
                f"{md5_path}: is a folder (or not a regular file), where the md5 file of {data_dir!r} goes",
                hint="rename or remove it: gpf-flow writes the md5 file there",
            )
        else:
            write_md5_file(md5_path, own)
            if on_event is not None:
                on_event(Info(spec.name, f"md5 file {md5_path.name} generated ({len(own)} files)"))
        md5_files.append(md5_path)
    return PreparedDataset(spec, files, md5_files)


def _check_names(items: list[Entity]) -> tuple[str, ...]:
    return tuple(str((item.get("check") or {}).get("name") or item.get("_id")) for item in items)


class Uploader:
    """Sends the datasets of descriptors to one store."""

    def __init__(
        self,
        store: Store,
        *,
        behavior: str | None = None,
        on_event: EventHandler | None = None,
        poll: PollPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.behavior = normalize_behavior(behavior)
        self._on_event = on_event
        self.poll = poll or PollPolicy()
        self._sleep = sleep

    def _emit(self, event: DeliveryEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    # -- whole descriptor ----------------------------------------------------------------------
    def deliver(self, descriptor: UploadDescriptor) -> DeliveryReport:
        """Send every dataset, create the statics, then follow every upload's checks."""
        report = DeliveryReport()
        to_follow: list[DatasetResult] = []
        for spec in descriptor.datasets:
            result = DatasetResult(name=spec.name)
            report.datasets.append(result)
            try:
                if self.send_dataset(spec, result):
                    to_follow.append(result)
            except GpfFlowError as exc:
                result.error = str(exc)
        for static in descriptor.statics:
            report.statics.append(self.deliver_static(static))
        for result in report.datasets:
            if result in to_follow:
                try:
                    self.follow_checks(result)
                except GpfFlowError as exc:
                    result.error = str(exc)
            self._emit(DatasetFinished(result))
        return report

    # -- one dataset ---------------------------------------------------------------------------
    def find_upload(self, name: str) -> Entity | None:
        """The first upload with exactly this name, or None."""
        for upload in iter_entities(self.store, EntityType.UPLOAD, {"name": name}):
            if UploadView.of(upload).name == name:
                return upload
        return None

    def _create_upload(self, spec: DatasetSpec) -> Entity:
        infos = spec.upload_infos
        body: dict[str, Any] = {
            k: infos[k] for k in ("name", "description", "srs", "type", "type_infos") if k in infos
        }
        return self.store.create_entity(EntityType.UPLOAD, body)

    def _open_upload(self, spec: DatasetSpec) -> tuple[Entity, str]:
        """The upload to fill and what was done to get it (created, recreated, reused, reopened)."""
        existing = self.find_upload(spec.name)
        if existing is None:
            return self._create_upload(spec), "created"
        upload_id = str(existing["_id"])
        status = self._upload_status(upload_id)
        if self.behavior == "STOP":
            raise GpfFlowError(
                f"an upload named {spec.name!r} already exists (id {upload_id}, status {status})",
                hint="use --behavior CONTINUE to resume it, RESUME to also redo failed checks, "
                "or DELETE to replace it",
            )
        if self.behavior == "DELETE":
            self.store.delete_entity(EntityType.UPLOAD, upload_id)
            return self._create_upload(spec), "recreated"
        if status == UploadStatus.OPEN:
            return self.store.get_entity(EntityType.UPLOAD, upload_id), "reused"
        if self.behavior == "RESUME" and status in (UploadStatus.CLOSED, UploadStatus.UNSTABLE):
            checks = ops.upload_checks(self.store, upload_id)
            if status == UploadStatus.UNSTABLE or checks.failed:
                self.store.act(EntityType.UPLOAD, upload_id, Action.OPEN)
                return self.store.get_entity(EntityType.UPLOAD, upload_id), "reopened"
        return self.store.get_entity(EntityType.UPLOAD, upload_id), "reused"

    def _upload_status(self, upload_id: str) -> str:
        """The upload's status as the store gives it now."""
        return UploadView.of(self.store.get_entity(EntityType.UPLOAD, upload_id)).status_text

    def send_dataset(self, spec: DatasetSpec, result: DatasetResult) -> bool:
        """Create or find the upload, send what is missing and close it.

        Returns True when the upload's checks are to be followed.
        """
        prepared = prepare_dataset(spec, self._emit)
        upload, action = self._open_upload(spec)
        view = UploadView.of(upload)
        upload_id, status = view.id, view.status_text
        result.upload_id, result.status = upload_id, status
        self._emit(DatasetStarted(spec.name, upload_id, action, status))
        if view.status != UploadStatus.OPEN:
            self._emit(Info(spec.name, f"upload {upload_id} is already {status}: nothing to send"))
            return view.status in (UploadStatus.CHECKING, UploadStatus.CLOSED, UploadStatus.UNSTABLE)
        if spec.tags:
            ops.add_tags(self.store, EntityType.UPLOAD, upload_id, spec.tags)
        known = {str(c.get("text")) for c in ops.list_comments(self.store, EntityType.UPLOAD, upload_id)}
        for comment in spec.comments:
            if comment not in known:
                ops.add_comment(self.store, EntityType.UPLOAD, upload_id, comment)
                known.add(comment)
        self._push_files(prepared, upload_id, result)
        self._push_md5(prepared, upload_id, result)
        self.store.act(EntityType.UPLOAD, upload_id, Action.CLOSE)
        result.status = "CHECKING"
        self._emit(UploadClosed(spec.name, upload_id))
        return True

    def _push(self, dataset: str, upload_id: str, local: Path, remote: str, size: int, md5: bool) -> None:
        self._emit(FileStarted(dataset, remote, size))

        def progress(sent: int) -> None:
            self._emit(FileProgress(dataset, remote, sent))

        if md5:
            ops.upload_push_md5(self.store, upload_id, local, progress)
        else:
            ops.upload_push_file(self.store, upload_id, local, remote, progress)
        self._emit(FileFinished(dataset, remote, size, skipped=False))

    def _push_files(self, prepared: PreparedDataset, upload_id: str, result: DatasetResult) -> None:
        present = flatten_tree(ops.upload_tree(self.store, upload_id))
        name = prepared.spec.name
        for file in prepared.files:
            if present.get(file.remote) == file.size:
                result.files_skipped += 1
                self._emit(FileFinished(name, file.remote, file.size, skipped=True))
                continue
            if file.remote in present:  # partly sent or changed: send it again
                ops.upload_delete_file(self.store, upload_id, file.remote)
            self._push(name, upload_id, file.local, file.remote, file.size, md5=False)
            result.files_sent += 1
            result.bytes_sent += file.size

    def _push_md5(self, prepared: PreparedDataset, upload_id: str, result: DatasetResult) -> None:
        # md5 files always go again: a changed md5 file keeps its size, the tree cannot tell.
        present = flatten_tree(ops.upload_tree(self.store, upload_id))
        for md5_file in prepared.md5_files:
            if md5_file.name in present:
                ops.upload_delete_file(self.store, upload_id, md5_file.name)
            size = md5_file.stat().st_size
            self._push(prepared.spec.name, upload_id, md5_file, md5_file.name, size, md5=True)
            result.files_sent += 1
            result.bytes_sent += size

    # -- checks --------------------------------------------------------------------------------
    def follow_checks(self, result: DatasetResult) -> None:
        """Poll the upload's checks until they end; stream their logs; read the failed ones."""
        assert result.upload_id is not None
        upload_id = result.upload_id
        offsets: dict[str, int] = {}
        names: dict[str, str] = {}
        last: tuple[tuple[str, ...], ...] | None = None
        started = time.monotonic()
        delays = self.poll.delays()
        while True:
            checks = ops.upload_checks(self.store, upload_id)
            state = tuple(_check_names(items) for items in checks.as_dict().values())
            if state != last:
                last = state
                self._emit(ChecksChanged(result.name, upload_id, *state))
            self._stream_logs(result.name, checks, offsets, names)
            status = self._upload_status(upload_id)
            if checks.finished and status != UploadStatus.CHECKING:
                break
            if self.poll.timeout is not None and time.monotonic() - started > self.poll.timeout:
                result.status = status
                raise GpfFlowError(
                    f"checks of upload {upload_id} still running after {self.poll.timeout:.0f} s",
                    hint="follow them later with: gpf-flow upload -f DESCRIPTOR --behavior CONTINUE",
                )
            self._sleep(next(delays))
        self._stream_logs(result.name, checks, offsets, names)
        result.status = status
        result.failed_checks = [self._failed(item) for item in checks.failed]
        interrupted = any(
            _INTERRUPTED_MARK in line or _NOT_RUN_MARK in line
            for c in result.failed_checks
            for line in c.errors
        )
        if interrupted and result.error is None:
            # the checks did not judge the data: their process died (crash, kill); RESUME re-runs them
            result.error = (
                "the checks were interrupted (their process is gone), not failed by the data: "
                "run the same command with --behavior RESUME to re-open the upload and check it again"
            )

    def _stream_logs(
        self, dataset: str, checks: UploadChecks, offsets: dict[str, int], names: dict[str, str]
    ) -> None:
        for item in [*checks.in_progress, *checks.passed, *checks.failed]:
            execution_id = str(item["_id"])
            names.setdefault(execution_id, _check_names([item])[0])
            lines = self.store.logs(EntityType.CHECK_EXECUTION, execution_id, offsets.get(execution_id, 0))
            offsets[execution_id] = offsets.get(execution_id, 0) + len(lines)
            for line in lines:
                self._emit(CheckLog(dataset, names[execution_id], line))

    def _failed(self, item: Mapping[str, Any]) -> FailedCheck:
        execution_id = str(item["_id"])
        lines = self.store.logs(EntityType.CHECK_EXECUTION, execution_id, 0)
        return FailedCheck(
            name=_check_names([dict(item)])[0],
            execution_id=execution_id,
            errors=tuple(line for line in lines if "ERROR" in line),
        )

    # -- statics -------------------------------------------------------------------------------
    def find_static(self, name: str, static_type: str) -> Entity | None:
        """The first static with exactly this name and type, or None."""
        for static in iter_entities(self.store, EntityType.STATIC, {"name": name}):
            if static.get("name") == name and static.get("type", static_type) == static_type:
                return static
        return None

    def deliver_static(self, spec: StaticSpec) -> StaticResult:
        """Create a static file; an existing one with the same name follows ``behavior``."""
        result = StaticResult(name=spec.name)
        try:
            existing = self.find_static(spec.name, spec.type)
            if existing is not None and self.behavior == "STOP":
                raise GpfFlowError(
                    f"a static named {spec.name!r} already exists (id {existing['_id']})",
                    hint="use --behavior CONTINUE to keep it or DELETE to replace it",
                )
            if existing is not None and self.behavior in ("CONTINUE", "RESUME"):
                result.static_id, result.action = str(existing["_id"]), "reused"
            else:
                if existing is not None:
                    self.store.delete_entity(EntityType.STATIC, str(existing["_id"]))
                created = ops.create_static(self.store, spec.file, spec.name, spec.type, spec.description)
                result.static_id = str(created["_id"])
                result.action = "recreated" if existing is not None else "created"
        except GpfFlowError as exc:
            result.error = str(exc)
        self._emit(StaticDelivered(result))
        return result


def deliver(
    store: Store,
    descriptor: UploadDescriptor,
    *,
    behavior: str | None = None,
    on_event: EventHandler | None = None,
    poll: PollPolicy | None = None,
) -> DeliveryReport:
    """Deliver a loaded descriptor to ``store`` (see :class:`Uploader`)."""
    return Uploader(store, behavior=behavior, on_event=on_event, poll=poll).deliver(descriptor)
