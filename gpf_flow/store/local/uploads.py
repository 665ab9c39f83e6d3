"""Uploads of the local store: files, tree, close with checks, re-open."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gpf_flow.checks.base import CHECKS, CheckSpec
from gpf_flow.errors import BadRequestError, ConflictError, NotFoundError
from gpf_flow.store.base import Entity, ExecutionStatus, ProgressCallback, UploadChecks
from gpf_flow.store.local import files, layout
from gpf_flow.store.local.core import (
    SERVER_OWNED,
    Entities,
    new_id,
)
from gpf_flow.store.local.db import now_iso
from gpf_flow.store.local.liveness import HOST
from gpf_flow.store.local.paths import confine
from gpf_flow.store.local.records import (
    children,
    dir_size,
    drop,
    finalize_upload,
    get_row,
    insert_entity,
    read_logs,
    remove_tree,
    request_abort,
    row_entity,
    set_status,
    update_body,
)


class Uploads:
    """Upload routes."""

    def __init__(self, base: Entities) -> None:
        self.base = base

    def create_upload(self, body: Mapping[str, Any]) -> Entity:
        for key in ("name", "type"):
            if not isinstance(body.get(key), str) or not body.get(key):
                raise BadRequestError(
                    f"upload field {key!r} is missing or empty", hint="give name, type and srs"
                )
        entity = {k: v for k, v in body.items() if k not in SERVER_OWNED}
        entity.setdefault("description", "")
        entity.setdefault("type_infos", {})
        entity.update({"tags": {}, "size": 0, "open": False})
        created = self.base.insert("upload", entity, "OPEN")
        layout.upload_dir(self.base.home, created["_id"]).mkdir(parents=True, exist_ok=True)
        return created

    def _open_upload_row(self, upload_id: str) -> sqlite3.Row:
        row = self.base.row("upload", upload_id)
        if row["status"] != "OPEN":
            raise ConflictError(
                f"upload {upload_id} is {row['status']}, files can only be sent to an OPEN upload",
                hint="re-open it first (upload --open)",
            )
        return row

    def _add_size(self, upload_id: str, delta: int) -> None:
        """Keep the upload's ``size`` up to date without walking its folder on every push."""
        with self.base.db.tx() as conn:
            row = get_row(conn, upload_id)
            if row is not None:
                entity = row_entity(row)
                entity["size"] = max(0, int(entity.get("size") or 0) + delta)
                update_body(conn, upload_id, entity)

    def _receive(
        self, upload_id: str, local_path: Path, target: Path, progress: ProgressCallback | None
    ) -> None:
        before = target.stat().st_size if target.is_file() and not target.is_symlink() else 0
        size = files.receive_file(Path(local_path), target, progress)
        self._add_size(upload_id, size - before)

    def upload_push_file(
        self, upload_id: str, local_path: Path, remote_path: str, progress: ProgressCallback | None = None
    ) -> None:
        """Store one data file under exactly ``remote_path`` (confined to the upload folder)."""
        self._open_upload_row(upload_id)
        root = layout.upload_dir(self.base.home, upload_id)
        root.mkdir(parents=True, exist_ok=True)
        target = confine(root, remote_path, what="upload path")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise BadRequestError(
                f"upload path {remote_path!r}: a file already exists where a folder is needed",
                hint="delete that file first or choose another path",
            ) from exc
        target = confine(root, remote_path, what="upload path")  # re-checked once folders exist
        self._receive(upload_id, local_path, target, progress)

    def upload_push_md5(
        self, upload_id: str, local_path: Path, progress: ProgressCallback | None = None
    ) -> None:
        """Store an md5 file at the upload's root under its base name."""
        self._open_upload_row(upload_id)
        root = layout.upload_dir(self.base.home, upload_id)
        root.mkdir(parents=True, exist_ok=True)
        target = confine(root, Path(local_path).name, what="md5 file name")
        self._receive(upload_id, local_path, target, progress)

    def upload_delete_file(self, upload_id: str, remote_path: str) -> None:
        """Remove a pushed data or md5 file."""
        row = self.base.row("upload", upload_id)
        if row["status"] == "CHECKING":
            raise ConflictError(f"upload {upload_id} is being checked; wait for the checks to end")
        root = layout.upload_dir(self.base.home, upload_id)
        target = confine(root, remote_path, what="upload path")
        if not target.is_file() or target.is_symlink():
            raise NotFoundError(f"upload {upload_id} has no file {remote_path!r}")
        size = target.stat().st_size
        target.unlink()
        files.prune_empty_dirs(target.parent, root)
        self._add_size(upload_id, -size)

    def upload_tree(self, upload_id: str) -> list[Entity]:
        """The upload's files and folders."""
        self.base.row("upload", upload_id)
        return files.tree(layout.upload_dir(self.base.home, upload_id))

    def upload_close(self, upload_id: str) -> None:
        """OPEN → CHECKING with one check execution per applicable check, created now."""
        files.remove_partials(layout.upload_dir(self.base.home, upload_id))
        folder = layout.upload_dir(self.base.home, upload_id)
        size = dir_size(folder)  # exact, once, outside the lock
        declared = row_entity(self.base.row("upload", upload_id)).get("srs")
        closing: Entity = {"size": size}
        from gpf_flow.checks.extent import data_bbox  # rasterio and pyogrio: only when closing

        bbox = data_bbox(folder, str(declared) if declared else None)  # headers only, outside the lock
        if bbox is not None:
            closing["bbox"] = bbox
        with self.base.db.tx() as conn:
            row = self.base.row("upload", upload_id, conn)
            if row["status"] != "OPEN":
                raise ConflictError(
                    f"upload {upload_id} is {row['status']}, only an OPEN upload can be closed"
                )
            upload = row_entity(row)
            specs = [c for c in self.base.core.checks if c.applies_to(str(upload.get("type", "")))]
            self._queue_checks(conn, upload, specs, replace_all=True)
            set_status(conn, upload_id, "CHECKING" if specs else "CLOSED", title="Fermeture", fields=closing)
        if specs:
            self.base.start_workers()

    def upload_run_checks(self, upload_id: str, check_ids: Sequence[str]) -> None:
        """``POST uploads/{id}/checks``: run these checks again on a CLOSED or UNSTABLE upload."""
        specs = []
        for i, cid in enumerate(check_ids):
            spec = next((c for c in (*self.base.core.checks, *CHECKS) if c.id == cid), None)
            if spec is None:
                raise BadRequestError(
                    f"[{i}]: check {cid!r} does not exist", hint="list them: entities list check"
                )
            specs.append(spec)
        if not specs:
            raise BadRequestError("give at least one check id")
        with self.base.db.tx() as conn:
            row = self.base.row("upload", upload_id, conn)
            if row["status"] not in ("CLOSED", "UNSTABLE"):
                raise ConflictError(
                    f"upload {upload_id} is {row['status']}; "
                    "checks run on demand on a CLOSED or UNSTABLE upload"
                )
            self._queue_checks(conn, row_entity(row), specs, replace_all=False)
            set_status(conn, upload_id, "CHECKING", title="Vérifications demandées")
        self.base.start_workers()

    def _queue_checks(
        self, conn: sqlite3.Connection, upload: Entity, specs: Sequence[CheckSpec], *, replace_all: bool
    ) -> None:
        """Create WAITING check executions (replacing older executions of the same checks)."""
        upload_id = upload["_id"]
        wanted = {s.id for s in specs}
        for r in children(conn, upload_id):
            if replace_all or json.loads(r["body"]).get("check", {}).get("_id") in wanted:
                drop(conn, "check_execution", r["id"])
        for spec in specs:
            body = {
                "check": {"_id": spec.id, "name": spec.name},
                "upload": {"_id": upload_id, "name": upload.get("name")},
                "creation": now_iso(),
            }
            insert_entity(
                conn,
                "check_execution",
                new_id(),
                self.base.datastore_id,
                body,
                ExecutionStatus.WAITING,
                parent=upload_id,
                runner=spec.run,
                launcher_pid=os.getpid(),
                launcher_host=HOST,
            )

    def upload_open(self, upload_id: str) -> None:
        """CLOSED or UNSTABLE → OPEN."""
        with self.base.db.tx() as conn:
            row = self.base.row("upload", upload_id, conn)
            if row["status"] == "OPEN":
                return
            if row["status"] not in ("CLOSED", "UNSTABLE"):
                raise ConflictError(
                    f"upload {upload_id} is {row['status']}; "
                    "only a CLOSED or UNSTABLE upload can be re-opened"
                )
            set_status(conn, upload_id, "OPEN", title="Ouverture")

    def upload_checks(self, upload_id: str) -> UploadChecks:
        """The upload's check executions by state (never all empty while checks are pending)."""
        row = self.base.row("upload", upload_id)
        self.base.watch_upload(row)
        result = UploadChecks()
        buckets = {
            ExecutionStatus.WAITING: result.asked,
            ExecutionStatus.PROGRESS: result.in_progress,
            ExecutionStatus.SUCCESS: result.passed,
        }
        for r in children(self.base.db.conn, upload_id):
            buckets.get(r["status"], result.failed).append(
                self.base.present("check_execution", row_entity(r))
            )
        return result

    def check_execution_logs(self, execution_id: str, start: int = 0) -> list[str]:
        """Log lines of a check execution from 0-based line ``start``."""
        self.base.row("check_execution", execution_id)
        return read_logs(self.base.db, execution_id, start)

    def delete_upload(self, entity_type: str, entity_id: str) -> None:
        with self.base.db.tx() as conn:
            self.base.row("upload", entity_id, conn)
            self.base.refuse_if_in_use(conn, "upload", entity_id, "upload")
            for r in children(conn, entity_id):
                drop(conn, "check_execution", r["id"])
            drop(conn, "upload", entity_id)
        remove_tree(layout.upload_dir(self.base.home, entity_id))

    def delete_check_execution(self, entity_type: str, entity_id: str) -> None:
        with self.base.db.tx() as conn:
            row = self.base.row("check_execution", entity_id, conn)
            upload_id = row["parent"]
            if row["status"] in (ExecutionStatus.WAITING, ExecutionStatus.PROGRESS):
                request_abort(conn, entity_id)
            drop(conn, "check_execution", entity_id)
            if upload_id:
                finalize_upload(conn, upload_id)
