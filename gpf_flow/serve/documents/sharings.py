"""Sharings of the local store: a stored data given to other datastores (``stored_data/{id}/sharings``).

The local store holds one datastore, so the datastores a stored data is shared with live
elsewhere: any datastore id but the store's own is accepted and recorded. Only a GENERATED stored
data can be shared; deleting a stored data ends its sharings (they are dropped with it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from gpf_flow.errors import BadRequestError, ConflictError, StoreError
from gpf_flow.serve.documents.documents import DocumentsDb, now_iso
from gpf_flow.store.base import Entity, EntityType, Store


def _datastore_id(raw: object) -> str:
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise BadRequestError(
            f"{raw!r} is not a datastore id", hint="give the ids (uuid) of the datastores to share with"
        ) from None


class Sharings:
    """The sharings of one datastore's stored data."""

    def __init__(self, home: Path, store: Store) -> None:
        self.store = store
        self.db = DocumentsDb(home)

    def _record(self, stored_data_id: str) -> Entity:
        found = self.db.get("sharing", self.store.datastore_id, stored_data_id)
        return found or {"_id": stored_data_id, "datastores": []}

    def _stored_data(self, stored_data_id: str) -> Entity:
        return self.store.get_entity(EntityType.STORED_DATA, stored_data_id)  # NotFoundError (404)

    def listing(self, stored_data_id: str) -> list[Entity]:
        """The datastores the stored data is shared with (``DatastoreSharingResponseDto``)."""
        try:
            self._stored_data(stored_data_id)
        except StoreError:
            self.db.delete("sharing", self.store.datastore_id, stored_data_id)  # gone with its data
            raise
        return list(self._record(stored_data_id)["datastores"])

    def add(self, stored_data_id: str, datastore_ids: Sequence[object]) -> list[Entity]:
        """Share a GENERATED stored data with datastores; returns the sharings."""
        stored = self._stored_data(stored_data_id)
        if stored.get("status") != "GENERATED":
            raise ConflictError(
                f"stored data {stored.get('name')!r} is {stored.get('status')}: "
                "only a GENERATED stored data can be shared",
                hint="wait for its processing to succeed",
            )
        ids = [_datastore_id(d) for d in datastore_ids]
        if self.store.datastore_id in ids:
            raise BadRequestError("a stored data cannot be shared with its own datastore")
        record = self._record(stored_data_id)
        known = {d["_id"] for d in record["datastores"]}
        now = now_iso()
        for ds in ids:
            if ds not in known:
                record["datastores"].append(
                    {
                        "_id": ds,
                        "name": ds,
                        "technical_name": ds,
                        "active": True,
                        "creation": now,
                        "update": now,
                    }
                )
                known.add(ds)
        self.db.put("sharing", self.store.datastore_id, record)
        return list(record["datastores"])

    def remove(self, stored_data_id: str, datastore_ids: Sequence[object]) -> None:
        """Stop sharing with these datastores."""
        self._stored_data(stored_data_id)
        ids = {_datastore_id(d) for d in datastore_ids}
        record = self._record(stored_data_id)
        record["datastores"] = [d for d in record["datastores"] if d["_id"] not in ids]
        self.db.put("sharing", self.store.datastore_id, record)
