"""``used_data-configuration``: append or remove ``type_infos.used_data`` items of a configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpf_flow.actions.base import ActionContext
from gpf_flow.actions.edit_entity import SERVER_FIELDS
from gpf_flow.store.base import EntityType


def _matches(item: Any, pattern: Mapping[str, Any]) -> bool:
    return isinstance(item, Mapping) and all(item.get(k) == v for k, v in pattern.items())


def run(ctx: ActionContext) -> None:
    """Run the action."""
    entity_id = str(ctx.require("entity_id"))
    current = ctx.store.get_entity(EntityType.CONFIGURATION, entity_id)
    body = {k: v for k, v in current.items() if k not in SERVER_FIELDS}
    type_infos = dict(body.get("type_infos") or {})
    used = list(type_infos.get("used_data") or [])
    for pattern in ctx.data.get("delete_used_data") or []:
        used = [item for item in used if not _matches(item, pattern)]
    used.extend(ctx.data.get("append_used_data") or [])
    type_infos["used_data"] = used
    if ctx.data.get("reset_bbox"):
        type_infos.pop("bbox", None)
    body["type_infos"] = type_infos
    entity = ctx.store.edit_entity(EntityType.CONFIGURATION, entity_id, body, replace=True)
    ctx.created("configuration", entity, reused=True)
