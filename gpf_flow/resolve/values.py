"""Resolution of whole JSON values: strings with templates and the list / dict insertion forms.

* a string that is exactly one template keeps the template's JSON type (a list stays a list);
* a template inside a longer string is written as text (non-strings as JSON);
* ``["_name_", "key"]``, ``["_name.key"]`` and ``{"_name_": "key"}`` are replaced by the value
  of ``{name.key}`` (a string holding JSON is parsed, as the official SDK re-parses its output).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gpf_flow.resolve.context import ResolveContext
from gpf_flow.resolve.nodes import Template
from gpf_flow.resolve.parser import is_resolver_name, parse, parse_template
from gpf_flow.resolve.resolvers import as_text, render, resolve_template


def insertion_form(value: Any, extra: tuple[str, ...] = ()) -> Template | None:
    """The template of a list or dict insertion form, or None if ``value`` is not one."""
    if isinstance(value, list):
        if len(value) == 2 and all(isinstance(v, str) for v in value):
            name = _marker(value[0])
            if name and is_resolver_name(name, extra):
                return parse_template(f"{{{name}.{value[1]}}}", extra)
        if len(value) == 1 and isinstance(value[0], str) and value[0].startswith("_"):
            name, dot, _ = value[0][1:].partition(".")
            if dot and is_resolver_name(name, extra):
                return parse_template("{" + value[0][1:] + "}", extra)
    elif isinstance(value, Mapping) and len(value) == 1:
        ((key, inner),) = value.items()
        name = _marker(key) if isinstance(key, str) else None
        if name and isinstance(inner, str) and is_resolver_name(name, extra):
            return parse_template(f"{{{name}.{inner}}}", extra)
    return None


def _marker(text: str) -> str | None:
    if len(text) > 2 and text.startswith("_") and text.endswith("_"):
        return text[1:-1]
    return None


def resolve_string(text: str, ctx: ResolveContext) -> Any:
    """Resolve the templates of one string (a whole template keeps its JSON type)."""
    parsed = parse(text, tuple(ctx.values))
    if parsed.is_literal:
        return text
    whole = parsed.whole
    if whole is not None:
        return resolve_template(whole, ctx)
    return render(parsed, ctx)


def resolve_value(value: Any, ctx: ResolveContext) -> Any:
    """A copy of a JSON value with every template resolved."""
    if isinstance(value, str):
        return resolve_string(value, ctx)
    form = insertion_form(value, tuple(ctx.values))
    if form is not None:
        result = resolve_template(form, ctx)
        if isinstance(result, str):
            try:
                return json.loads(result)
            except json.JSONDecodeError:
                return result
        return result
    if isinstance(value, list):
        return [resolve_value(item, ctx) for item in value]
    if isinstance(value, Mapping):
        return {as_text(resolve_string(str(k), ctx)): resolve_value(v, ctx) for k, v in value.items()}
    return value


def find_templates(value: Any, extra: tuple[str, ...] = ()) -> list[Template]:
    """Every top-level template of a JSON value, in document order (nothing is resolved)."""
    found: list[Template] = []
    if isinstance(value, str):
        found.extend(parse(value, extra).templates)
        return found
    form = insertion_form(value, extra)
    if form is not None:
        return [form]
    if isinstance(value, list):
        for item in value:
            found.extend(find_templates(item, extra))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            found.extend(find_templates(str(key), extra))
            found.extend(find_templates(item, extra))
    return found
