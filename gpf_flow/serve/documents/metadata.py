"""Metadata of the local store: ISO 19139 documents (``gmd:MD_Metadata``), checked when received.

The check reads the XML (lxml, no network, no entity expansion), requires a ``gmd:MD_Metadata``
root with a ``gmd:fileIdentifier``, and takes the level (``dataset``/``series``) from
``gmd:hierarchyLevel``. A file identifier is unique in a datastore. A metadata published on an
endpoint must be unpublished before it is deleted (409 otherwise).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from gpf_flow.errors import BadRequestError, ConflictError, NotFoundError
from gpf_flow.serve.documents.documents import DocumentsDb, new_id, now_iso
from gpf_flow.store.base import Entity, Page

GMD = "http://www.isotc211.org/2005/gmd"
GCO = "http://www.isotc211.org/2005/gco"
TYPES = ("INSPIRE", "ISOAP")
LEVELS = {"dataset": "DATASET", "series": "SERIES"}
FILE_NAME = "metadata.xml"


def read_iso19139(path: Path) -> tuple[str, str]:
    """``(file_identifier, level)`` of an ISO 19139 file; ``BadRequestError`` saying what is wrong."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.parse(str(path), parser).getroot()
    except etree.XMLSyntaxError as exc:
        raise BadRequestError(f"the metadata file is not well-formed XML: {exc}") from exc
    if root.tag != f"{{{GMD}}}MD_Metadata":
        raise BadRequestError(
            f"the metadata file's root is {root.tag}, not gmd:MD_Metadata",
            hint="send an ISO 19139 document (namespace http://www.isotc211.org/2005/gmd)",
        )
    ident = root.findtext(f"{{{GMD}}}fileIdentifier/{{{GCO}}}CharacterString")
    if not ident or not ident.strip():
        raise BadRequestError(
            "the metadata has no gmd:fileIdentifier/gco:CharacterString",
            hint="every ISO 19139 record needs a file identifier",
        )
    code = root.find(f"{{{GMD}}}hierarchyLevel/{{{GMD}}}MD_ScopeCode")
    value = (code.get("codeListValue") or code.text or "") if code is not None else "dataset"
    level = LEVELS.get(value.strip().lower())
    if level is None:
        raise BadRequestError(
            f"metadata hierarchy level {value!r} is not supported", hint="use 'dataset' or 'series'"
        )
    return ident.strip(), level


