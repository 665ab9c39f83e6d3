"""Annexes of the local store: files a datastore publishes at public URLs (``/annexes/{ds}/{path}``).

An annex is one file with one or more public paths, labels, and a ``published`` flag; only
published annexes answer at their public URLs. Records live in the home's ``documents.sqlite``
(see :mod:`gpf_flow.serve.documents.documents`), files under ``annexes/{id}/``.
"""

from __future__ import annotations

import mimetypes
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gpf_flow.errors import BadRequestError, ConflictError, NotFoundError
from gpf_flow.serve.documents.documents import DocumentsDb, new_id, now_iso
from gpf_flow.store.base import Entity, Page

EDITABLE = ("labels", "published", "paths", "extra")


def clean_path(raw: str) -> str:
    """A public annex path: relative, no ``..``, slashes only (``BadRequestError`` otherwise)."""
    parts = [p for p in str(raw).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise BadRequestError(
            f"annex path {raw!r} is not a relative path", hint="give paths like 'docs/readme.pdf'"
        )
    return "/".join(parts)


def _unique(values: Sequence[str], what: str) -> list[str]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise BadRequestError(f"annex {what} must be a list of strings")
    out = list(dict.fromkeys(str(v) for v in values))
    return out


class Annexes:
    """The annexes of one datastore in one home."""

    def __init__(self, home: Path, datastore_id: str) -> None:
        self.home = home
        self.datastore_id = datastore_id
        self.db = DocumentsDb(home)

    def _dir(self, annex_id: str) -> Path:
        return self.home / "annexes" / annex_id

    def _check_paths(self, paths: Sequence[str], own_id: str | None) -> list[str]:
        cleaned = [clean_path(p) for p in _unique(paths, "paths")]
        if not cleaned:
            raise BadRequestError("an annex needs at least one path", hint="pass paths=docs/file.pdf")
        for other in self.db.all("annex", self.datastore_id):
            if other["_id"] != own_id and set(other["paths"]) & set(cleaned):
                taken = sorted(set(other["paths"]) & set(cleaned))
                raise ConflictError(
                    f"annex path {taken[0]!r} is already used by annex {other['_id']}",
                    hint="choose another path, or edit or delete that annex",
                )
        return cleaned

    def create(
        self, file: Path, paths: Sequence[str], *, labels: Sequence[str] = (), published: bool = False
    ) -> Entity:
        """Store a file as a new annex."""
        annex_id = new_id()
        cleaned = self._check_paths(paths, None)
        folder = self._dir(annex_id)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / file.name
        shutil.copyfile(file, target)
        now = now_iso()
        entity: Entity = {
            "_id": annex_id,
            "creation": now,
            "update": now,
            "paths": cleaned,
            "size": target.stat().st_size,
            "mime_type": mimetypes.guess_type(file.name)[0] or "application/octet-stream",
            "published": bool(published),
            "labels": _unique(labels, "labels"),
            "file_name": file.name,
        }
        self.db.put("annex", self.datastore_id, entity)
        return entity

    def get(self, annex_id: str) -> Entity:
        """One annex (``NotFoundError`` if unknown)."""
        found = self.db.get("annex", self.datastore_id, annex_id)
        if found is None:
            raise NotFoundError(f"annex {annex_id} not found", hint="GET annexes lists them")
        return found

    def listing(
        self, infos: Mapping[str, str], labels: Sequence[str], *, page: int = 1, limit: int = 10
    ) -> Page:
        """Annexes filtered by ``path``, ``mime_type``, ``published`` and labels (all must match)."""
        kept = []
        for annex in self.db.all("annex", self.datastore_id):
            if "path" in infos and infos["path"].strip("/") not in annex["paths"]:
                continue
            if "mime_type" in infos and annex["mime_type"] != infos["mime_type"]:
                continue
            if "published" in infos and str(annex["published"]).lower() != infos["published"].lower():
                continue
            if not set(labels) <= set(annex["labels"]):
                continue
            kept.append(annex)
        start = (page - 1) * limit
        return Page(kept[start : start + limit], len(kept), page, limit)

    def edit(self, annex_id: str, body: Mapping[str, Any]) -> Entity:
        """``PATCH``: labels, published, paths, extra."""
        annex = self.get(annex_id)
        unknown = sorted(set(body) - set(EDITABLE))
        if unknown:
            raise BadRequestError(f"annex field(s) {unknown} cannot be edited", hint=f"editable: {EDITABLE}")
        if "paths" in body:
            annex["paths"] = self._check_paths(body["paths"], annex_id)
        if "labels" in body:
            annex["labels"] = _unique(body["labels"], "labels")
        if "published" in body:
            if not isinstance(body["published"], bool):
                raise BadRequestError("annex 'published' must be true or false")
            annex["published"] = body["published"]
        if "extra" in body:
            if not isinstance(body["extra"], Mapping):
                raise BadRequestError("annex 'extra' must be a JSON object")
            annex["extra"] = dict(body["extra"])
        annex["update"] = now_iso()
        self.db.put("annex", self.datastore_id, annex)
        return annex

    def replace_file(self, annex_id: str, file: Path) -> Entity:
        """``PUT``: a new file for the annex (same paths)."""
        annex = self.get(annex_id)
        folder = self._dir(annex_id)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copyfile(file, folder / file.name)
        annex.update(
            file_name=file.name,
            size=(folder / file.name).stat().st_size,
            mime_type=mimetypes.guess_type(file.name)[0] or "application/octet-stream",
            update=now_iso(),
        )
        self.db.put("annex", self.datastore_id, annex)
        return annex

    def delete(self, annex_id: str) -> None:
        """Remove the annex and its file: its public URLs answer 404 at once."""
        self.get(annex_id)
        self.db.delete("annex", self.datastore_id, annex_id)
        shutil.rmtree(self._dir(annex_id), ignore_errors=True)

    def file(self, annex_id: str) -> Path:
        """The annex's file on disk."""
        annex = self.get(annex_id)
        return self._dir(annex_id) / str(annex["file_name"])

    def set_published_by_labels(self, labels: Sequence[str], published: bool) -> int:
        """Publish (or unpublish) every annex carrying all ``labels``; returns how many changed."""
        if not labels:
            raise BadRequestError("give at least one label", hint="?labels=LABEL")
        changed = 0
        for annex in self.db.all("annex", self.datastore_id):
            if set(labels) <= set(annex["labels"]) and annex["published"] != published:
                annex["published"] = published
                annex["update"] = now_iso()
                self.db.put("annex", self.datastore_id, annex)
                changed += 1
        return changed

    def public_file(self, path: str) -> Path | None:
        """The file published at ``path``, or None (unknown path or annex not published)."""
        wanted = path.strip("/")
        for annex in self.db.all("annex", self.datastore_id):
            if annex["published"] and wanted in annex["paths"]:
                return self._dir(annex["_id"]) / str(annex["file_name"])
        return None
