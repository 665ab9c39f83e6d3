"""Configurations, offerings, statics, permissions and keys of the local store."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpf_flow.errors import BadRequestError, ConflictError, NotFoundError
from gpf_flow.store.base import Entity
from gpf_flow.store.local import catalog, files, layout
from gpf_flow.store.local.core import (
    SERVER_OWNED,
    Entities,
    new_id,
    ref_id,
)
from gpf_flow.store.local.db import now_iso
from gpf_flow.store.local.filters import used_stored_data
from gpf_flow.store.local.paths import confine
from gpf_flow.store.local.records import (
    add_event,
    drop,
    get_row,
    insert_entity,
    remove_tree,
    row_entity,
    rows_of_type,
    set_status,
    update_body,
)


class Publishing:
    """Configuration, offering, static, permission and key routes."""

    def __init__(self, base: Entities) -> None:
        self.base = base

    def validate_configuration(
        self, conn: sqlite3.Connection, body: Entity, exclude: str | None = None
    ) -> None:
        ctype = body.get("type")
        if ctype not in catalog.CONFIGURATION_TYPES:
            raise BadRequestError(
                f"configuration field 'type' is {ctype!r}",
                hint=f"use one of: {', '.join(catalog.CONFIGURATION_TYPES)}",
            )
        for key in ("name", "layer_name"):
            if not isinstance(body.get(key), str) or not body.get(key):
                raise BadRequestError(f"configuration field {key!r} is missing or empty")
        type_infos = body.get("type_infos")
        if type_infos is None:
            type_infos = body["type_infos"] = {}
        if not isinstance(type_infos, Mapping):
            raise BadRequestError("configuration field 'type_infos' must be an object")
        used = type_infos.get("used_data") or []
        if not isinstance(used, list):
            raise BadRequestError("configuration field 'type_infos.used_data' must be a list")
        seen: set[str] = set()
        for i, item in enumerate(used):
            sd = item.get("stored_data") if isinstance(item, Mapping) else None
            r = get_row(conn, str(sd)) if sd else None
            if r is None or r["type"] != "stored_data":
                raise BadRequestError(
                    f"type_infos.used_data[{i}].stored_data: stored data {sd!r} does not exist"
                )
            # MODIFYING: an update runs on data that was GENERATED, whose earlier tiles stay served
            if r["status"] not in ("GENERATED", "MODIFYING"):
                raise BadRequestError(
                    f"type_infos.used_data[{i}].stored_data: stored data {sd} is {r['status']}, "
                    "not GENERATED",
                    hint="configure stored data whose processing succeeded (wait, or fix and rerun it)",
                )
            if sd in seen:
                # The API's own message (clients match it); the hint says where and what to fix.
                raise BadRequestError(
                    "Une donnée stockée est référencée plusieurs fois",
                    hint=f"type_infos.used_data[{i}]: stored data {sd} is already listed; list each one once",
                )
            seen.add(str(sd))
        if ctype == "WMS-RASTER":
            _check_styles(conn, type_infos.get("styles"))
        for r in rows_of_type(conn, "configuration", self.base.datastore_id):
            other = json.loads(r["body"])
            if (
                r["id"] != exclude
                and other.get("type") == ctype
                and other.get("layer_name") == body["layer_name"]
            ):
                raise ConflictError(
                    f"a {ctype} configuration with layer_name {body['layer_name']!r} "
                    f"already exists ({r['id']})",
                    hint="choose another layer_name or reuse that configuration",
                )

    def create_configuration(self, body: Mapping[str, Any]) -> Entity:
        entity = {k: v for k, v in body.items() if k not in SERVER_OWNED}
        entity["tags"] = {}
        entity["creation"] = now_iso()
        eid = new_id()
        with self.base.db.tx() as conn:
            self.validate_configuration(conn, entity)
            insert_entity(conn, "configuration", eid, self.base.datastore_id, entity, "UNPUBLISHED")
        return self.base.get_entity("configuration", eid)

    def _offerings_of(self, conn: sqlite3.Connection, configuration_id: str) -> list[Entity]:
        rows = rows_of_type(conn, "offering", self.base.datastore_id)
        return [
            row_entity(r)
            for r in rows
            if (json.loads(r["body"]).get("configuration") or {}).get("_id") == configuration_id
        ]

    def _update_configuration_status(self, conn: sqlite3.Connection, configuration_id: str) -> None:
        row = get_row(conn, configuration_id)
        if row is None:
            return
        published = any(o.get("status") == "PUBLISHED" for o in self._offerings_of(conn, configuration_id))
        wanted = "PUBLISHED" if published else "UNPUBLISHED"
        if row["status"] != wanted:
            set_status(conn, configuration_id, wanted)

    def create_offering(self, configuration_id: str, body: Mapping[str, Any]) -> Entity:
        """Publish a configuration on an endpoint of the matching type."""
        if not isinstance(body, Mapping):
            raise BadRequestError("the offering body must be a JSON object {endpoint, open}")
        ep_id = ref_id(body.get("endpoint"))
        endpoint = next(
            (e for e in catalog.endpoints(self.base.datastore_id, self.base.public_url) if e["_id"] == ep_id),
            None,
        )
        if endpoint is None:
            raise BadRequestError(
                f"field 'endpoint': endpoint {ep_id!r} does not exist in the datastore",
                hint="find endpoints with: entities list endpoint",
            )
        oid = new_id()
        with self.base.db.tx() as conn:
            conf = row_entity(self.base.row("configuration", configuration_id, conn))
            if conf.get("type") != endpoint["type"]:
                raise BadRequestError(
                    f"configuration {configuration_id} is {conf.get('type')} but endpoint "
                    f"{endpoint['technical_name']} serves {endpoint['type']}",
                    hint="publish it on an endpoint of the same type",
                )
            for other in self._offerings_of(conn, configuration_id):
                if (other.get("endpoint") or {}).get("_id") == ep_id:
                    raise ConflictError(
                        f"configuration {configuration_id} is already offered on endpoint "
                        f"{endpoint['technical_name']} (offering {other['_id']})"
                    )
            entity = {
                "layer_name": conf.get("layer_name"),
                "type": conf.get("type"),
                "open": bool(body.get("open", True)),
                "available": True,
                "configuration": {"_id": configuration_id},
                "endpoint": {
                    "_id": ep_id,
                    "name": endpoint["name"],
                    "technical_name": endpoint["technical_name"],
                },
                "creation": now_iso(),
            }
            if body.get("permissions"):
                entity["permissions"] = list(body["permissions"])
            insert_entity(conn, "offering", oid, self.base.datastore_id, entity, "PUBLISHING")
        self._publish(oid)
        return self.base.get_entity("offering", oid)

    def _publish(self, offering_id: str) -> None:
        """PUBLISHING/MODIFYING → PUBLISHED when every used stored data is GENERATED (or MODIFYING:
        being updated, its earlier data still there), else UNSTABLE."""
        with self.base.db.tx() as conn:
            row = self.base.row("offering", offering_id, conn)
            conf_id = json.loads(row["body"]).get("configuration", {}).get("_id")
            conf_row = get_row(conn, conf_id)
            reasons = [] if conf_row is not None else [f"configuration {conf_id} does not exist"]
            if conf_row is not None:
                for sd in used_stored_data(json.loads(conf_row["body"])):
                    r = get_row(conn, sd)
                    # MODIFYING: an update is running on data that was GENERATED; its tiles stay
                    # served while it runs (the offering sees the new ones once it ends).
                    if r is None or r["status"] not in ("GENERATED", "MODIFYING"):
                        state = "deleted" if r is None else f"{r['status']}, not GENERATED"
                        reasons.append(f"stored data {sd} is {state}")
            if reasons:  # the event (the offering's history) says why it is not published
                set_status(
                    conn, offering_id, "UNSTABLE", title="Publication impossible: " + "; ".join(reasons)
                )
            else:
                set_status(conn, offering_id, "PUBLISHED")
            self._update_configuration_status(conn, conf_id)

    def list_configuration_offerings(self, configuration_id: str) -> list[Entity]:
        """``GET configurations/{id}/offerings``."""
        self.base.row("configuration", configuration_id)
        return [
            self.base.present("offering", o) for o in self._offerings_of(self.base.db.conn, configuration_id)
        ]

    def synchronize_offering(self, offering_id: str) -> Entity:
        """``PUT offerings/{id}``: MODIFYING, then PUBLISHED (or UNSTABLE) again."""
        with self.base.db.tx() as conn:
            self.base.row("offering", offering_id, conn)
            set_status(conn, offering_id, "MODIFYING", title="Synchronisation")
        self._publish(offering_id)
        return self.base.get_entity("offering", offering_id)

    def create_static(
        self, local_path: Path, name: str, static_type: str, description: str | None = None
    ) -> Entity:
        """Store a static file with its metadata."""
        if static_type not in catalog.STATIC_TYPES:
            raise BadRequestError(
                f"static type {static_type!r} is unknown",
                hint=f"use one of: {', '.join(catalog.STATIC_TYPES)}",
            )
        if not name:
            raise BadRequestError("a static needs a name")
        local_path = Path(local_path)
        _check_static(static_type, local_path)
        sid = new_id()
        folder = layout.static_dir(self.base.home, sid)
        folder.mkdir(parents=True, exist_ok=True)
        target = confine(folder, local_path.name, what="static file name")
        try:
            size = files.receive_file(local_path, target)
        except BaseException:
            remove_tree(folder)
            raise
        entity = {
            "name": name,
            "type": static_type,
            "description": description or "",
            "file_name": local_path.name,
            "size": size,
            "tags": {},
            "type_infos": {},
            "creation": now_iso(),
        }
        with self.base.db.tx() as conn:
            insert_entity(conn, "static", sid, self.base.datastore_id, entity, None)
        return self.base.get_entity("static", sid)

    def replace_static_file(self, static_id: str, local_path: Path) -> Entity:
        """``PUT statics/{id}``: replace a static's file (its name may change); metadata are kept."""
        local_path = Path(local_path)
        _check_static(str(row_entity(self.base.row("static", static_id)).get("type")), local_path)
        folder = layout.static_dir(self.base.home, static_id)
        folder.mkdir(parents=True, exist_ok=True)
        target = confine(folder, local_path.name, what="static file name")
        size = files.receive_file(local_path, target)
        try:
            with self.base.db.tx() as conn:
                entity = row_entity(self.base.row("static", static_id, conn))
                old_name = entity.get("file_name")
                entity.update(file_name=local_path.name, size=size)
                update_body(conn, static_id, entity)
                add_event(conn, static_id, "static", "Modification")
        except NotFoundError:  # deleted while the file was copied
            remove_tree(folder)
            raise
        if isinstance(old_name, str) and old_name and old_name != local_path.name:
            confine(folder, old_name, what="static file name").unlink(missing_ok=True)
        return self.base.get_entity("static", static_id)

    def create_permissions(self, body: Mapping[str, Any]) -> list[Entity]:
        """``POST permissions``: one permission per beneficiary (a list, as the API answers)."""
        if not isinstance(body, Mapping):
            raise BadRequestError("the permission body must be a JSON object")
        offerings = []
        for i, ref in enumerate(body.get("offerings") or []):
            oid = ref_id(ref)
            r = get_row(self.base.db.conn, oid) if oid else None
            if r is None or r["type"] != "offering":
                raise BadRequestError(f"offerings[{i}]: offering {ref!r} does not exist")
            o = row_entity(r)
            offerings.append({"_id": o["_id"], "layer_name": o.get("layer_name"), "type": o.get("type")})
        beneficiaries = list(body.get("beneficiaries") or []) or [self.base.user_me()["_id"]]
        base = {
            k: v for k, v in body.items() if k not in SERVER_OWNED and k not in ("offerings", "beneficiaries")
        }
        base.setdefault("type", "ACCOUNT")
        created = []
        for beneficiary in beneficiaries:
            entity = dict(
                base, offerings=offerings, beneficiary={"_id": ref_id(beneficiary) or str(beneficiary)}
            )
            created.append(self.base.insert("permission", entity, None))
        return created

    def create_key(self, body: Mapping[str, Any]) -> Entity:
        if not isinstance(body.get("name"), str) or not body.get("name"):
            raise BadRequestError("key field 'name' is missing or empty")
        entity = {k: v for k, v in body.items() if k not in SERVER_OWNED}
        entity.setdefault("type", "HASH")
        entity["accesses"] = []
        return self.base.insert("key", entity, None)

    def create_access(self, key_id: str, body: Mapping[str, Any]) -> None:
        """``POST /users/me/keys/{key}/accesses``: grant a key access to offerings of a permission."""
        if not isinstance(body, Mapping):
            raise BadRequestError("the access body must be a JSON object {permission, offerings}")
        perm_id = ref_id(body.get("permission"))
        with self.base.db.tx() as conn:
            key = row_entity(self.base.row("key", key_id, conn))
            perm = get_row(conn, perm_id) if perm_id else None
            if perm is None or perm["type"] != "permission":
                raise BadRequestError(f"field 'permission': permission {perm_id!r} does not exist")
            allowed = {o["_id"] for o in json.loads(perm["body"]).get("offerings", [])}
            offerings = [ref_id(o) for o in body.get("offerings") or []]
            for i, oid in enumerate(offerings):
                if oid not in allowed:
                    raise BadRequestError(
                        f"offerings[{i}]: offering {oid!r} is not granted by permission {perm_id}"
                    )
            key.setdefault("accesses", []).append(
                {"_id": new_id(), "permission": perm_id, "offerings": offerings}
            )
            update_body(conn, key_id, key)

    def delete_access(self, key_id: str, access_id: str) -> None:
        """``DELETE /users/me/keys/{key}/accesses/{access}``: withdraw one access of a key."""
        with self.base.db.tx() as conn:
            key = row_entity(self.base.row("key", key_id, conn))
            accesses = list(key.get("accesses") or [])
            kept = [a for a in accesses if not (isinstance(a, Mapping) and a.get("_id") == access_id)]
            if len(kept) == len(accesses):
                raise NotFoundError(f"access {access_id} does not exist on key {key_id}")
            key["accesses"] = kept
            update_body(conn, key_id, key)

    def delete_configuration(self, entity_type: str, entity_id: str) -> None:
        with self.base.db.tx() as conn:
            self.base.row("configuration", entity_id, conn)
            offerings = [o["_id"] for o in self._offerings_of(conn, entity_id)]
            if offerings:
                raise ConflictError(
                    f"configuration {entity_id} still has offerings {', '.join(offerings)}",
                    hint="delete its offerings first (twice for a published one), "
                    'or use a delete-entity action with "cascade": true',
                )
            drop(conn, "configuration", entity_id)

    def delete_offering(self, entity_type: str, entity_id: str) -> None:
        with self.base.db.tx() as conn:
            row = self.base.row("offering", entity_id, conn)
            conf_id = json.loads(row["body"]).get("configuration", {}).get("_id")
            if row["status"] == "PUBLISHED":
                set_status(conn, entity_id, "UNPUBLISHING")
                set_status(conn, entity_id, "UNPUBLISHED")
            else:
                drop(conn, "offering", entity_id)
            if conf_id:
                self._update_configuration_status(conn, conf_id)

    def delete_static(self, entity_type: str, entity_id: str) -> None:
        with self.base.db.tx() as conn:
            self.base.row("static", entity_id, conn)
            drop(conn, "static", entity_id)
        remove_tree(layout.static_dir(self.base.home, entity_id))

    def delete_plain(self, entity_type: str, entity_id: str) -> None:
        with self.base.db.tx() as conn:
            self.base.row(entity_type, entity_id, conn)
            drop(conn, entity_type, entity_id)


def _check_static(static_type: str, local_path: Path) -> None:
    """Refuse a ROK4 style the services could not read, naming the field at fault."""
    if static_type != "ROK4-STYLE":
        return
    from gpf_flow.raster_style import StyleError, parse_style

    try:
        parse_style(local_path.read_bytes(), local_path.name)
    except StyleError as exc:
        raise BadRequestError(f"ROK4 style {exc}", hint="see https://github.com/rok4/styles") from None


def _check_styles(conn: sqlite3.Connection, styles: object) -> None:
    """A raster WMS configuration's ``styles`` are ids of ROK4-STYLE statics."""
    if styles is None:
        return
    if not isinstance(styles, list):
        raise BadRequestError("configuration field 'type_infos.styles' must be a list of static ids")
    for i, sid in enumerate(styles):
        r = get_row(conn, sid) if isinstance(sid, str) and sid else None
        if r is None or r["type"] != "static":
            raise BadRequestError(f"type_infos.styles[{i}]: static {sid!r} does not exist")
        kind = json.loads(r["body"]).get("type")
        if kind != "ROK4-STYLE":
            raise BadRequestError(f"type_infos.styles[{i}]: static {sid} is a {kind}, not a ROK4-STYLE")
