"""Strict JSON for untrusted documents: no NaN/Infinity, no number out of range, bounded nesting.

Python's :func:`json.loads` accepts ``NaN`` and ``Infinity``, turns ``1e999`` into ``inf`` and
raises ``RecursionError`` on deep nesting; :func:`loads` refuses all of them with a
:class:`StrictJsonError` whose message completes a phrase such as "the request body …".
"""

from __future__ import annotations

import json
import math
from typing import Any


class StrictJsonError(ValueError):
    """The document is refused; the message starts with "is …" (``is not valid JSON: …``)."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number: non-finite numbers are refused")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of the range of a finite number")
    return value


def json_depth(document: Any) -> int:
    """How deeply arrays and objects nest in ``document`` (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((item, depth) for item in value if isinstance(item, dict | list))
    return deepest


def loads(raw: bytes | str, max_depth: int) -> Any:
    """Parse ``raw`` strictly, nested at most ``max_depth`` deep."""
    too_deep = f"is nested more than {max_depth} levels deep"
    try:
        document = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise StrictJsonError(too_deep) from None
    except ValueError as exc:  # also UnicodeDecodeError and int() beyond 4300 digits
        raise StrictJsonError(f"is not valid JSON: {exc}") from None
    if json_depth(document) > max_depth:
        raise StrictJsonError(too_deep)
    return document
