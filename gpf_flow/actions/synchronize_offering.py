"""``synchronize-offering``: re-synchronise offerings with their data and wait until PUBLISHED."""

from __future__ import annotations

from gpf_flow.actions.base import ActionContext
from gpf_flow.actions.offering import publish_wait
from gpf_flow.actions.selection import select_entities
from gpf_flow.store import ops
from gpf_flow.store.base import EntityType


def run(ctx: ActionContext) -> None:
    """Run the action."""
    offerings = select_entities(
        ctx,
        EntityType.OFFERING,
        not_found_ok=bool(ctx.data.get("not_found_ok", False)),
        if_multi=str(ctx.data.get("if_multi") or "all"),
    )
    for offering in offerings:
        synced = ops.synchronize_offering(ctx.store, offering["_id"])
        publish_wait(ctx, synced)
