"""``permission``: grant rights on offerings (``POST permissions``; the API answers a list)."""

from __future__ import annotations

from gpf_flow.actions.base import ActionContext
from gpf_flow.store import ops


def run(ctx: ActionContext) -> None:
    """Run the action."""
    for permission in ops.create_permissions(ctx.store, dict(ctx.require("body_parameters"))):
        ctx.created("permission", permission)
