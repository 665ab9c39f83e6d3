"""``edit-entity``: partial (PATCH) or, for configurations, full (PUT) edit, then tags and comments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpf_flow.actions.base import ActionContext, apply_tags_and_comments
from gpf_flow.store import ops
from gpf_flow.store.base import TAGGABLE_TYPES, Entity, as_entity_type

# Fields the server owns: never sent back in a full replacement.
SERVER_FIELDS = ("_id", "status", "tags", "last_event", "creation", "update", "events", "extra", "size")


def merge_configuration(current: Mapping[str, Any], edit: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration's JSON merged with an edit; ``type_infos.used_data`` merged item by item."""
    merged = {k: v for k, v in current.items() if k not in SERVER_FIELDS}
    for key, value in edit.items():
        if key == "type_infos" and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            infos = dict(merged[key])
            for sub, sub_value in value.items():
                if sub == "used_data" and isinstance(sub_value, list) and isinstance(infos.get(sub), list):
                    items = list(infos[sub])
                    for i, item in enumerate(sub_value):
                        if i < len(items) and isinstance(item, Mapping) and isinstance(items[i], Mapping):
                            items[i] = {**items[i], **item}
                        elif i < len(items):
                            items[i] = item
                        else:
                            items.append(item)
                    infos[sub] = items
                else:
                    infos[sub] = sub_value
            merged[key] = infos
        else:
            merged[key] = value
    return merged


def run(ctx: ActionContext) -> None:
    """Run the action."""
    entity_type = as_entity_type(ctx.require("entity_type"))
    entity_id = str(ctx.require("entity_id"))
    entity: Entity = ctx.store.get_entity(entity_type, entity_id)
    body = ctx.data.get("body_parameters")
    if body:
        if entity_type == "configuration":
            entity = ctx.store.edit_entity(
                entity_type, entity_id, merge_configuration(entity, body), replace=True
            )
        else:
            entity = ctx.store.edit_entity(entity_type, entity_id, body)
    ctx.created(entity_type, entity, reused=True)
    if entity_type not in TAGGABLE_TYPES:
        return
    remove_tags = [str(t) for t in ctx.data.get("remove_tags") or []]
    if remove_tags:
        ops.remove_tags(ctx.store, entity_type, entity_id, remove_tags)
    remove_comments = {str(c) for c in ctx.data.get("remove_comments") or []}
    if remove_comments:
        for comment in ops.list_comments(ctx.store, entity_type, entity_id):
            if comment and comment.get("text") in remove_comments:
                ops.remove_comment(ctx.store, entity_type, entity_id, comment["_id"])
    apply_tags_and_comments(ctx, entity_type, entity_id)
