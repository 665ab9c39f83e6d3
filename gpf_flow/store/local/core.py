"""The shared part of the local store: the per-home core (database, settings, catalogs, the
dispatcher it owns) and :class:`Entities`, the reads and writes every part of the store uses."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gpf_flow.checks.base import CHECKS, CheckSpec
from gpf_flow.errors import BadRequestError, ConflictError, GpfFlowError, NotFoundError
from gpf_flow.processings.base import PROCESSINGS, ProcessingSpec
from gpf_flow.store.base import ENTITY_TYPES, Entity, ExecutionStatus, Page
from gpf_flow.store.local import catalog, layout
from gpf_flow.store.local.db import Database, now_iso
from gpf_flow.store.local.dispatcher import Dispatcher
from gpf_flow.store.local.filters import matches, used_stored_data
from gpf_flow.store.local.records import (
    JOB_TYPES,
    active_jobs,
    catalog_rows,
    children,
    get_row,
    insert_entity,
    row_entity,
    rows_of_type,
    set_runner,
)
from gpf_flow.store.local.recovery import has_orphans, recover_stale
from gpf_flow.store.local.serving import serving_url
from gpf_flow.store.local.settings import DEFAULT_PUBLIC_URL, load_settings

# Fields the server owns: ignored in PATCH/PUT bodies and POST bodies (copy-configuration).
SERVER_OWNED = frozenset(
    {"_id", "status", "tags", "last_event", "creation", "start", "finish", "size", "urls", "_previous_status"}
)
EXTRA_OWNED = {
    "offering": frozenset({"configuration", "endpoint", "type", "layer_name", "available"}),
    "stored_data": frozenset({"type", "storage"}),
    "upload": frozenset({"type"}),
    "static": frozenset({"type", "file_name"}),
}
EDITABLE_TYPES = ("upload", "stored_data", "configuration", "offering", "static", "permission", "key")


def new_id() -> str:
    """A new entity id (lowercase uuid4)."""
    return str(uuid.uuid4())


def ref_id(value: Any) -> str | None:
    """The id of a reference given as a bare id or as ``{"_id": ...}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("_id"), str):
        return str(value["_id"])
    return None


class StoreCore:
    """What every view of one home shares: database, settings, catalogs, and the dispatcher that
    runs the jobs launched through this store (its own: stopped when the store is closed)."""

    def __init__(
        self,
        home: Path,
        public_url: str | None,
        extra_processings: Sequence[ProcessingSpec],
        workers: int | None,
        checks: Sequence[CheckSpec] | None,
    ) -> None:
        self.home = home
        try:
            home.mkdir(parents=True, exist_ok=True)
            for sub in ("uploads", "stored_data", "statics"):
                (home / sub).mkdir(exist_ok=True)
            self.settings = load_settings(home)
            self.db = Database(layout.db_path(home))
        except (OSError, sqlite3.Error) as exc:
            raise GpfFlowError(
                f"cannot open the local store in {home}: {exc}",
                hint="choose a writable folder with --home or GPF_FLOW_HOME",
            ) from exc
        live = serving_url(home)  # the address a running `gpf-flow serve` answers on
        self.public_url = (
            public_url or live or self.settings.get("public_url") or DEFAULT_PUBLIC_URL
        ).rstrip("/")
        self.processings = (*PROCESSINGS, *extra_processings)
        self.checks = tuple(checks) if checks is not None else CHECKS
        self.workers = workers or max(1, min(4, os.cpu_count() or 2))
        self.dispatcher = Dispatcher(home.resolve(), self.workers)
        self.datastore_id: str = self.settings["datastore"]["_id"]
        self._seed()
        recover_stale(self.db, running_here=self.dispatcher.running_ids())

    def _seed(self) -> None:
        wanted: list[tuple[str, str, Entity, str]] = []
        for p in self.processings:
            body = p.as_entity()
            body.pop("_id")
            wanted.append(("processing", p.id, body, p.run))
        for c in self.checks:
            body = c.as_entity()
            body.pop("_id")
            wanted.append(("check", c.id, body, c.run))
        current = catalog_rows(self.db.conn)
        todo = []
        for kind, eid, body, run in wanted:
            old = current.get(eid)
            if old is None or json.loads(old[0]).get("name") != body["name"] or old[1] != run:
                todo.append((kind, eid, body, run, old is None))
        if not todo:
            return
        with self.db.tx() as conn:
            for kind, eid, body, run, new in todo:
                if new and get_row(conn, eid) is None:
                    insert_entity(conn, kind, eid, self.datastore_id, body, None, runner=run)
                else:
                    set_runner(conn, eid, body, run)

    def close(self) -> None:
        """Stop the dispatcher (running jobs end as interrupted), close the database and stop the
        PostGIS cluster of this home if one was started."""
        if self.dispatcher.started:
            self.dispatcher.stop()
        else:
            self.dispatcher.db.close()
        self.db.close()
        if (self.home / "postgres" / "data").is_dir():  # a cluster was ever created in this home
            from gpf_flow.postgis.database import shutdown

            shutdown(self.home)


