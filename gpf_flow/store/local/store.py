"""``LocalStore``: the embedded Entrepôt (SQLite + files + worker processes) behind the ``Store`` seam."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gpf_flow.checks.base import CheckSpec
from gpf_flow.errors import BadRequestError, NotFoundError
from gpf_flow.processings.base import ProcessingSpec
from gpf_flow.store.base import TAGGABLE_TYPES, Entity
from gpf_flow.store.local import layout
from gpf_flow.store.local.core import (
    EDITABLE_TYPES,
    EXTRA_OWNED,
    SERVER_OWNED,
    StoreCore,
    new_id,
)
from gpf_flow.store.local.db import now_iso
from gpf_flow.store.local.executions import ExecutionsMixin
from gpf_flow.store.local.publishing import PublishingMixin
from gpf_flow.store.local.records import (
    add_event,
    row_entity,
    update_body,
)
from gpf_flow.store.local.uploads import UploadsMixin


class LocalStore(UploadsMixin, ExecutionsMixin, PublishingMixin):
    """The embedded Entrepôt in one folder (see the package docstring for how workers run)."""

    def __init__(
        self,
        home: Path | str,
        *,
        public_url: str | None = None,
        extra_processings: Sequence[ProcessingSpec] = (),
        workers: int | None = None,
        checks: Sequence[CheckSpec] | None = None,
    ) -> None:
        self._core = StoreCore(Path(home).expanduser(), public_url, extra_processings, workers, checks)
        self._owner = True
        self._closed = False
        self.datastore_id = self._core.datastore_id

    def close(self) -> None:
        """Stop this process's workers (running jobs end as interrupted) and close the database."""
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
        view = object.__new__(LocalStore)
        view._core = self._core
        view._owner = False
        view._closed = False
        view.datastore_id = ds["_id"]
        return view

    def local(self) -> LocalStore:
        """The embedded store is its own :class:`~gpf_flow.store.base.LocalCapabilities`."""
        return self

    def change_counter(self) -> object:
        """Changes whenever any process commits to the store's database (``PRAGMA data_version``)."""
        return self._core.db.data_version()

    def stored_data_dir(self, stored_data_id: str) -> Path:
        """The folder holding a stored data's files."""
        self._row("stored_data", stored_data_id)
        return layout.stored_data_dir(self.home, stored_data_id)

    def upload_dir(self, upload_id: str) -> Path:
        """The folder holding an upload's files."""
        self._row("upload", upload_id)
        return layout.upload_dir(self.home, upload_id)

    def static_file(self, static_id: str) -> Path:
        """The file of a static."""
        entity = self.get_entity("static", static_id)
        return layout.static_dir(self.home, static_id) / entity["file_name"]

    def events(self, entity_id: str) -> list[Entity]:
        """``GET …/{id}/events``: the entity's history, oldest first."""
        rows = self._db.query("SELECT title, date FROM events WHERE entity_id = ? ORDER BY seq", (entity_id,))
        return [{"title": r["title"], "date": r["date"]} for r in rows]

    def check_account(self, login: str, password: str) -> bool:
        """True if ``login``/``password`` is one of the home's local accounts (token endpoint)."""
        return any(a.get("login") == login and a.get("password") == password for a in self.config["accounts"])

    def create_entity(self, entity_type: str, body: Mapping[str, Any]) -> Entity:
        """``POST`` on the type's list route."""
        self._check_type(entity_type)
        if not isinstance(body, Mapping):
            raise BadRequestError(f"the body to create a {entity_type} must be a JSON object")
        if entity_type == "upload":
            return self._create_upload(body)
        if entity_type == "configuration":
            return self._create_configuration(body)
        if entity_type == "processing_execution":
            return self.create_processing_execution(body)
        if entity_type == "permission":
            return self.create_permissions(body)[0]
        if entity_type == "key":
            return self._create_key(body)
        if entity_type == "static":
            raise BadRequestError(
                "a static is created with its file", hint="use create_static (multipart POST statics)"
            )
        if entity_type == "offering":
            raise BadRequestError(
                "an offering is created from a configuration",
                hint="use create_offering(configuration_id, body)",
            )
        raise BadRequestError(f"entities of type {entity_type} cannot be created")

    def edit_entity(
        self, entity_type: str, entity_id: str, body: Mapping[str, Any], *, replace: bool = False
    ) -> Entity:
        """``PATCH`` (merge) or ``PUT`` (replace); server-owned fields of the body are ignored."""
        self._check_type(entity_type)
        if entity_type not in EDITABLE_TYPES:
            raise BadRequestError(f"entities of type {entity_type} cannot be edited")
        if not isinstance(body, Mapping):
            raise BadRequestError("the edit body must be a JSON object")
        owned = SERVER_OWNED | EXTRA_OWNED.get(entity_type, frozenset())
        with self._db.tx() as conn:
            row = self._row(entity_type, entity_id, conn)
            current = row_entity(row)
            given = {k: v for k, v in body.items() if k not in owned}
            if replace:
                new = {k: v for k, v in current.items() if k in owned}
                new.update(given)
            else:
                new = dict(current)
                new.update(given)
            if entity_type == "configuration":
                self._validate_configuration(conn, new, exclude=entity_id)
            update_body(conn, entity_id, new)
            add_event(conn, entity_id, entity_type, "Modification")
        return self.get_entity(entity_type, entity_id)

    def delete_entity(self, entity_type: str, entity_id: str) -> None:
        """``DELETE`` with the API's semantics (a PUBLISHED offering is only unpublished)."""
        self._check_type(entity_type)
        handlers = {
            "upload": self._delete_upload,
            "stored_data": self._delete_stored_data,
            "processing_execution": self._delete_execution,
            "configuration": self._delete_configuration,
            "offering": self._delete_offering,
            "static": self._delete_static,
            "permission": self._delete_plain,
            "key": self._delete_plain,
            "check_execution": self._delete_check_execution,
        }
        handler = handlers.get(entity_type)
        if handler is None:
            raise BadRequestError(f"entities of type {entity_type} cannot be deleted")
        handler(entity_type, entity_id)

    def _taggable(self, entity_type: str) -> None:
        self._check_type(entity_type)
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
        with self._db.tx() as conn:
            entity = row_entity(self._row(entity_type, entity_id, conn))
            merged = dict(entity.get("tags") or {})
            merged.update({str(k): str(v) for k, v in tags.items()})
            entity["tags"] = merged
            update_body(conn, entity_id, entity)

    def remove_tags(self, entity_type: str, entity_id: str, keys: Sequence[str]) -> None:
        """Remove tags by key (absent keys are ignored)."""
        self._taggable(entity_type)
        with self._db.tx() as conn:
            entity = row_entity(self._row(entity_type, entity_id, conn))
            entity["tags"] = {k: v for k, v in (entity.get("tags") or {}).items() if k not in set(keys)}
            update_body(conn, entity_id, entity)

    def list_comments(self, entity_type: str, entity_id: str) -> list[Entity]:
        """The comments, oldest first."""
        self._taggable(entity_type)
        self._row(entity_type, entity_id)
        rows = self._db.query("SELECT * FROM comments WHERE entity_id = ? ORDER BY seq", (entity_id,))
        return [self._comment(r) for r in rows]

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
        with self._db.tx() as conn:
            self._row(entity_type, entity_id, conn)
            conn.execute(
                "INSERT INTO comments (id, entity_id, text, author, date) VALUES (?, ?, ?, ?, ?)",
                (cid, entity_id, text, self.config["user"]["_id"], now_iso()),
            )
        return self._comment(self._db.query("SELECT * FROM comments WHERE id = ?", (cid,))[0])

    def remove_comment(self, entity_type: str, entity_id: str, comment_id: str) -> None:
        """Remove one comment."""
        self._taggable(entity_type)
        with self._db.tx() as conn:
            self._row(entity_type, entity_id, conn)
            cur = conn.execute("DELETE FROM comments WHERE id = ? AND entity_id = ?", (comment_id, entity_id))
            if cur.rowcount == 0:
                raise NotFoundError(f"comment {comment_id} does not exist on {entity_type} {entity_id}")

    def edit_comment(self, entity_type: str, entity_id: str, comment_id: str, text: str) -> Entity:
        """``PUT …/comments/{comment}``: replace a comment's text; returns the comment."""
        self._taggable(entity_type)
        if not isinstance(text, str) or not text:
            raise BadRequestError("a comment needs a non-empty 'text'")
        with self._db.tx() as conn:
            self._row(entity_type, entity_id, conn)
            cur = conn.execute(
                "UPDATE comments SET text = ? WHERE id = ? AND entity_id = ?", (text, comment_id, entity_id)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"comment {comment_id} does not exist on {entity_type} {entity_id}")
        return self._comment(self._db.query("SELECT * FROM comments WHERE id = ?", (comment_id,))[0])


__all__ = ["LocalStore"]