class MetadataDocs:
    """The metadata of one datastore in one home."""

    def __init__(self, home: Path, datastore_id: str) -> None:
        self.home = home
        self.datastore_id = datastore_id
        self.db = DocumentsDb(home)

    def _dir(self, metadata_id: str) -> Path:
        return self.home / "metadata" / metadata_id

    def _store_file(self, metadata_id: str, file: Path) -> None:
        folder = self._dir(metadata_id)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copyfile(file, folder / FILE_NAME)

    def _check_unique(self, identifier: str, own_id: str | None) -> None:
        for other in self.db.all("metadata", self.datastore_id):
            if other["file_identifier"] == identifier and other["_id"] != own_id:
                raise ConflictError(
                    f"a metadata with file identifier {identifier!r} exists already ({other['_id']})",
                    hint="replace its file (PUT metadata/{id}) or delete it first",
                )

    def create(self, file: Path, *, md_type: str = "INSPIRE", open_data: bool = False) -> Entity:
        """Check and store an ISO 19139 file as a new metadata."""
        if md_type not in TYPES:
            raise BadRequestError(f"metadata type {md_type!r} is unknown", hint=f"use one of {TYPES}")
        identifier, level = read_iso19139(file)
        self._check_unique(identifier, None)
        metadata_id = new_id()
        self._store_file(metadata_id, file)
        now = now_iso()
        entity: Entity = {
            "_id": metadata_id,
            "creation": now,
            "update": now,
            "type": md_type,
            "open_data": bool(open_data),
            "level": level,
            "file_identifier": identifier,
            "tags": {},
            "endpoints": [],
        }
        self.db.put("metadata", self.datastore_id, entity)
        return entity

    def get(self, metadata_id: str) -> Entity:
        """One metadata (``NotFoundError`` if unknown)."""
        found = self.db.get("metadata", self.datastore_id, metadata_id)
        if found is None:
            raise NotFoundError(f"metadata {metadata_id} not found", hint="GET metadata lists them")
        return found

    def listing(
        self, infos: Mapping[str, str], tags: Mapping[str, str], *, page: int = 1, limit: int = 10
    ) -> Page:
        """Metadata filtered by ``type``, ``level``, ``file_identifier``, ``open_data`` and tags."""
        kept = []
        for md in self.db.all("metadata", self.datastore_id):
            if any(str(md.get(k)).lower() != str(v).lower() for k, v in infos.items() if k in md):
                continue
            if any(md["tags"].get(k) != v for k, v in tags.items()):
                continue
            kept.append(md)
        start = (page - 1) * limit
        return Page(kept[start : start + limit], len(kept), page, limit)

    def edit(self, metadata_id: str, body: Mapping[str, Any]) -> Entity:
        """``PATCH``: type, open_data, extra."""
        md = self.get(metadata_id)
        unknown = sorted(set(body) - {"type", "open_data", "extra"})
        if unknown:
            raise BadRequestError(
                f"metadata field(s) {unknown} cannot be edited", hint="editable: type, open_data, extra"
            )
        if "type" in body:
            if body["type"] not in TYPES:
                raise BadRequestError(
                    f"metadata type {body['type']!r} is unknown", hint=f"use one of {TYPES}"
                )
            md["type"] = body["type"]
        if "open_data" in body:
            if not isinstance(body["open_data"], bool):
                raise BadRequestError("metadata 'open_data' must be true or false")
            md["open_data"] = body["open_data"]
        if "extra" in body:
            if not isinstance(body["extra"], Mapping):
                raise BadRequestError("metadata 'extra' must be a JSON object")
            md["extra"] = dict(body["extra"])
        md["update"] = now_iso()
        self.db.put("metadata", self.datastore_id, md)
        return md

    def replace_file(self, metadata_id: str, file: Path) -> Entity:
        """``PUT``: a new ISO 19139 file (checked; its identifier stays unique)."""
        md = self.get(metadata_id)
        identifier, level = read_iso19139(file)
        self._check_unique(identifier, metadata_id)
        self._store_file(metadata_id, file)
        md.update(file_identifier=identifier, level=level, update=now_iso())
        self.db.put("metadata", self.datastore_id, md)
        return md

    def delete(self, metadata_id: str) -> None:
        """Remove a metadata; 409 while it is published on an endpoint."""
        md = self.get(metadata_id)
        if md.get("endpoints"):
            names = ", ".join(str(e.get("name") or e.get("_id")) for e in md["endpoints"])
            raise ConflictError(
                f"metadata {md['file_identifier']!r} is published on {names}",
                hint="unpublish it first (POST metadata/unpublication)",
            )
        self.db.delete("metadata", self.datastore_id, metadata_id)
        shutil.rmtree(self._dir(metadata_id), ignore_errors=True)

    def file(self, metadata_id: str) -> Path:
        """The metadata's XML file on disk."""
        self.get(metadata_id)
        return self._dir(metadata_id) / FILE_NAME

    def add_tags(self, metadata_id: str, tags: Mapping[str, str]) -> Entity:
        """Merge tags."""
        md = self.get(metadata_id)
        md["tags"] = {**md["tags"], **{k: str(v) for k, v in tags.items()}}
        self.db.put("metadata", self.datastore_id, md)
        return md

    def remove_tags(self, metadata_id: str, keys: Sequence[str]) -> None:
        """Remove tags by key."""
        md = self.get(metadata_id)
        md["tags"] = {k: v for k, v in md["tags"].items() if k not in keys}
        self.db.put("metadata", self.datastore_id, md)

    def set_published(self, identifiers: Sequence[str], endpoint: Entity, published: bool) -> None:
        """Publish (or unpublish) metadata by file identifier on one endpoint (404 for an unknown one)."""
        by_ident = {md["file_identifier"]: md for md in self.db.all("metadata", self.datastore_id)}
        missing = [i for i in identifiers if i not in by_ident]
        if missing:
            raise NotFoundError(
                f"no metadata with file identifier {missing[0]!r}", hint="GET metadata lists them"
            )
        ref = {k: endpoint[k] for k in ("_id", "name", "technical_name", "type") if k in endpoint}
        for ident in identifiers:
            md = by_ident[ident]
            kept = [e for e in md["endpoints"] if e.get("_id") != endpoint["_id"]]
            md["endpoints"] = [*kept, ref] if published else kept
            md["update"] = now_iso()
            self.db.put("metadata", self.datastore_id, md)

    def public_file(self, identifier: str) -> Path | None:
        """The XML of a metadata published on some endpoint, by file identifier, or None."""
        for md in self.db.all("metadata", self.datastore_id):
            if md["file_identifier"] == identifier and md.get("endpoints"):
                return self._dir(md["_id"]) / FILE_NAME
        return None
