"""``configuration``: create a configuration, unique on name + layer_name (docs/entrepot-api.md §5.3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpf_flow.actions.base import ActionContext, apply_tags_and_comments, delete_offering, exact_one
from gpf_flow.store import ops
from gpf_flow.store.base import Entity, EntityType


def run(ctx: ActionContext) -> None:
    """Run the action."""
    create_configuration(ctx, dict(ctx.require("body_parameters")))


def create_configuration(ctx: ActionContext, body: Mapping[str, Any]) -> Entity:
    """Create (or, per behaviour, reuse / replace) a configuration; tags and comments applied."""
    name = ctx.require("name", body)
    keys = {"name": str(name)}
    if body.get("layer_name"):
        keys["layer_name"] = str(body["layer_name"])
    existing = exact_one(ctx, EntityType.CONFIGURATION, keys)
    configuration: Entity | None = None
    if existing is not None:
        label = f"configuration {name!r} (layer {keys.get('layer_name')!r}, {existing['_id']})"
        if ctx.reuse_or_replace(label, "configurations"):
            for offering in ops.list_configuration_offerings(ctx.store, existing["_id"]):
                delete_offering(ctx, ctx.store.get_entity(EntityType.OFFERING, offering["_id"]))
            ctx.store.delete_entity(EntityType.CONFIGURATION, existing["_id"])
            ctx.deleted("configuration", existing)
        else:
            configuration = existing
            ctx.created("configuration", configuration, reused=True)
    fresh = configuration is None
    if configuration is None:
        configuration = ctx.store.create_entity(EntityType.CONFIGURATION, body)
        ctx.created("configuration", configuration)
    apply_tags_and_comments(ctx, EntityType.CONFIGURATION, configuration["_id"], fresh=fresh)
    return configuration
