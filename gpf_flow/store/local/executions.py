"""Processing executions and stored data of the local store."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from gpf_flow.errors import BadRequestError, ConflictError
from gpf_flow.store.base import Entity, ExecutionStatus
from gpf_flow.store.local import layout
from gpf_flow.store.local.core import (
    Entities,
    new_id,
    ref_id,
)
from gpf_flow.store.local.db import now_iso
from gpf_flow.store.local.filters import used_stored_data
from gpf_flow.store.local.liveness import HOST
from gpf_flow.store.local.records import (
    ACTIVE,
    active_jobs,
    append_logs,
    drop,
    end_job,
    get_row,
    insert_entity,
    mark_launched,
    read_logs,
    remove_tree,
    request_abort,
    row_entity,
    rows_of_type,
    set_status,
)


class Executions:
    """Processing execution and stored data routes (the work runs in :mod:`.worker`)."""

    def __init__(self, base: Entities) -> None:
        self.base = base

    def create_processing_execution(self, body: Mapping[str, Any]) -> Entity:
        """``POST processings/executions``: CREATED, with its output stored data created at once."""
        if not isinstance(body, Mapping):
            raise BadRequestError("the execution body must be a JSON object")
        pid = ref_id(body.get("processing"))
        if not pid:
            raise BadRequestError("field 'processing' (the processing id) is missing")
        with self.base.db.tx() as conn:
            prow = get_row(conn, pid)
            if prow is None or prow["type"] != "processing":
                raise BadRequestError(
                    f"processing {pid} does not exist", hint="list them with: entities list processing"
                )
            processing = row_entity(prow)
            inputs_body = body.get("inputs") or {}
            if not isinstance(inputs_body, Mapping):
                raise BadRequestError("field 'inputs' must be an object {upload: [...], stored_data: [...]}")
            inputs: dict[str, list[Entity]] = {"upload": [], "stored_data": []}
            srs: str | None = None  # a new output stored data takes the first input's srs
            allowed = processing.get("input_types") or {}
            for kind in ("upload", "stored_data"):
                items = inputs_body.get(kind) or []
                if not isinstance(items, list):
                    raise BadRequestError(f"field 'inputs.{kind}' must be a list of ids")
                for i, item in enumerate(items):
                    ref = ref_id(item)
                    r = get_row(conn, ref) if ref else None
                    if r is None or r["type"] != kind:
                        raise BadRequestError(f"inputs.{kind}[{i}]: {kind} {item!r} does not exist")
                    ent = row_entity(r)
                    kinds = allowed.get(kind) or []
                    if kinds and ent.get("type") not in kinds:
                        raise BadRequestError(
                            f"inputs.{kind}[{i}]: {kind} {ref} is of type {ent.get('type')}; "
                            f"processing {processing['name']!r} takes {', '.join(kinds)}"
                        )
                    srs = srs or ent.get("srs")
                    inputs[kind].append(
                        {
                            "_id": ent["_id"],
                            "name": ent.get("name"),
                            "type": ent.get("type"),
                            "status": ent.get("status"),
                        }
                    )
            parameters = body.get("parameters") if body.get("parameters") is not None else {}
            if not isinstance(parameters, Mapping):
                raise BadRequestError("field 'parameters' must be an object")
            for param in processing.get("parameters") or []:
                if param.get("mandatory") and param["name"] not in parameters:
                    raise BadRequestError(
                        f"parameters.{param['name']} is mandatory for processing {processing['name']!r}",
                        hint=param.get("description"),
                    )
            entity: Entity = {
                "processing": {"_id": pid, "name": processing["name"]},
                "creation": now_iso(),
                "inputs": inputs,
                "parameters": parameters,
            }
            output = self._execution_output(conn, body.get("output"), processing, srs)
            if output is not None:
                entity["output"] = output
            eid = new_id()
            insert_entity(
                conn,
                "processing_execution",
                eid,
                self.base.datastore_id,
                entity,
                "CREATED",
                runner=prow["runner"],
            )
        return self.base.get_entity("processing_execution", eid)

    def _execution_output(
        self, conn: sqlite3.Connection, output: Any, processing: Entity, srs: str | None
    ) -> Entity | None:
        if output is None or output == {}:
            return None
        if not isinstance(output, Mapping) or "stored_data" not in output:
            raise BadRequestError(
                'field \'output\' must be {"stored_data": {"name": ...}} or {"stored_data": {"_id": ...}}',
                hint="the local store produces stored data only",
            )
        sd = output["stored_data"]
        if isinstance(sd, Mapping) and sd.get("id") and not sd.get("_id"):
            # The official generic_joincache workflow names the existing output "id".
            sd = {**{k: v for k, v in sd.items() if k != "id"}, "_id": sd["id"]}
        out_type = (processing.get("output_type") or {}).get("stored_data")
        if isinstance(sd, Mapping) and sd.get("_id") and not sd.get("name"):
            r = get_row(conn, str(sd["_id"]))
            if r is None or r["type"] != "stored_data":
                raise BadRequestError(f"output.stored_data._id: stored data {sd['_id']} does not exist")
            ent = row_entity(r)
            if out_type and ent.get("type") != out_type:
                raise BadRequestError(
                    f"output.stored_data._id: stored data {sd['_id']} is {ent.get('type')}, "
                    f"processing {processing['name']!r} produces {out_type}"
                )
            if r["status"] in ("GENERATING", "MODIFYING"):
                raise ConflictError(f"stored data {sd['_id']} is {r['status']} by another execution")
            return {
                "stored_data": {
                    "_id": ent["_id"],
                    "name": ent.get("name"),
                    "type": ent.get("type"),
                    "status": r["status"],
                }
            }
        if not isinstance(sd, Mapping) or not isinstance(sd.get("name"), str) or not sd["name"]:
            raise BadRequestError(
                "output.stored_data.name is missing (or give output.stored_data._id to update)"
            )
        storage = (
            sd.get("storage_type")
            or ((processing.get("output_type") or {}).get("storage") or ["FILESYSTEM"])[0]
        )
        body: Entity = {
            "name": sd["name"],
            "type": out_type,
            "storage": {"type": storage, "labels": list(sd.get("storage_tags") or [])},
            "tags": {},
            "type_infos": {},
            "size": 0,
            "creation": now_iso(),
        }
        if srs:
            body["srs"] = srs
        sd_id = new_id()
        insert_entity(conn, "stored_data", sd_id, self.base.datastore_id, body, "CREATED")
        return {"stored_data": {"_id": sd_id, "name": sd["name"], "type": out_type, "status": "CREATED"}}

    def launch_processing_execution(self, execution_id: str) -> None:
        """CREATED → WAITING; this process's workers start it. A FAILURE/ABORTED one is relaunched."""
        with self.base.db.tx() as conn:
            row = self.base.row("processing_execution", execution_id, conn)
            if row["status"] not in ("CREATED", ExecutionStatus.FAILURE, ExecutionStatus.ABORTED):
                raise ConflictError(
                    f"processing execution {execution_id} is {row['status']}; "
                    "only a CREATED one can be launched"
                )
            output = (row_entity(row).get("output") or {}).get("stored_data") or {}
            out_row = get_row(conn, output["_id"]) if output.get("_id") else None
            if output.get("_id") and out_row is None:
                raise ConflictError(
                    f"the output stored data {output['_id']} of execution {execution_id} was deleted",
                    hint="create a new execution",
                )
            if out_row is not None and out_row["status"] in ("GENERATING", "MODIFYING"):
                raise ConflictError(f"the output stored data {output['_id']} is {out_row['status']}")
            if row["status"] != "CREATED":
                append_logs(conn, execution_id, ["INFO relaunched"])
            mark_launched(conn, execution_id, os.getpid(), HOST)
            set_status(conn, execution_id, ExecutionStatus.WAITING)
        self.base.start_workers()

    def abort_processing_execution(self, execution_id: str) -> None:
        """WAITING/CREATED end ABORTED at once; PROGRESS gets the abort flag (the processing sees
        ``ctx.is_aborted()``; a worker that ignores it is stopped after a grace period)."""
        with self.base.db.tx() as conn:
            row = self.base.row("processing_execution", execution_id, conn)
            status = row["status"]
            if status in ("CREATED", ExecutionStatus.WAITING):
                end_job(
                    conn,
                    execution_id,
                    ExecutionStatus.ABORTED,
                    ["INFO aborted before it started"],
                    only_if=("CREATED", ExecutionStatus.WAITING),
                )
            elif status == ExecutionStatus.PROGRESS:
                request_abort(conn, execution_id)
                append_logs(conn, execution_id, ["INFO abort requested"])
            else:
                raise ConflictError(f"processing execution {execution_id} already ended ({status})")
        if status == ExecutionStatus.PROGRESS:
            self.base.watch_job(self.base.row("processing_execution", execution_id))

    def processing_execution_logs(self, execution_id: str, start: int = 0) -> list[str]:
        """Log lines from 0-based line ``start`` (readable while the execution runs)."""
        self.base.row("processing_execution", execution_id)
        return read_logs(self.base.db, execution_id, start)

    def delete_execution(self, entity_type: str, entity_id: str) -> None:
        with self.base.db.tx() as conn:
            row = self.base.row("processing_execution", entity_id, conn)
            if row["status"] in ACTIVE:
                raise ConflictError(
                    f"processing execution {entity_id} is {row['status']}",
                    hint="abort it first (processing_execution --abort)",
                )
            drop(conn, "processing_execution", entity_id)

    def delete_stored_data(self, entity_type: str, entity_id: str) -> None:
        with self.base.db.tx() as conn:
            deleted = row_entity(self.base.row("stored_data", entity_id, conn))
            self.base.refuse_if_in_use(conn, "stored_data", entity_id, "stored data")
            confs = [
                r["id"]
                for r in rows_of_type(conn, "configuration", self.base.datastore_id)
                if entity_id in used_stored_data(json.loads(r["body"]))
            ]
            if confs:
                raise ConflictError(
                    f"stored data {entity_id} is used by configurations {', '.join(confs)}",
                    hint="delete those configurations (and their offerings) first, "
                    'or use a delete-entity action with "cascade": true',
                )
            drop(conn, "stored_data", entity_id)
        remove_tree(layout.stored_data_dir(self.base.home, entity_id))
        from gpf_flow.postgis.database import drop_stored_data

        drop_stored_data(self.base.home, deleted)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until this home has no WAITING/PROGRESS job (tests, scripts). True if idle."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            rows = active_jobs(self.base.db.conn)
            if not rows:
                return True
            for r in rows:
                self.base.watch_job(r)
            time.sleep(0.05)
        return False
