"""The Jinja2 environment load-time parameters are rendered in: sandboxed and bounded.

A workflow file is untrusted input (a colleague's catalog, a public repository), so its templates
must never run code nor hold the machine:

* :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` refuses attribute access to internals
  (``__class__``, ``__globals__``…) and any mutation of lists and dicts;
* ``namespace`` and ``lipsum`` are not offered, ``range`` yields at most :data:`LIMITS.max_range`
  items, filters refuse numeric arguments above :data:`LIMITS.max_number`, and ``*``, ``**``,
  ``%`` and ``~`` refuse results larger than :data:`LIMITS.max_output` characters;
* a template renders in at most :data:`LIMITS.seconds` (a trace function on the template's own
  frames checks the clock and the size of its variables) and yields at most ``max_output``
  characters.

Any breach is a :class:`TemplateLimitError`, which the loader reports with the file and place.
The limits come from the environment (``GPF_FLOW_TEMPLATE_SECONDS``,
``GPF_FLOW_TEMPLATE_MAX_OUTPUT``, ``GPF_FLOW_TEMPLATE_MAX_RANGE``).
"""

from __future__ import annotations

import functools
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined, runtime
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["LIMITS", "Limits", "TemplateLimitError", "sandbox", "render_bounded"]

# A width or precision of a million characters or more in a format string (``%9999999d``).
_HUGE_FORMAT_WIDTH = re.compile(r"\d{7,}")


@dataclass(frozen=True)
class Limits:
    """What one load-time template may cost."""

    seconds: float = 1.0
    max_output: int = 1_000_000
    max_range: int = 10_000
    max_number: int = 10_000

    @classmethod
    def from_environment(cls) -> Limits:
        """Defaults, overridden by ``GPF_FLOW_TEMPLATE_*`` environment variables."""
        base = cls()
        return cls(
            seconds=_env_number("GPF_FLOW_TEMPLATE_SECONDS", base.seconds, float),
            max_output=_env_number("GPF_FLOW_TEMPLATE_MAX_OUTPUT", base.max_output, int),
            max_range=_env_number("GPF_FLOW_TEMPLATE_MAX_RANGE", base.max_range, int),
            max_number=base.max_number,
        )


def _env_number(name: str, default: Any, kind: Callable[[str], Any]) -> Any:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        return default
    return value if value > 0 else default


LIMITS = Limits.from_environment()


class TemplateLimitError(SecurityError):
    """A template tried something unsafe or exceeded a limit."""


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


def _check_size(value: Any, what: str) -> Any:
    if _sized(value) > LIMITS.max_output:
        raise TemplateLimitError(f"{what} is longer than {LIMITS.max_output} characters")
    return value


def _check_number(value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > LIMITS.max_number:
        raise TemplateLimitError(f"{what} {value} is above the limit of {LIMITS.max_number}")


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with size checks on the operators that can multiply a value's size."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() * abs(right) > 8 * LIMITS.max_output
            ):
                raise TemplateLimitError(f"{left} ** {right} is too large")
        elif operator == "*":
            for one, other in ((left, right), (right, left)):
                if _sized(one) and isinstance(other, int) and _sized(one) * other > LIMITS.max_output:
                    raise TemplateLimitError(f"a repetition longer than {LIMITS.max_output} characters")
        elif operator == "%" and isinstance(left, str) and _HUGE_FORMAT_WIDTH.search(left):
            raise TemplateLimitError("a format width or precision above a million")
        result = super().call_binop(context, operator, left, right)
        return _check_size(result, f"the result of {operator!r}")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # str.format / format_map with a huge width: refused before the (uninterruptible) C call
        owner = getattr(value, "__self__", None)
        if isinstance(owner, str) and _HUGE_FORMAT_WIDTH.search(owner):
            raise TemplateLimitError("a format width or precision above a million")
        return super().wrap_str_format(value)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_size(result, "a call's result")


def _bounded_range(*args: int) -> Iterator[int]:
    values = range(*args)
    if len(values) > LIMITS.max_range:
        raise TemplateLimitError(
            f"range() of {len(values)} items is above the limit of {LIMITS.max_range} "
            "(GPF_FLOW_TEMPLATE_MAX_RANGE)"
        )
    return iter(values)


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[1:], *kwargs.values()):
            _check_number(value, f"filter `{name}`: argument")
        return _check_size(function(*args, **kwargs), f"the result of filter `{name}`")

    return wrapper


@functools.cache
def sandbox() -> ImmutableSandboxedEnvironment:
    """The environment for load-time parameters: sandboxed, strict about undefined names."""
    env = _BoundedSandbox(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.globals.pop("namespace", None)
    env.globals.pop("lipsum", None)
    env.globals["range"] = _bounded_range
    env.filters = {name: _bounded_filter(name, fn) for name, fn in env.filters.items()}
    return env


_JOINS = {runtime.str_join.__code__, runtime.markup_join.__code__}


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Abort the template code running in this thread after ``seconds`` or with too large a value.

    Only frames of compiled templates (file name ``<template>``) are traced line by line; a
    concatenation (``~``) is checked before it joins.
    """
    end = time.monotonic() + seconds

    def check_time() -> None:
        if time.monotonic() > end:
            raise TemplateLimitError(
                f"the template ran longer than {seconds:g} s (GPF_FLOW_TEMPLATE_SECONDS)"
            )

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        check_time()
        if event == "line":
            for value in frame.f_locals.values():
                _check_size(value, "a template variable")
        return local

    def on_call(frame: FrameType, event: str, arg: Any) -> Any:
        check_time()
        if frame.f_code in _JOINS:
            seq = frame.f_locals.get("seq")
            if isinstance(seq, tuple) and sum(_sized(item) for item in seq) > LIMITS.max_output:
                raise TemplateLimitError(f"a concatenation longer than {LIMITS.max_output} characters")
        if frame.f_code.co_filename == "<template>":
            return local
        return None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        yield
    finally:
        sys.settrace(previous)


def render_bounded(template: Any, values: Mapping[str, Any]) -> str:
    """Render ``template`` within :data:`LIMITS` (a :class:`TemplateLimitError` otherwise)."""
    chunks: list[str] = []
    size = 0
    with _deadline(LIMITS.seconds):
        for chunk in template.generate(values):
            size += len(chunk)
            if size > LIMITS.max_output:
                raise TemplateLimitError(
                    f"the template's output is longer than {LIMITS.max_output} characters "
                    "(GPF_FLOW_TEMPLATE_MAX_OUTPUT)"
                )
            chunks.append(chunk)
    return "".join(chunks)
