"""Command-line values coerced without pydantic when the answer is plain, for a fast start-up.

Recent typer versions coerce every parameter value through a pydantic ``TypeAdapter`` built on
first use, even a ``str`` given as a ``str`` or an option left out: importing pydantic and building
the adapters costs more than the rest of ``gpf-flow validate``. :class:`FastCoercionGroup` gives
each parameter a coercion that answers the plain cases itself, with the result typer's adapter
gives for them:

- a ``str``/``int``/``bool`` parameter receiving a value of exactly that type (an ``int`` without
  ``min``/``max``);
- a parameter with a ``parser`` (the parser's result, as is);
- a ``list[...]`` of those.

Every other case (a number typed on the command line, a path, a bounded value, a file...) goes to
typer's own coercion, so values and error messages stay typer's. An option left out never reaches
this code (typer answers ``None`` or ``()`` before coercing). With a typer that has no such
internals the group changes nothing.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

from typer.core import TyperGroup

_PLAIN = (str, int, bool)


class _Unhandled(Exception):
    """The value is not a plain case: typer's coercion decides."""


def _plain(annotation: Any, info: Any, value: Any) -> Any:
    """The coerced value for a plain case, or raise :class:`_Unhandled`."""
    if get_origin(annotation) is list:
        (item_type,) = get_args(annotation)
        if get_origin(item_type) in (list, tuple):
            raise _Unhandled
        items = value if isinstance(value, list | tuple) else [value]
        return [_plain(item_type, info, item) for item in items]
    if info.parser is not None:
        try:
            return info.parser(value)
        except Exception as exc:  # typer turns some errors into messages: let it do so
            raise _Unhandled from exc
    if annotation in _PLAIN and type(value) is annotation:
        if annotation is int and (info.min is not None or info.max is not None):
            raise _Unhandled
        return value
    raise _Unhandled


def _give(param: Any, runtime_param: type) -> None:
    """Give one typer parameter the fast coercion (not a file parameter, not one already coerced)."""
    descriptor = getattr(param, "type_descriptor", None)
    if (
        descriptor is not None
        and getattr(param, "_runtime_param", False) is None
        and descriptor.file_annotation is None
    ):
        param._runtime_param = runtime_param(
            parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
        )


def _install(command: Any, runtime_param: type) -> None:
    """Give every typer parameter of ``command`` and its sub-commands the fast coercion."""
    for param in command.params:
        _give(param, runtime_param)
    # `--help` is created at parse time (its names depend on the context): coerce it fast too
    make_help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None:
            _give(option, runtime_param)
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        _install(sub, runtime_param)


def _runtime_param_class() -> type | None:
    """typer's coercion contract subclassed with the plain cases, or None with an older typer."""
    try:
        from dataclasses import dataclass

        from typer._coercion import RuntimeParam, build_runtime_param
    except ImportError:
        return None

    @dataclass(frozen=True)
    class FastRuntimeParam(RuntimeParam):
        """Plain cases answered here, the rest by the runtime param typer would build."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return _plain(self.annotation, self.parameter_info, value)
            except _Unhandled:
                typer_param = build_runtime_param(param.type_descriptor)
                return typer_param._coerce_value(value, param=param, ctx=ctx)

    return FastRuntimeParam


class FastCoercionGroup(TyperGroup):
    """A typer group whose commands coerce plain values without importing pydantic."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        runtime_param = _runtime_param_class()
        if runtime_param is not None:
            _install(self, runtime_param)
