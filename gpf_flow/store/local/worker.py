"""The worker process: runs one processing execution or one check execution, then exits.

Started by the dispatcher as ``python -m gpf_flow.store.local.worker HOME JOB_ID OWNER_PID
WORKERS``. It writes log lines straight into SQLite (followers read them at once), watches the
abort flag, and writes the final status itself in one transaction guarded on ``PROGRESS`` (a job
that someone else already ended is left alone). If its parent process disappears it exits at
once: the job is then ended as interrupted by whoever notices, never silently SUCCESS.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpf_flow.store.base import ExecutionStatus
from gpf_flow.store.local import layout
from gpf_flow.store.local.db import Database
from gpf_flow.store.local.paths import is_reserved
from gpf_flow.store.local.records import (
    abort_flag,
    append_logs,
    dir_size,
    end_job,
    finalize_upload,
    finish_job,
    get_row,
    remove_tree,
    row_entity,
    set_status,
    update_body,
)

ABORT_POLL_S = 0.2


def load_target(target: str) -> Callable[..., Any]:
    """Import ``"module:function"`` (lazily, in the worker)."""
    module_name, _, func_name = target.partition(":")
    if not module_name or not func_name:
        raise ValueError(f"bad implementation name {target!r}: expected 'module:function'")
    module = importlib.import_module(module_name)
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ValueError(f"{module_name} has no function {func_name!r}")
    return func


class Job:
    """The running job's links to the database: logging and abort flag."""

    def __init__(self, db: Database, job_id: str, owner_pid: int) -> None:
        self.db = db
        self.job_id = job_id
        self.owner_pid = owner_pid
        self._lock = threading.Lock()
        self._aborted = False
        self._checked = 0.0

    def log(self, line: str) -> None:
        """Append one log line (several if it holds newlines)."""
        lines = str(line).splitlines() or [""]
        with self._lock, self.db.tx() as conn:
            append_logs(conn, self.job_id, lines)

    def is_aborted(self) -> bool:
        """True once an abort was asked (read from the database at most every 0.2 s)."""
        if self._aborted:
            return True
        now = time.monotonic()
        if now - self._checked >= ABORT_POLL_S:
            self._checked = now
            with self._lock:
                flag = abort_flag(self.db.conn, self.job_id)
            self._aborted = flag is None or flag[0] or flag[1] != ExecutionStatus.PROGRESS
        return self._aborted

    def still_mine(self, conn: Any) -> bool:
        """True if the job is still PROGRESS and owned by our parent (nobody ended it meanwhile)."""
        row = get_row(conn, self.job_id)
        return (
            row is not None
            and row["status"] == ExecutionStatus.PROGRESS
            and row["owner_pid"] == self.owner_pid
        )


def _error_lines(exc: BaseException) -> list[str]:
    from gpf_flow.processings.base import ProcessingFailed

    if isinstance(exc, ProcessingFailed):
        return [f"ERROR {exc}"]
    lines = [f"ERROR unexpected error: {type(exc).__name__}: {exc}"]
    lines += [
        f"  {line}" for chunk in traceback.format_exception(exc)[:-1] for line in chunk.rstrip().splitlines()
    ]
    return lines


# -- processing executions -------------------------------------------------------------------------


def run_processing(home: Path, job: Job, workers: int) -> None:
    """Run a processing execution to its end."""
    from gpf_flow.processings.base import InputData, ProcessingAborted, ProcessingContext, ProcessingResult

    db = job.db
    row = get_row(db.conn, job.job_id)
    if row is None or row["status"] != ExecutionStatus.PROGRESS:
        return
    execution = row_entity(row)
    inputs = execution.get("inputs") or {}
    folders = {"upload": layout.upload_dir, "stored_data": layout.stored_data_dir}
    given: dict[str, list[InputData]] = {"upload": [], "stored_data": []}
    for kind, folder in folders.items():
        for item in inputs.get(kind) or []:
            r = get_row(db.conn, item["_id"])
            if r is not None:
                given[kind].append(InputData(row_entity(r), folder(home, item["_id"])))
    sd_id = ((execution.get("output") or {}).get("stored_data") or {}).get("_id")
    output_entity = final = None
    if sd_id:
        r = get_row(db.conn, sd_id)
        output_entity = row_entity(r) if r is not None else None
        final = layout.stored_data_dir(home, sd_id)
    # The processing writes into a work copy; it replaces the output folder only on success.
    tmp = layout.work_dir(home, f"tmp-{job.job_id}")
    remove_tree(tmp)
    if final is not None and final.is_dir():
        tmp.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(final, tmp, symlinks=True)
    else:
        tmp.mkdir(parents=True)
    ctx = ProcessingContext(
        parameters=execution.get("parameters") or {},
        uploads=given["upload"],
        stored_data=given["stored_data"],
        output_dir=tmp,
        log=job.log,
        is_aborted=job.is_aborted,
        output_entity=output_entity,
        workers=workers,
        home=home,
    )
    target = row["runner"] or ""
    job.log(
        f"INFO processing {execution.get('processing', {}).get('name')!r} started "
        f"(worker process {os.getpid()})"
    )
    try:
        func = load_target(target)
        result = func(ctx)
        if job.is_aborted():
            raise ProcessingAborted("execution aborted")
        if result is None:
            result = ProcessingResult()
        if not isinstance(result, ProcessingResult):
            raise TypeError(f"{target} returned {type(result).__name__}, expected ProcessingResult")
    except ProcessingAborted:
        with db.tx() as conn:
            lines = ["INFO execution aborted; partial output removed"]
            end_job(conn, job.job_id, ExecutionStatus.ABORTED, lines)
        remove_tree(tmp)
        return
    except BaseException as exc:  # a processing bug must end as FAILURE, with its reason logged
        with db.tx() as conn:
            end_job(conn, job.job_id, ExecutionStatus.FAILURE, _error_lines(exc))
        remove_tree(tmp)
        return
    _commit_success(home, job, sd_id, tmp, final, result)


