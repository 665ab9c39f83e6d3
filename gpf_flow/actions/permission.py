"""``permission``: grant rights on offerings (``POST permissions``; the API answers a list)."""

from __future__ import annotations

from gpf_flow.actions.base import ActionContext


def run(ctx: ActionContext) -> None:
    """Run the action."""
    for permission in ctx.store.create_permissions(dict(ctx.require("body_parameters"))):
        ctx.created("permission", permission)
