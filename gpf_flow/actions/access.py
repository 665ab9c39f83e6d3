"""``access``: give a user key access to offerings (``POST /users/me/keys/{key}/accesses``)."""

from __future__ import annotations

from gpf_flow.actions.base import ActionContext
from gpf_flow.store import ops


def run(ctx: ActionContext) -> None:
    """Run the action."""
    key = str(ctx.require("key", ctx.require("url_parameters")))
    ops.create_access(ctx.store, key, dict(ctx.require("body_parameters")))
