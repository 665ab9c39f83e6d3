"""Choosing the entities an action works on: by ``entity_id`` or ``filter_infos``/``filter_tags``."""

from __future__ import annotations

from typing import Any

from gpf_flow.actions.base import ActionContext
from gpf_flow.errors import NotFoundError, WorkflowError
from gpf_flow.store import ops
from gpf_flow.store.base import Entity, EntityType, iter_entities


def select_entities(
    ctx: ActionContext, entity_type: EntityType, *, not_found_ok: bool, if_multi: str
) -> list[Entity]:
    """The entities named by the action, after ``not_found_ok`` and ``if_multi`` (first/all/error)."""
    data = ctx.data
    found: list[Entity]
    if data.get("entity_id"):
        try:
            found = [ctx.store.get_entity(entity_type, str(data["entity_id"]))]
        except NotFoundError:
            found = []
        what = f"{entity_type} {data['entity_id']}"
    else:
        infos: dict[str, Any] = dict(data.get("filter_infos") or {})
        tags: dict[str, Any] = dict(data.get("filter_tags") or {})
        if not infos and not tags:
            raise WorkflowError(
                f"step {ctx.step!r}, action #{ctx.index + 1} ({ctx.action_type}): "
                "give entity_id or filter_infos/filter_tags"
            )
        if entity_type == "offering" and infos.get("configuration"):
            found = _configuration_offerings(ctx, str(infos.pop("configuration")), infos)
        else:
            found = list(iter_entities(ctx.store, entity_type, _strs(infos), _strs(tags)))
        what = f"{entity_type} matching infos={infos} tags={tags}"
    if not found:
        if not_found_ok:
            ctx.warn(f"no {what}: nothing to do")
            return []
        raise WorkflowError(f"no {what}", hint='add "not_found_ok": true to the action if that is expected')
    if len(found) > 1:
        if if_multi == "error":
            raise WorkflowError(f"{len(found)} entities match ({what}) and if_multi is 'error'")
        if if_multi == "first":
            found = found[:1]
    return found


def _strs(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}


def _configuration_offerings(
    ctx: ActionContext, configuration_id: str, infos: dict[str, Any]
) -> list[Entity]:
    offerings = []
    for item in ops.list_configuration_offerings(ctx.store, configuration_id):
        offering = ctx.store.get_entity(EntityType.OFFERING, item["_id"])
        ok = True
        for key, value in infos.items():
            actual = offering.get(key)
            if isinstance(actual, dict):
                actual = actual.get("_id")
            ok &= str(actual) == str(value)
        if ok:
            offerings.append(offering)
    return offerings