class Entities:
    """The reads and writes every part of :class:`LocalStore` shares: rows, presentation,
    listing, and the watch a follower's read keeps on jobs."""

    def __init__(self, core: StoreCore) -> None:
        self._core = core
        self.datastore_id = core.datastore_id

    @property
    def core(self) -> StoreCore:
        """The home's core."""
        return self._core

    @property
    def home(self) -> Path:
        """The store's folder."""
        return self._core.home

    @property
    def public_url(self) -> str:
        """Base URL of the services (offerings' ``urls``)."""
        return self._core.public_url

    @property
    def db(self) -> Database:
        """The home's database."""
        return self._core.db

    def start_workers(self) -> None:
        """Run executions and checks in this process (``gpf-flow serve`` calls it; launching does too)."""
        self._core.dispatcher.start()
        self._core.dispatcher.wake()

    def user_me(self) -> Entity:
        """``GET /users/me``."""
        return catalog.user_document(self._core.settings)

    def get_datastore(self) -> Entity:
        """``GET {DS}`` with its endpoints."""
        return catalog.datastore_document(self._core.settings, self.public_url)

    def row(self, entity_type: str, entity_id: str, conn: sqlite3.Connection | None = None) -> sqlite3.Row:
        """The row of an entity of this type; ``NotFoundError`` if there is none."""
        row = get_row(conn or self.db.conn, entity_id)
        if row is None or row["type"] != entity_type:
            raise NotFoundError(f"{entity_type} {entity_id} does not exist in the local store")
        return row

    def present(self, entity_type: str, entity: Entity) -> Entity:
        """Fields computed at read time (references' current status, offering URLs)."""
        if entity_type == "processing_execution":
            for kind in ("upload", "stored_data"):
                for item in (entity.get("inputs") or {}).get(kind, []):
                    self._refresh_ref(item)
            for item in (entity.get("output") or {}).values():
                if isinstance(item, dict):
                    self._refresh_ref(item)
        elif entity_type == "offering":
            self._present_offering(entity)
        elif entity_type == "check_execution":
            up = entity.get("upload")
            if isinstance(up, dict):
                self._refresh_ref(up)
        entity.pop("_previous_status", None)
        return entity

    def _refresh_ref(self, ref: dict[str, Any]) -> None:
        row = get_row(self.db.conn, ref.get("_id", ""))
        if row is not None:
            body = json.loads(row["body"])
            ref["name"] = body.get("name", ref.get("name"))
            if row["status"] is not None:
                ref["status"] = row["status"]

    def _present_offering(self, entity: Entity) -> None:
        conf_id = (entity.get("configuration") or {}).get("_id")
        conf_row = get_row(self.db.conn, conf_id) if conf_id else None
        sd_entity = None
        if conf_row is not None:
            conf = row_entity(conf_row)
            entity["configuration"] = {
                "_id": conf["_id"],
                "name": conf.get("name"),
                "type": conf.get("type"),
                "layer_name": conf.get("layer_name"),
                "status": conf.get("status"),
            }
            used = (conf.get("type_infos") or {}).get("used_data") or []
            if used:
                sd_row = get_row(self.db.conn, str(used[0].get("stored_data", "")))
                sd_entity = row_entity(sd_row) if sd_row is not None else None
        entity["urls"] = catalog.offering_urls(
            self.public_url, entity["_id"], entity.get("type", ""), entity.get("layer_name", ""), sd_entity
        )

    def _offering_stored_data(self, entity: Entity) -> list[str]:
        conf_id = (entity.get("configuration") or {}).get("_id")
        row = get_row(self.db.conn, conf_id) if conf_id else None
        return [] if row is None else used_stored_data(json.loads(row["body"]))

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
        self.check_type(entity_type)
        if page < 1 or limit < 1:
            raise BadRequestError(f"page ({page}) and limit ({limit}) must be at least 1")
        if entity_type == "endpoint":
            found = [
                e
                for e in catalog.endpoints(self.datastore_id, self.public_url)
                if matches("endpoint", e, infos, None, case_insensitive=True)
            ]
        elif entity_type == "datastore":
            found = [self.get_datastore()]
            name = (infos or {}).get("name")
            if name is not None:
                found = [d for d in found if name in (d["name"], d["technical_name"])]
            rest = {k: v for k, v in (infos or {}).items() if k != "name"}
            found = [d for d in found if matches("datastore", d, rest, None)]
        else:
            datastore = None if entity_type == "key" else self.datastore_id
            rows = rows_of_type(self.db.conn, entity_type, datastore)
            found = []
            needs_sd = entity_type == "offering" and "stored_data" in (infos or {})
            for row in rows:
                entity = row_entity(row)
                if needs_sd:
                    entity["_stored_data"] = self._offering_stored_data(entity)
                if matches(entity_type, entity, infos, tags):
                    entity.pop("_stored_data", None)
                    found.append(entity)
        total = len(found)
        chunk = found[(page - 1) * limit : page * limit]
        items = [self.present(entity_type, e) for e in chunk]
        return Page(items=items, total=total, page=page, limit=limit)

    def check_type(self, entity_type: str) -> None:
        """``BadRequestError`` for a name that is no entity type."""
        if entity_type not in ENTITY_TYPES:
            raise BadRequestError(
                f"unknown entity type {entity_type!r}", hint=f"use one of: {', '.join(ENTITY_TYPES)}"
            )

    def get_entity(self, entity_type: str, entity_id: str) -> Entity:
        """One entity by id (``NotFoundError`` if none)."""
        self.check_type(entity_type)
        if entity_type == "endpoint":
            for ep in catalog.endpoints(self.datastore_id, self.public_url):
                if ep["_id"] == entity_id:
                    return ep
            raise NotFoundError(f"endpoint {entity_id} does not exist in the local datastore")
        if entity_type == "datastore":
            if entity_id != self.datastore_id:
                raise NotFoundError(f"datastore {entity_id} does not exist in the local store")
            return self.get_datastore()
        row = self.row(entity_type, entity_id)
        if entity_type in JOB_TYPES:
            row = self.watch_job(row)
        elif entity_type == "upload":
            row = self.watch_upload(row)
        return self.present(entity_type, row_entity(row))

    def watch_job(self, row: sqlite3.Row) -> sqlite3.Row:
        """A follower looks at a job: end it if its owner died, adopt it if its launcher died."""
        if row["status"] == ExecutionStatus.PROGRESS and recover_stale(
            self.db, row["id"], self._core.dispatcher.running_ids()
        ):
            row = get_row(self.db.conn, row["id"]) or row
        elif row["status"] == ExecutionStatus.WAITING and has_orphans(self.db, job_id=row["id"]):
            self.start_workers()
        return row

    def watch_upload(self, row: sqlite3.Row) -> sqlite3.Row:
        """A follower looks at a CHECKING upload: end checks whose owner died, adopt orphans."""
        if row["status"] != "CHECKING":
            return row
        upload_id = row["id"]
        for r in children(self.db.conn, upload_id, ExecutionStatus.PROGRESS):
            self.watch_job(r)
        if has_orphans(self.db, parent=upload_id):
            self.start_workers()
        return get_row(self.db.conn, upload_id) or row

    def insert(self, entity_type: str, body: Entity, status: str | None, **columns: Any) -> Entity:
        """Insert a new entity of this datastore (a key belongs to none) and return it as read."""
        entity_id = new_id()
        body = dict(body)
        body.setdefault("creation", now_iso())
        datastore = None if entity_type == "key" else self.datastore_id
        with self.db.tx() as conn:
            insert_entity(conn, entity_type, entity_id, datastore, body, status, **columns)
        return self.get_entity(entity_type, entity_id)

    def _users_of(self, conn: sqlite3.Connection, key: str, entity_id: str) -> list[str]:
        """Ids of active executions that use this entity (as input or output)."""
        rows = active_jobs(conn, "processing_execution")
        found = []
        for r in rows:
            body = json.loads(r["body"])
            refs = [i.get("_id") for i in (body.get("inputs") or {}).get(key, [])]
            refs += [(body.get("output") or {}).get(key, {}).get("_id")]
            if entity_id in refs:
                found.append(r["id"])
        return found

    def refuse_if_in_use(self, conn: sqlite3.Connection, key: str, entity_id: str, what: str) -> None:
        """``ConflictError`` when running executions use this upload or stored data."""
        users = self._users_of(conn, key, entity_id)
        if users:
            raise ConflictError(
                f"{what} {entity_id} is used by running processing executions {', '.join(users)}",
                hint=f"abort them (or wait for them to end) before deleting the {what}",
            )
