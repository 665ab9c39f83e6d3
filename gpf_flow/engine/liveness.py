"""Is a step recorded as done still done? Its entities are checked against the store.

A step's record lists the entities its actions created or reused. If one of those that a run
leaves behind (an upload, a stored data, a configuration, an offering, a static) no longer
exists, or is no longer in a good state (a stored data not GENERATED, an offering not
PUBLISHED...), the step is "gone": the runner runs it again instead of skipping it, and
``status`` shows it. Executions and permissions are not checked: they are records of what
happened, not results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gpf_flow.errors import NotFoundError
from gpf_flow.store.base import EntityType, Store
from gpf_flow.store.views import EntityView

# Entity type → the statuses in which it still does its job (None: existing is enough).
GOOD_STATUSES: dict[str, frozenset[str] | None] = {
    "upload": frozenset({"CLOSED"}),
    "stored_data": frozenset({"GENERATED"}),
    "configuration": None,
    "offering": frozenset({"PUBLISHED"}),
    "static": None,
}


def lost_entities(store: Store, entities: Iterable[Mapping[str, Any]]) -> list[str]:
    """What is gone or broken among a step's recorded entities, as short phrases (empty: all good)."""
    lost: list[str] = []
    for entity in entities:
        entity_type = str(entity.get("type") or "")
        entity_id = entity.get("_id")
        if entity_type not in GOOD_STATUSES or not entity_id or entity.get("deleted"):
            continue  # a deletion is a result too: what it removed is meant to be gone
        label = f"{entity_type} {entity.get('name') or entity_id}"
        try:
            current = store.get_entity(EntityType(entity_type), str(entity_id))
        except NotFoundError:
            lost.append(f"{label} is gone")
            continue
        good = GOOD_STATUSES[entity_type]
        status = EntityView.of(current).status_text
        if good is not None and status not in good:
            lost.append(f"{label} is {status}")
    return lost


def step_lost(store: Store, actions: Iterable[Mapping[str, Any]]) -> list[str]:
    """What is lost among the entities of a step's recorded actions (``RunState.step_actions``)."""
    return lost_entities(store, [e for action in actions for e in action.get("entities") or []])
