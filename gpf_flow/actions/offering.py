"""``offering``: publish a configuration on an endpoint, wait until PUBLISHED (docs/entrepot-api.md §5.4)."""

from __future__ import annotations

from gpf_flow.actions.base import ActionContext, delete_offering, wait_status
from gpf_flow.errors import WorkflowError
from gpf_flow.store import ops
from gpf_flow.store.base import Entity, EntityType, OfferingStatus
from gpf_flow.store.views import OfferingView


def run(ctx: ActionContext) -> None:
    """Run the action."""
    configuration_id = str(ctx.require("configuration", ctx.require("url_parameters")))
    body = dict(ctx.require("body_parameters"))
    endpoint = str(ctx.require("endpoint", body))
    body.setdefault("open", True)
    offering = _existing(ctx, configuration_id, endpoint)
    if offering is None:
        offering = ops.create_offering(ctx.store, configuration_id, body)
        ctx.created("offering", offering)
    publish_wait(ctx, offering)


def _endpoint_id(offering: Entity) -> str | None:
    endpoint = offering.get("endpoint")
    return endpoint.get("_id") if isinstance(endpoint, dict) else endpoint


def _existing(ctx: ActionContext, configuration_id: str, endpoint: str) -> Entity | None:
    for item in ops.list_configuration_offerings(ctx.store, configuration_id):
        offering = ctx.store.get_entity(EntityType.OFFERING, item["_id"])
        if _endpoint_id(offering) != endpoint:
            continue
        label = f"offering {offering['_id']} of configuration {configuration_id} on endpoint {endpoint}"
        if ctx.reuse_or_replace(label, "offerings"):
            delete_offering(ctx, offering)
            return None
        ctx.created("offering", offering, reused=True)
        if OfferingView.of(offering).status == OfferingStatus.UNPUBLISHED:
            raise WorkflowError(
                f"{label} exists but is UNPUBLISHED", hint="use --behavior DELETE to re-publish"
            )
        return offering
    return None


def publish_wait(ctx: ActionContext, offering: Entity) -> Entity:
    """Wait for PUBLISHED (links announced) or UNSTABLE (error)."""
    final = wait_status(
        ctx, EntityType.OFFERING, offering["_id"], (OfferingStatus.PUBLISHED, OfferingStatus.UNSTABLE)
    )
    assert final is not None
    state = OfferingView.of(final)
    if state.status != OfferingStatus.PUBLISHED:
        raise WorkflowError(
            f"offering {state.id} ({state.layer_name}) ended {state.status_text}",
            hint="check the configuration's stored data and the endpoint",
        )
    ctx.published(final)
    return final