def _commit_success(
    home: Path,
    job: Job,
    sd_id: str | None,
    tmp: Path,
    final: Path | None,
    result: Any,
) -> None:
    old = layout.work_dir(home, f"old-{job.job_id}")
    size = dir_size(tmp)  # measured before taking the write lock
    with job.db.tx() as conn:
        if not job.still_mine(conn):
            remove_tree(tmp)
            return
        r = get_row(conn, sd_id) if sd_id else None
        if sd_id and final is not None and r is not None:
            if final.exists():
                os.replace(final, old)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            body = row_entity(r)
            body.pop("_previous_status", None)
            update_body(conn, sd_id, body)
            fields: dict[str, Any] = {"type_infos": result.type_infos, "size": size}
            if result.srs:
                fields["srs"] = result.srs
            if result.extent is not None:
                fields["extent"] = result.extent
            set_status(conn, sd_id, "GENERATED", fields=fields)
        finish_job(conn, job.job_id, ExecutionStatus.SUCCESS, ["INFO execution succeeded"])
    remove_tree(old)
    remove_tree(tmp)  # still there when there was no output to move it to


# -- check executions ------------------------------------------------------------------------------


def run_check(home: Path, job: Job) -> None:
    """Run one upload check to its end; the last check to end closes the upload."""
    from gpf_flow.checks.base import CheckContext

    db = job.db
    row = get_row(db.conn, job.job_id)
    if row is None or row["status"] != ExecutionStatus.PROGRESS:
        return
    upload_id = row["parent"]
    up_row = get_row(db.conn, upload_id)
    if up_row is None:
        with db.tx() as conn:
            end_job(conn, job.job_id, ExecutionStatus.FAILURE, [f"ERROR upload {upload_id} no longer exists"])
        return
    root = layout.upload_dir(home, upload_id)
    files, md5_files = list_upload_files(root)
    ctx = CheckContext(
        upload=row_entity(up_row),
        root=root,
        files=files,
        md5_files=md5_files,
        log=job.log,
        is_aborted=job.is_aborted,
    )
    target = row["runner"] or ""
    try:
        ok = bool(load_target(target)(ctx))
    except BaseException as exc:
        with db.tx() as conn:
            end_job(conn, job.job_id, ExecutionStatus.FAILURE, _error_lines(exc))
        return
    with db.tx() as conn:
        if not job.still_mine(conn):
            return
        if ok:
            finish_job(conn, job.job_id, ExecutionStatus.SUCCESS, ["INFO check passed"])
        else:
            finish_job(conn, job.job_id, ExecutionStatus.FAILURE, ["ERROR check failed"])
        finalize_upload(conn, upload_id)


def list_upload_files(root: Path) -> tuple[list[str], list[str]]:
    """Data files and md5 files (``*.md5`` at the root) of an upload folder, as sorted POSIX paths."""
    files: list[str] = []
    md5: list[str] = []
    if not root.is_dir():
        return files, md5
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_reserved(d))
        rel_dir = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            if is_reserved(name):
                continue
            rel = (rel_dir / name).as_posix()
            (md5 if rel_dir == Path(".") and name.lower().endswith(".md5") else files).append(rel)
    return files, md5


# -- entry point -----------------------------------------------------------------------------------


def _watch_parent(parent_pid: int) -> None:
    """Exit at once when the process that started us is gone (it owned the job)."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(3)
        time.sleep(0.5)


def main(argv: list[str]) -> int:
    """``HOME JOB_ID OWNER_PID WORKERS``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # aborts come through the database, not Ctrl-C
    home, job_id, owner_pid, workers = Path(argv[0]), argv[1], int(argv[2]), int(argv[3])
    threading.Thread(target=_watch_parent, args=(owner_pid,), daemon=True).start()
    db = Database(layout.db_path(home))
    job = Job(db, job_id, owner_pid)
    row = get_row(db.conn, job_id)
    if row is None:
        return 0
    if row["type"] == "check_execution":
        run_check(home, job)
    else:
        run_processing(home, job, workers)
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
