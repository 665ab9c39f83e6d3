"""JSON schemas of the request bodies the local API validates (extra keys are always tolerated)."""

from __future__ import annotations

from typing import Any

_STR = {"type": "string", "minLength": 1}
_ID_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}

# An entity name that is safe to show and to use in file names: no control characters, no `..`.
_NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": 1000,
    "pattern": r"^(?!(?:.*/)?\.\.(?:/|$))[^\x00-\x1f\x7f]+\Z",
    "description": "must not contain control characters (NUL, newline...) nor a `..` path part",
}

UPLOAD_CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["name", "type", "srs"],
    "properties": {
        "name": _NAME,
        "type": _STR,
        "srs": _STR,
        "description": {"type": "string"},
        "type_infos": {"type": "object"},
    },
}

EDIT: dict[str, Any] = {"type": "object"}

EXECUTION_CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["processing"],
    "properties": {
        "processing": _STR,
        "inputs": {
            "type": "object",
            "properties": {"upload": _ID_LIST, "stored_data": _ID_LIST},
        },
        "output": {
            "type": "object",
            "properties": {
                "stored_data": {"type": "object"},
                "upload": {"type": "object"},
            },
        },
        "parameters": {"type": "object"},
    },
}

CONFIGURATION: dict[str, Any] = {
    "type": "object",
    "required": ["type", "name", "layer_name", "type_infos"],
    "properties": {
        "type": _STR,
        "name": _STR,
        "layer_name": _STR,
        "type_infos": {"type": "object"},
    },
}

OFFERING_CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["endpoint"],
    "properties": {
        "endpoint": _STR,
        "open": {"type": "boolean"},
        "permissions": {"type": "array"},
    },
}

TAGS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": ["string", "number", "boolean"]},
}

COMMENT: dict[str, Any] = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string"}},
}

CHECK_IDS: dict[str, Any] = {"type": "array", "minItems": 1, "items": _STR}

STATIC_EDIT: dict[str, Any] = {
    "type": "object",
    "properties": {"name": _STR, "description": {"type": "string"}},
}

PERMISSION_CREATE: dict[str, Any] = {"type": "object"}

KEY_CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _STR, "type": {"type": "string"}},
}

ACCESS_CREATE: dict[str, Any] = {"type": "object"}
