"""``iter_key`` / ``iter_vals``: a step's action list repeated once per value (official SDK semantics).

* String values: the literal ``{<iter_key>}`` is replaced by the value, in every string and key of
  the actions.
* Object values: ``{<iter_key>.field}`` (dotted paths allowed) is replaced by that field of the
  object; the list and dict forms ``["_<iter_key>_", "field"]`` / ``{"_<iter_key>_": "field"}``
  insert the field's JSON value in place, like the official resolvers do after their
  ``iter_resolve_<i>`` renaming. ``{<iter_key>}`` alone inserts the object as JSON text.

Done at load time: the values are literal (the SDK rejects resolver expressions in ``iter_vals``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from gpf_flow.workflow.jsonc import JsonPath
from gpf_flow.workflow.locate import Source


def _lookup(item: dict[str, Any], dotted: str) -> Any:
    value: Any = item
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(dotted)
    return value


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _transform(value: Any, on_string: Callable[[str], Any], on_container: Callable[[Any], Any]) -> Any:
    replaced = on_container(value)
    if replaced is not value:
        return replaced
    if isinstance(value, str):
        return on_string(value)
    if isinstance(value, dict):
        return {on_string(k): _transform(v, on_string, on_container) for k, v in value.items()}
    if isinstance(value, list):
        return [_transform(v, on_string, on_container) for v in value]
    return value


def expand_actions(step: Mapping[str, Any], path: JsonPath, source: Source) -> list[dict[str, Any]]:
    """The step's actions with ``iter_vals`` applied (the same list when the step does not iterate)."""
    actions: list[dict[str, Any]] = step["actions"]
    if "iter_key" not in step:
        return actions
    key: str = step["iter_key"]
    literal = "{" + key + "}"
    pattern = re.compile(r"\{" + re.escape(key) + r"(?:\.([^{}\s]+))?\}")
    marker = f"_{key}_"
    expanded: list[dict[str, Any]] = []
    for index, item in enumerate(step["iter_vals"]):
        item_path: JsonPath = (*path, "iter_vals", index)
        if isinstance(item, str):
            value = item

            def on_string(text: str, value: str = value) -> str:
                return text.replace(literal, value) if literal in text else text

            expanded.extend(_transform(actions, on_string, lambda v: v))
            continue

        def field(dotted: str, item: dict[str, Any] = item, item_path: JsonPath = item_path) -> Any:
            try:
                return _lookup(item, dotted)
            except KeyError:
                raise source.error(
                    f"`{{{key}.{dotted}}}` is used in the actions but this value has no field `{dotted}`",
                    item_path,
                    hint="fields of this value: " + ", ".join(item) if item else "this value is empty",
                ) from None

        def on_string_obj(text: str, item: dict[str, Any] = item, field: Callable[[str], Any] = field) -> str:
            if "{" + key not in text:
                return text
            return pattern.sub(
                lambda m: _as_text(field(m.group(1)) if m.group(1) else item),
                text,
            )

        def on_container(value: Any, field: Callable[[str], Any] = field) -> Any:
            if (
                isinstance(value, list)
                and len(value) == 2
                and value[0] == marker
                and isinstance(value[1], str)
            ):
                return field(value[1])
            if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(marker), str):
                return field(value[marker])
            return value

        expanded.extend(_transform(actions, on_string_obj, on_container))
    return expanded
