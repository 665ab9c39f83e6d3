"""Validation against ``workflow.schema.json`` with messages people can act on.

The schema is checked in two compiled parts: the document without its steps, then each step with
one step validator built once, so each error already knows its step. Steps of one workflow are
mostly alike, so each step is first reduced to its *shape* (the same structure with free-form
objects emptied and strings replaced by a placeholder, except where the schema checks the value
with ``enum``); a shape already found valid is not validated again. Invalid shapes are validated
on the real step, so messages show the real values. This keeps 10,000-step workflows fast.

A document is first checked by jsonschema-rs against the whole schema: when it is valid, nothing
else runs and jsonschema (slow to import) is not imported, which keeps `gpf-flow validate` quick
to start. Any other answer goes through jsonschema, which writes the messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from gpf_flow.workflow.jsonc import JsonPath
from gpf_flow.workflow.locate import Source, did_you_mean

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

MAX_REPORTED = 20
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


@cache
def workflow_schema() -> dict[str, Any]:
    """The JSON schema shipped in the package (``gpf_flow/workflow/workflow.schema.json``)."""
    text = resources.files("gpf_flow.workflow").joinpath("workflow.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _walk_schema(schema: Any, free: set[str], enums: set[str], defs: Mapping[str, Any]) -> None:
    if not isinstance(schema, Mapping):
        return
    if "$ref" in schema:
        return  # every $ref points into $defs, walked once below
    for name, sub in schema.get("properties", {}).items():
        target = defs.get(sub["$ref"].rsplit("/", 1)[-1], sub) if "$ref" in sub else sub
        if target == {"type": "object"}:
            free.add(name)
        if "enum" in target:
            enums.add(name)
        _walk_schema(sub, free, enums, defs)
    for key in ("items", "additionalProperties"):
        _walk_schema(schema.get(key), free, enums, defs)


@cache
def _shape_keys() -> tuple[frozenset[str], frozenset[str]]:
    """(keys whose value is a free-form object, keys whose string value is checked by ``enum``)."""
    schema = workflow_schema()
    free: set[str] = set()
    enums: set[str] = set()
    for definition in schema["$defs"].values():
        _walk_schema(definition, free, enums, schema["$defs"])
    return frozenset(free), frozenset(enums)


def _shape(value: Any, free: frozenset[str], enums: frozenset[str], key: str = "") -> Any:
    if isinstance(value, dict):
        if key in free:
            return {}
        return {k: _shape(v, free, enums, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(item, free, enums) for item in value]
    if isinstance(value, str) and key not in enums:
        return "s"
    return value


@cache
def _validators() -> tuple[Validator, Validator]:
    from jsonschema import Draft202012Validator

    schema = workflow_schema()
    top = json.loads(json.dumps(schema))
    # steps are checked one by one below (a non-object step is reported there too)
    del top["properties"]["workflow"]["properties"]["steps"]["additionalProperties"]
    step = {"$defs": schema["$defs"], "$ref": "#/$defs/step"}
    return Draft202012Validator(top), Draft202012Validator(step)


@cache
def _quick_validator() -> Any:
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(workflow_schema())


def _surely_valid(document: Any) -> bool:
    """True when jsonschema-rs finds the document valid; False when invalid or unsure."""
    try:
        return bool(_quick_validator().is_valid(document))
    except Exception:  # a value it cannot convert: jsonschema decides
        return False


def validate_document(document: Any, source: Source) -> None:
    """Raise a located :class:`~gpf_flow.errors.WorkflowError` listing every schema violation."""
    if _surely_valid(document):
        return
    top, step_validator = _validators()
    problems: list[tuple[JsonPath, str, str | None]] = []
    problems.extend(_describe(error, ()) for error in top.iter_errors(document))
    workflow = document.get("workflow") if isinstance(document, dict) else None
    steps = workflow.get("steps") if isinstance(workflow, dict) else None
    if isinstance(steps, dict):
        free, enums = _shape_keys()
        valid_shapes: set[str] = set()
        for name, step in steps.items():
            if not isinstance(step, dict):
                problems.append(
                    (("workflow", "steps", name), f"must be an object, not {_json_type(step)}", None)
                )
                continue
            shape = json.dumps(_shape(step, free, enums), sort_keys=True)
            if shape in valid_shapes:
                continue
            base: JsonPath = ("workflow", "steps", name)
            errors = [_describe(error, base) for error in step_validator.iter_errors(step)]
            if not errors:
                valid_shapes.add(shape)
            problems.extend(errors)
            if len(problems) > MAX_REPORTED:
                break
    if problems:
        raise _combine(problems, source)


def _combine(problems: list[tuple[JsonPath, str, str | None]], source: Source) -> Exception:
    problems.sort(key=lambda p: _order(source, p[0]))
    if len(problems) == 1:
        path, message, hint = problems[0]
        return source.error(message, path, hint=hint)
    from gpf_flow.errors import WorkflowError

    lines = [f"{source.label}: invalid workflow ({len(problems)} problems)"]
    for path, message, hint in problems[:MAX_REPORTED]:
        lines.append(f"  {source.where(path)}: {message}")
        if hint:
            lines.append(f"      hint: {hint}")
    if len(problems) > MAX_REPORTED:
        lines.append("  ... and more; fix these first")
    return WorkflowError("\n".join(lines))


def _order(source: Source, path: JsonPath) -> tuple[int, int]:
    position = source.position(path)
    return (position.line, position.column) if position else (0, 0)


def _describe(error: ValidationError, base: JsonPath) -> tuple[JsonPath, str, str | None]:
    """(path, message, hint) for one jsonschema error."""
    path: JsonPath = (*base, *error.absolute_path)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    instance = error.instance
    kind = error.validator
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        extra = [key for key in instance if key not in allowed]
        key = extra[0] if extra else "?"
        more = f" (and {', '.join(f'`{k}`' for k in extra[1:])})" if len(extra) > 1 else ""
        return (
            (*path, key),
            f"unknown key `{key}`{did_you_mean(key, allowed)}{more}",
            "allowed keys here: " + ", ".join(allowed),
        )
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(error.validator_value)
        return path, f"missing required key `{missing}`", None
    if kind == "enum":
        choices = [str(c) for c in error.validator_value]
        value = str(instance)
        return (
            path,
            f"`{value}` is not allowed here{did_you_mean(value, choices)}",
            "one of: " + ", ".join(choices),
        )
    if kind == "type":
        expected = error.validator_value
        expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return path, f"must be {_article(expected_text)}, not {_json_type(instance)}", None
    if kind == "dependentRequired":
        return path, "`iter_key` and `iter_vals` go together: give both or neither", None
    if kind == "propertyNames":
        return path, f"invalid name {error.instance!r}: use letters, digits and _ (a Python identifier)", None
    return path, error.message, None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"
