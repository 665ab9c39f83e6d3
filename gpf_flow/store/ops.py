"""Typed operations over the seam's few primitives, named after the API's routes.

The :class:`~gpf_flow.store.base.Store` protocol stays small (entities, actions, logs and one
``related`` verb for sub-resources); what callers use is spelled out here as plain functions,
so a third backend implements the core and gets all of these for free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gpf_flow.store.base import (
    Action,
    Entity,
    EntityType,
    FilePush,
    ProgressCallback,
    Relation,
    Store,
    UploadChecks,
)


# -- tags and comments ------------------------------------------------------------------------
def add_tags(store: Store, entity_type: EntityType, entity_id: str, tags: Mapping[str, str]) -> None:
    """``POST …/tags``: merge tags into the entity's tags."""
    store.related(entity_type, entity_id, Relation.TAGS, add=dict(tags))


def remove_tags(store: Store, entity_type: EntityType, entity_id: str, keys: Sequence[str]) -> None:
    """``DELETE …/tags?tags[]=…``: remove tags by key (absent keys are ignored)."""
    store.related(entity_type, entity_id, Relation.TAGS, remove=list(keys))


def list_comments(store: Store, entity_type: EntityType, entity_id: str) -> list[Entity]:
    """``GET …/comments``: ``{"_id", "text", ...}``, oldest first."""
    return list(store.related(entity_type, entity_id, Relation.COMMENTS) or [])


def add_comment(store: Store, entity_type: EntityType, entity_id: str, text: str) -> Entity:
    """``POST …/comments``: add one comment; returns it."""
    return dict(store.related(entity_type, entity_id, Relation.COMMENTS, add=text))


def remove_comment(store: Store, entity_type: EntityType, entity_id: str, comment_id: str) -> None:
    """``DELETE …/comments/{comment}``."""
    store.related(entity_type, entity_id, Relation.COMMENTS, remove=comment_id)


# -- upload files and checks ------------------------------------------------------------------
def upload_push_file(
    store: Store,
    upload_id: str,
    local_path: Path,
    remote_path: str,
    progress: ProgressCallback | None = None,
) -> None:
    """``POST uploads/{id}/data``: the file appears in the tree under exactly ``remote_path``."""
    push = FilePush(Path(local_path), remote_path, progress=progress)
    store.related(EntityType.UPLOAD, upload_id, Relation.FILES, add=push)


def upload_push_md5(
    store: Store, upload_id: str, local_path: Path, progress: ProgressCallback | None = None
) -> None:
    """``POST uploads/{id}/md5``: the md5 file lands at the upload's root under its base name."""
    push = FilePush(Path(local_path), Path(local_path).name, md5=True, progress=progress)
    store.related(EntityType.UPLOAD, upload_id, Relation.FILES, add=push)


def upload_delete_file(store: Store, upload_id: str, remote_path: str) -> None:
    """Remove a pushed file (data or md5)."""
    store.related(EntityType.UPLOAD, upload_id, Relation.FILES, remove=remote_path)


def upload_tree(store: Store, upload_id: str) -> list[Entity]:
    """``GET uploads/{id}/tree``: ``[{"type": "FILE"|"DIRECTORY", "name", "size", "children"?}]``."""
    return list(store.related(EntityType.UPLOAD, upload_id, Relation.FILES) or [])


def upload_checks(store: Store, upload_id: str) -> UploadChecks:
    """``GET uploads/{id}/checks``: the upload's check executions grouped by state."""
    found = store.related(EntityType.UPLOAD, upload_id, Relation.CHECKS)
    return found if isinstance(found, UploadChecks) else UploadChecks.from_dict(found or {})


# -- publication ------------------------------------------------------------------------------
def create_offering(store: Store, configuration_id: str, body: Mapping[str, Any]) -> Entity:
    """``POST configurations/{id}/offerings``: publish a configuration; the offering has ``urls``."""
    return dict(store.related(EntityType.CONFIGURATION, configuration_id, Relation.OFFERINGS, add=dict(body)))


def list_configuration_offerings(store: Store, configuration_id: str) -> list[Entity]:
    """``GET configurations/{id}/offerings``."""
    return list(store.related(EntityType.CONFIGURATION, configuration_id, Relation.OFFERINGS) or [])


def synchronize_offering(store: Store, offering_id: str) -> Entity:
    """``PUT offerings/{id}``: re-synchronise an offering with its data; returns the offering."""
    store.act(EntityType.OFFERING, offering_id, Action.SYNCHRONIZE)
    return store.get_entity(EntityType.OFFERING, offering_id)


def create_static(
    store: Store, local_path: Path, name: str, static_type: str, description: str | None = None
) -> Entity:
    """``POST statics``: send a static file (an SLD style...) with its metadata."""
    body = {"name": name, "type": static_type, "description": description}
    return store.create_entity(EntityType.STATIC, body, file=Path(local_path))


def create_permissions(store: Store, body: Mapping[str, Any]) -> list[Entity]:
    """``POST permissions``: one permission per beneficiary (the API answers with a list)."""
    created = store.related(EntityType.DATASTORE, store.datastore_id, Relation.PERMISSIONS, add=dict(body))
    return list(created or [])


def create_access(store: Store, key_id: str, body: Mapping[str, Any]) -> None:
    """``POST /users/me/keys/{key}/accesses``."""
    store.related(EntityType.KEY, key_id, Relation.ACCESSES, add=dict(body))
