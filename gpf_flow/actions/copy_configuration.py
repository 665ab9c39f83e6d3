"""``copy-configuration``: a new configuration from an existing one with some fields changed."""

from __future__ import annotations

from gpf_flow.actions.base import ActionContext
from gpf_flow.actions.configuration import create_configuration
from gpf_flow.actions.edit_entity import merge_configuration
from gpf_flow.store.base import EntityType


def run(ctx: ActionContext) -> None:
    """Run the action."""
    source_id = str(ctx.require("configuration", ctx.require("url_parameters")))
    source = ctx.store.get_entity(EntityType.CONFIGURATION, source_id)
    body = merge_configuration(source, dict(ctx.data.get("body_parameters") or {}))
    create_configuration(ctx, body)
