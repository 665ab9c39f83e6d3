"""List filters as the API applies them: ``infos`` (exact, ``%`` wildcard on ``name``, nested
references such as an execution's ``input_upload``) and ``tags``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gpf_flow.store.base import TAGGABLE_TYPES

Entity = dict[str, Any]

# Query keys that are not filters.
IGNORED_KEYS = frozenset({"fields", "page", "limit", "sort"})


def wildcard_match(pattern: str, value: str) -> bool:
    """Whether ``value`` matches ``pattern``, where ``%`` stands for any run of characters.

    Linear, without backtracking (a regular expression with many ``%`` backtracks exponentially
    and held the server for minutes): the fixed parts are looked for left to right, each at its
    leftmost place, which is enough when the only wildcard matches any run.
    """
    parts = pattern.split("%")
    if len(parts) == 1:
        return value == pattern
    first, *middle, last = parts
    if len(first) + len(last) > len(value) or not value.startswith(first) or not value.endswith(last):
        return False
    position, end = len(first), len(value) - len(last)
    for part in middle:
        if not part:
            continue
        found = value.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


def _scalar_eq(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return str(value).lower() == wanted.strip().lower()
    if isinstance(value, Mapping):
        return "_id" in value and str(value["_id"]) == wanted
    if value is None:
        return False
    return str(value) == wanted


def value_matches(value: Any, wanted: str, *, wildcard: bool = False) -> bool:
    """True if a field's value equals the filter (any element of a list, ``_id`` of an object)."""
    if isinstance(value, list):
        return any(value_matches(v, wanted, wildcard=wildcard) for v in value)
    if wildcard and "%" in wanted and isinstance(value, str):
        return wildcard_match(wanted, value)
    return _scalar_eq(value, wanted)


def _ids(items: Any) -> list[str]:
    if isinstance(items, list):
        return [str(i["_id"]) if isinstance(i, Mapping) else str(i) for i in items]
    if isinstance(items, Mapping) and "_id" in items:
        return [str(items["_id"])]
    return []


def used_stored_data(configuration: Mapping[str, Any]) -> list[str]:
    """Ids of the stored data a configuration uses (``type_infos.used_data[].stored_data``)."""
    used = (configuration.get("type_infos") or {}).get("used_data") or []
    return [str(u.get("stored_data")) for u in used if isinstance(u, Mapping)]


Getter = Callable[[Entity], list[str]]

# Filters on references that are nested in the entity (docs/entrepot-api.md §3.3).
NESTED: dict[str, dict[str, Getter]] = {
    "processing_execution": {
        "input_upload": lambda e: _ids((e.get("inputs") or {}).get("upload")),
        "input_stored_data": lambda e: _ids((e.get("inputs") or {}).get("stored_data")),
        "output_upload": lambda e: _ids((e.get("output") or {}).get("upload")),
        "output_stored_data": lambda e: _ids((e.get("output") or {}).get("stored_data")),
        "processing": lambda e: _ids(e.get("processing")),
    },
    "configuration": {"stored_data": used_stored_data},
    "offering": {
        "configuration": lambda e: _ids(e.get("configuration")),
        "endpoint": lambda e: _ids(e.get("endpoint")),
        "stored_data": lambda e: list(e.get("_stored_data") or []),
    },
    "check_execution": {
        "check": lambda e: _ids(e.get("check")),
        "upload": lambda e: _ids(e.get("upload")),
    },
}


def matches(
    entity_type: str,
    entity: Entity,
    infos: Mapping[str, str] | None,
    tags: Mapping[str, str] | None,
    *,
    case_insensitive: bool = False,
) -> bool:
    """True if the entity passes every filter. Unknown tag filters on untagged types are ignored,
    as the API does for offerings."""
    for key, wanted in (infos or {}).items():
        if key in IGNORED_KEYS or wanted is None:
            continue
        wanted_s = str(wanted)
        getter = NESTED.get(entity_type, {}).get(key)
        if getter is not None:
            if wanted_s not in getter(entity):
                return False
            continue
        value = _dig(entity, key)
        if case_insensitive:
            if str(value).lower() != wanted_s.lower():
                return False
        elif not value_matches(value, wanted_s, wildcard=key in ("name", "layer_name", "technical_name")):
            return False
    if tags and entity_type in TAGGABLE_TYPES:
        entity_tags = entity.get("tags") or {}
        for key, wanted in tags.items():
            if key not in entity_tags or str(entity_tags[key]) != str(wanted):
                return False
    return True


def _dig(entity: Mapping[str, Any], key: str) -> Any:
    """A field by name, or by dotted path (``processing.name``) when there is no such field."""
    if key in entity:
        return entity[key]
    value: Any = entity
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
