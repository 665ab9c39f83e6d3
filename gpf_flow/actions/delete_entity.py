"""``delete-entity``: delete entities by id or filters, with optional cascade (docs/entrepot-api.md §5.5).

``confirm`` (default true in the official SDK, which then reads stdin) is handled without a
prompt: the action refuses unless it says ``"confirm": false`` or the run was given ``--yes``.
"""

from __future__ import annotations

from gpf_flow.actions.base import ActionContext, delete_offering
from gpf_flow.actions.selection import select_entities
from gpf_flow.errors import NotFoundError, WorkflowError
from gpf_flow.store import ops
from gpf_flow.store.base import Entity, EntityType, as_entity_type, iter_entities


def run(ctx: ActionContext) -> None:
    """Run the action."""
    entity_type = as_entity_type(ctx.require("entity_type"))
    targets = select_entities(
        ctx,
        entity_type,
        not_found_ok=bool(ctx.data.get("not_found_ok", False)),
        if_multi=str(ctx.data.get("if_multi") or "all"),
    )
    if not targets:
        return
    plan: list[tuple[EntityType, Entity]] = []
    for entity in targets:
        if ctx.data.get("cascade"):
            plan.extend(_dependents(ctx, entity_type, entity))
        plan.append((entity_type, entity))
    if ctx.data.get("confirm", True) and not ctx.yes:
        listing = ", ".join(f"{t} {e.get('name') or ''} ({e['_id']})" for t, e in plan)
        raise WorkflowError(
            f"step {ctx.step!r} would delete {len(plan)} entities ({listing}) and asks for confirmation",
            hint='run with --yes, or add "confirm": false to the delete-entity action',
        )
    done: set[str] = set()
    for kind, entity in plan:
        if entity["_id"] in done:
            continue
        done.add(entity["_id"])
        try:
            if kind == "offering":
                delete_offering(ctx, ctx.store.get_entity(EntityType.OFFERING, entity["_id"]))
            else:
                ctx.store.delete_entity(kind, entity["_id"])
                ctx.deleted(kind, entity)
        except NotFoundError:
            ctx.warn(f"{kind} {entity['_id']} was already gone")


def _dependents(
    ctx: ActionContext, entity_type: EntityType, entity: Entity
) -> list[tuple[EntityType, Entity]]:
    """Offerings and configurations that depend on an entity, in deletion order."""
    if entity_type == "offering" or entity_type == "upload":
        return []
    if entity_type == "configuration":
        return [(EntityType.OFFERING, o) for o in ops.list_configuration_offerings(ctx.store, entity["_id"])]
    if entity_type == "stored_data":
        found: list[tuple[EntityType, Entity]] = []
        for configuration in iter_entities(
            ctx.store, EntityType.CONFIGURATION, {"stored_data": entity["_id"]}
        ):
            found.extend(
                (EntityType.OFFERING, o)
                for o in ops.list_configuration_offerings(ctx.store, configuration["_id"])
            )
            found.append((EntityType.CONFIGURATION, configuration))
        return found
    if entity_type not in ("static", "permission", "key", "processing_execution"):
        raise WorkflowError(f"delete-entity cannot delete entities of type {entity_type!r}")
    return []
