"""``LocalStore``: the embedded Entrepôt (SQLite + files + worker processes) behind the ``Store`` seam.

The store is composed of parts over one shared :class:`~.core.Entities`: :class:`~.uploads.Uploads`,
:class:`~.executions.Executions` and :class:`~.publishing.Publishing`; this class routes the
protocol's generic operations (create, edit, delete, tags, comments) to them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gpf_flow.checks.base import CheckSpec
from gpf_flow.errors import BadRequestError, NotFoundError
from gpf_flow.processings.base import ProcessingSpec
from gpf_flow.store.base import (
    TAGGABLE_TYPES,
    Entity,
    Page,
    ProgressCallback,
    UploadChecks,
)
from gpf_flow.store.local import layout
from gpf_flow.store.local.core import (
    EDITABLE_TYPES,
    EXTRA_OWNED,
    SERVER_OWNED,
    Entities,
    StoreCore,
    new_id,
)
from gpf_flow.store.local.executions import Executions
from gpf_flow.store.local.publishing import Publishing
from gpf_flow.store.local.records import (
    add_event,
    comment_row,
    comments_of,
    delete_comment,
    events_of,
    insert_comment,
    row_entity,
    update_body,
    update_comment,
)
from gpf_flow.store.local.uploads import Uploads
from gpf_flow.store.routes import RouteDispatch, static_args

VECTOR_INTEGRATION = "Intégration de données vecteur livrées en base"
"""The processing that needs PostgreSQL/PostGIS (its name, as workflows select it)."""


class LocalStore(RouteDispatch):
    """The embedded Entrepôt in one folder (see the package docstring for how workers run)."""

    kind = "local"
    poll_interval = 0.3
    """A look is one SQLite read: cheap, so followers see a change within half a second."""

    def __init__(
        self,
        home: Path | str,
        *,
        public_url: str | None = None,
        extra_processings: Sequence[ProcessingSpec] = (),
        workers: int | None = None,
        checks: Sequence[CheckSpec] | None = None,
    ) -> None:
        self._attach(StoreCore(Path(home).expanduser(), public_url, extra_processings, workers, checks))
        self._owner = True

    def _attach(self, core: StoreCore) -> None:
        self._core = core
        self._closed = False
        self._base = Entities(core)
        self._uploads = Uploads(self._base)
        self._executions = Executions(self._base)
        self._publishing = Publishing(self._base)
        self.datastore_id = core.datastore_id

    # -- session ------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop this store's workers (running jobs end as interrupted) and close the database."""
        if self._owner and not self._closed:
            self._closed = True
            self._core.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def for_datastore(self, datastore_id: str) -> LocalStore:
        """The local store has one datastore: accepted by id, name or technical name."""
        ds = self._core.settings["datastore"]
        if datastore_id not in (ds["_id"], ds.get("name"), ds.get("technical_name")):
            raise NotFoundError(
                f"datastore {datastore_id!r} does not exist in the local store",
                hint=f"the local store has one datastore: {ds['_id']} ({ds.get('technical_name')})",
            )
        return _DatastoreView(self._core)

    def local(self) -> LocalStore:
        """The embedded store is its own :class:`~gpf_flow.store.base.LocalCapabilities`."""
        return self

    # -- local capabilities ----------------------------------------------------------------------
    @property
    def home(self) -> Path:
        """The store's folder."""
        return self._core.home

    @property
    def public_url(self) -> str:
        """Base URL of the services (offerings' ``urls``)."""
        return self._core.public_url

    @property
    def config(self) -> dict[str, Any]:
        """The home's settings (``config.json``): user, accounts (login/password), public_url..."""
        return self._core.settings

    def change_counter(self) -> object:
        """Changes whenever any process commits to the store's database (``PRAGMA data_version``)."""
        return self._core.db.data_version()

    def start_workers(self) -> None:
        """Run executions and checks in this process (``gpf-flow serve`` calls it; launching does too)."""
        self._base.start_workers()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until this home has no WAITING/PROGRESS job (tests, scripts). True if idle."""
        return self._executions.wait_idle(timeout)

    def stored_data_dir(self, stored_data_id: str) -> Path:
        """The folder holding a stored data's files."""
        self._base.row("stored_data", stored_data_id)
        return layout.stored_data_dir(self.home, stored_data_id)

    def upload_dir(self, upload_id: str) -> Path:
        """The folder holding an upload's files."""
        self._base.row("upload", upload_id)
        return layout.upload_dir(self.home, upload_id)

    def static_file(self, static_id: str) -> Path:
        """The file of a static."""
        entity = self.get_entity("static", static_id)
        return layout.static_dir(self.home, static_id) / entity["file_name"]

    def events(self, entity_id: str) -> list[Entity]:
        """``GET …/{id}/events``: the entity's history, oldest first."""
        return events_of(self._core.db.conn, entity_id)

    def check_account(self, login: str, password: str) -> bool:
        """True if ``login``/``password`` is one of the home's local accounts (token endpoint)."""
        return any(a.get("login") == login and a.get("password") == password for a in self.config["accounts"])

    # -- reads ---------------------------------------------------------------------------------
    def user_me(self) -> Entity:
        """``GET /users/me``."""
        return self._base.user_me()

    def get_datastore(self) -> Entity:
        """``GET {DS}`` with its endpoints."""
        return self._base.get_datastore()

    def list_entities(
        self,
        entity_type: str,
        infos: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        *,
        page: int = 1,
        limit: int = 10,
    ) -> Page:
        """One page of the entities matching the filters, in creation order."""
        return self._base.list_entities(entity_type, infos, tags, page=page, limit=limit)

    def get_entity(self, entity_type: str, entity_id: str) -> Entity:
        """One entity by id (``NotFoundError`` if none)."""
        return self._base.get_entity(entity_type, entity_id)

    # -- uploads -------------------------------------------------------------------------------
    def upload_push_file(
        self, upload_id: str, local_path: Path, remote_path: str, progress: ProgressCallback | None = None
    ) -> None:
        """Store one data file under exactly ``remote_path`` (confined to the upload folder)."""
        self._uploads.upload_push_file(upload_id, local_path, remote_path, progress)

    def upload_push_md5(
        self, upload_id: str, local_path: Path, progress: ProgressCallback | None = None
    ) -> None:
        """Store an md5 file at the upload's root under its base name."""
        self._uploads.upload_push_md5(upload_id, local_path, progress)

    def upload_delete_file(self, upload_id: str, remote_path: str) -> None:
        """Remove a pushed data or md5 file."""
        self._uploads.upload_delete_file(upload_id, remote_path)

    def upload_tree(self, upload_id: str) -> list[Entity]:
        """The upload's files and folders."""
        return self._uploads.upload_tree(upload_id)

    def upload_close(self, upload_id: str) -> None:
        """OPEN → CHECKING with one check execution per applicable check, created now."""
        self._uploads.upload_close(upload_id)

    def upload_open(self, upload_id: str) -> None:
        """CLOSED or UNSTABLE → OPEN."""
        self._uploads.upload_open(upload_id)

    def upload_run_checks(self, upload_id: str, check_ids: Sequence[str]) -> None:
        """``POST uploads/{id}/checks``: run these checks again on a CLOSED or UNSTABLE upload."""
        self._uploads.upload_run_checks(upload_id, check_ids)

    def upload_checks(self, upload_id: str) -> UploadChecks:
        """The upload's check executions by state."""
        return self._uploads.upload_checks(upload_id)

    def check_execution_logs(self, execution_id: str, start: int = 0) -> list[str]:
        """Log lines of a check execution from 0-based line ``start``."""
        return self._uploads.check_execution_logs(execution_id, start)

    # -- processing executions -------------------------------------------------------------------
    def create_processing_execution(self, body: Mapping[str, Any]) -> Entity:
        """``POST processings/executions``: CREATED, with its output stored data created at once."""
        return self._executions.create_processing_execution(body)

    def launch_processing_execution(self, execution_id: str) -> None:
        """CREATED → WAITING; this store's workers start it. A FAILURE/ABORTED one is relaunched."""
        self._executions.launch_processing_execution(execution_id)

    def abort_processing_execution(self, execution_id: str) -> None:
        """Stop a WAITING or PROGRESS execution; it ends ABORTED."""
        self._executions.abort_processing_execution(execution_id)

    def processing_execution_logs(self, execution_id: str, start: int = 0) -> list[str]:
        """Log lines from 0-based line ``start`` (readable while the execution runs)."""
        return self._executions.processing_execution_logs(execution_id, start)

    # -- publication -----------------------------------------------------------------------------
    def create_offering(self, configuration_id: str, body: Mapping[str, Any]) -> Entity:
        """Publish a configuration on an endpoint of the matching type."""
        return self._publishing.create_offering(configuration_id, body)

    def list_configuration_offerings(self, configuration_id: str) -> list[Entity]:
        """``GET configurations/{id}/offerings``."""
        return self._publishing.list_configuration_offerings(configuration_id)

    def synchronize_offering(self, offering_id: str) -> Entity:
        """``PUT offerings/{id}``: MODIFYING, then PUBLISHED (or UNSTABLE) again."""
        return self._publishing.synchronize_offering(offering_id)

    def create_static(
        self, local_path: Path, name: str, static_type: str, description: str | None = None
    ) -> Entity:
        """Store a static file with its metadata."""
        return self._publishing.create_static(local_path, name, static_type, description)

    def replace_static_file(self, static_id: str, local_path: Path) -> Entity:
        """``PUT statics/{id}``: replace a static's file; metadata are kept."""
        return self._publishing.replace_static_file(static_id, local_path)

    def create_permissions(self, body: Mapping[str, Any]) -> list[Entity]:
        """``POST permissions``: one permission per beneficiary."""
        return self._publishing.create_permissions(body)

    def create_access(self, key_id: str, body: Mapping[str, Any]) -> None:
        """``POST /users/me/keys/{key}/accesses``."""
        self._publishing.create_access(key_id, body)

    def delete_access(self, key_id: str, access_id: str) -> None:
        """``DELETE /users/me/keys/{key}/accesses/{access}``: withdraw one access of a key."""
        self._publishing.delete_access(key_id, access_id)

    def run_notices(self, action_bodies: Sequence[Mapping[str, Any]]) -> list[str]:
        """A run that integrates vector data is told at its start when PostGIS cannot be used."""
        text = json.dumps(list(action_bodies), ensure_ascii=False, default=str)
        if VECTOR_INTEGRATION not in text:
            return []
        from gpf_flow.postgis.notices import availability_notice

        notice = availability_notice()
        return [notice] if notice else []

    # -- generic entity operations -----------------------------------------------------------------
    def create_entity(self, entity_type: str, body: Mapping[str, Any], *, file: Path | None = None) -> Entity:
        """``POST`` on the type's list route (a static with its ``file``)."""
        self._base.check_type(entity_type)
        if not isinstance(body, Mapping):
            raise BadRequestError(f"the body to create a {entity_type} must be a JSON object")
        if entity_type == "upload":
            return self._uploads.create_upload(body)
        if entity_type == "configuration":
            return self._publishing.create_configuration(body)
        if entity_type == "processing_execution":
            return self.create_processing_execution(body)
        if entity_type == "permission":
            return self.create_permissions(body)[0]
        if entity_type == "key":
            return self._publishing.create_key(body)
        if entity_type == "static":
            return self.create_static(*static_args(body, file))
        if entity_type == "offering":
            raise BadRequestError(
                "an offering is created from a configuration",
                hint="POST configurations/{id}/offerings (related(configuration, id, 'offerings', add=body))",
            )
        raise BadRequestError(f"entities of type {entity_type} cannot be created")

    def edit_entity(
        self, entity_type: str, entity_id: str, body: Mapping[str, Any], *, replace: bool = False
    ) -> Entity:
        """``PATCH`` (merge) or ``PUT`` (replace); server-owned fields of the body are ignored."""
        self._base.check_type(entity_type)
        if entity_type not in EDITABLE_TYPES:
            raise BadRequestError(f"entities of type {entity_type} cannot be edited")
        if not isinstance(body, Mapping):
            raise BadRequestError("the edit body must be a JSON object")
        owned = SERVER_OWNED | EXTRA_OWNED.get(entity_type, frozenset())
        with self._core.db.tx() as conn:
            row = self._base.row(entity_type, entity_id, conn)
            current = row_entity(row)
            given = {k: v for k, v in body.items() if k not in owned}
            if replace:
                new = {k: v for k, v in current.items() if k in owned}
                new.update(given)
            else:
                new = dict(current)
                new.update(given)
            if entity_type == "configuration":
                self._publishing.validate_configuration(conn, new, exclude=entity_id)
            update_body(conn, entity_id, new)
            add_event(conn, entity_id, entity_type, "Modification")
        return self.get_entity(entity_type, entity_id)

    def delete_entity(self, entity_type: str, entity_id: str) -> None:
        """``DELETE`` with the API's semantics (a PUBLISHED offering is only unpublished)."""
        self._base.check_type(entity_type)
        handlers = {
            "upload": self._uploads.delete_upload,
            "stored_data": self._executions.delete_stored_data,
            "processing_execution": self._executions.delete_execution,
            "configuration": self._publishing.delete_configuration,
            "offering": self._publishing.delete_offering,
            "static": self._publishing.delete_static,
            "permission": self._publishing.delete_plain,
            "key": self._publishing.delete_plain,
            "check_execution": self._uploads.delete_check_execution,
        }
        handler = handlers.get(entity_type)
        if handler is None:
            raise BadRequestError(f"entities of type {entity_type} cannot be deleted")
        handler(entity_type, entity_id)

    def _taggable(self, entity_type: str) -> None:
        self._base.check_type(entity_type)
        if entity_type not in TAGGABLE_TYPES:
            raise BadRequestError(
                f"entities of type {entity_type} have no tags or comments",
                hint=f"tags and comments exist on: {', '.join(TAGGABLE_TYPES)}",
            )

    def add_tags(self, entity_type: str, entity_id: str, tags: Mapping[str, str]) -> None:
        """Merge tags (values as strings)."""
        self._taggable(entity_type)
        if not isinstance(tags, Mapping):
            raise BadRequestError("tags must be a JSON object of key: value")
        with self._core.db.tx() as conn:
            entity = row_entity(self._base.row(entity_type, entity_id, conn))
            merged = dict(entity.get("tags") or {})
            merged.update({str(k): str(v) for k, v in tags.items()})
            entity["tags"] = merged
            update_body(conn, entity_id, entity)

    def remove_tags(self, entity_type: str, entity_id: str, keys: Sequence[str]) -> None:
        """Remove tags by key (absent keys are ignored)."""
        self._taggable(entity_type)
        with self._core.db.tx() as conn:
            entity = row_entity(self._base.row(entity_type, entity_id, conn))
            entity["tags"] = {k: v for k, v in (entity.get("tags") or {}).items() if k not in set(keys)}
            update_body(conn, entity_id, entity)

    def list_comments(self, entity_type: str, entity_id: str) -> list[Entity]:
        """The comments, oldest first."""
        self._taggable(entity_type)
        self._base.row(entity_type, entity_id)
        return [self._comment(r) for r in comments_of(self._core.db.conn, entity_id)]

    def _comment(self, row: sqlite3.Row) -> Entity:
        user = self.config["user"]
        return {
            "_id": row["id"],
            "text": row["text"],
            "creation": row["date"],
            "author": {
                "_id": user["_id"],
                "first_name": user.get("first_name"),
                "last_name": user.get("last_name"),
            },
        }

    def add_comment(self, entity_type: str, entity_id: str, text: str) -> Entity:
        """Add one comment (duplicates accepted, as the API does)."""
        self._taggable(entity_type)
        if not isinstance(text, str) or not text:
            raise BadRequestError("a comment needs a non-empty 'text'")
        cid = new_id()
        with self._core.db.tx() as conn:
            self._base.row(entity_type, entity_id, conn)
            insert_comment(conn, cid, entity_id, text, self.config["user"]["_id"])
        return self._comment(comment_row(self._core.db.conn, cid))

    def remove_comment(self, entity_type: str, entity_id: str, comment_id: str) -> None:
        """Remove one comment."""
        self._taggable(entity_type)
        with self._core.db.tx() as conn:
            self._base.row(entity_type, entity_id, conn)
            if not delete_comment(conn, comment_id, entity_id):
                raise NotFoundError(f"comment {comment_id} does not exist on {entity_type} {entity_id}")

    def edit_comment(self, entity_type: str, entity_id: str, comment_id: str, text: str) -> Entity:
        """``PUT …/comments/{comment}``: replace a comment's text; returns the comment."""
        self._taggable(entity_type)
        if not isinstance(text, str) or not text:
            raise BadRequestError("a comment needs a non-empty 'text'")
        with self._core.db.tx() as conn:
            self._base.row(entity_type, entity_id, conn)
            if not update_comment(conn, comment_id, entity_id, text):
                raise NotFoundError(f"comment {comment_id} does not exist on {entity_type} {entity_id}")
        return self._comment(comment_row(self._core.db.conn, comment_id))


class _DatastoreView(LocalStore):
    """The same home reached through :meth:`LocalStore.for_datastore`: closing it closes nothing."""

    def __init__(self, core: StoreCore) -> None:
        self._attach(core)
        self._owner = False


__all__ = ["LocalStore"]
