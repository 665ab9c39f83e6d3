"""Load-time parameters: declared under ``parameters``, rendered with Jinja2 into string values.

Why the *parsed document's strings* are rendered rather than the raw text:

* positions stay true: the text the user wrote is the text we parsed, so every error still points
  at the right line and column;
* a parameter value can never break the JSON (a quote or a brace in ``-p title 'a "b" {c}'`` stays
  inside its string), nor be parsed as structure;
* the official single-brace templates (``{store_entity...}``, ``{user.last_name}``) and JSONC
  comments are never seen by Jinja2 as code: only strings containing ``{{``, ``{%`` or ``{#`` are
  rendered, everything else is returned as the very same object, so a workflow without Jinja2
  syntax comes out unchanged.

Keys are rendered too (a step name may use a parameter). The ``parameters`` block itself is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpf_flow.errors import UsageError
from gpf_flow.workflow.jsonc import JsoncSyntaxError, JsonPath, parse_jsonc
from gpf_flow.workflow.locate import Source, did_you_mean
from gpf_flow.workflow.model import ParameterSpec

if TYPE_CHECKING:
    from jinja2 import Template

_MARKER = re.compile(r"\{[{%#]")
_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Names Jinja2 does not read as a variable in `{{ name }}`: constants, and `not` (an operator).
_NOT_VARIABLES = frozenset({"true", "false", "none", "True", "False", "None", "not"})


def shorten(text: str, width: int = 120) -> str:
    """``repr(text)`` cut to about ``width`` characters (a template shown in a message)."""
    shown = repr(text)
    return shown if len(shown) <= width else shown[: width - 5] + "…" + shown[-4:]


def has_jinja(text: str) -> bool:
    """Whether ``text`` contains Jinja2 syntax (``{{``, ``{%`` or ``{#``)."""
    return _MARKER.search(text) is not None


def parameter_specs(document: Mapping[str, Any]) -> dict[str, ParameterSpec]:
    """The ``parameters`` block as :class:`ParameterSpec` objects (document already schema-checked)."""
    specs: dict[str, ParameterSpec] = {}
    for name, spec in (document.get("parameters") or {}).items():
        specs[name] = ParameterSpec(
            name=name,
            description=str(spec.get("description", "")),
            default=spec.get("default"),
            required=bool(spec.get("required", False)),
        )
    return specs


def read_params_file(path: str | Path) -> dict[str, Any]:
    """Read a ``--params-file`` (a JSON/JSONC object of name → value)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the parameters file {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{file}: the parameters file is not UTF-8 text ({exc.reason} at byte {exc.start})",
            hint="save it as UTF-8",
        ) from None
    try:
        values, _ = parse_jsonc(text)
    except JsoncSyntaxError as exc:
        where = f"{file}:{exc.position}" if exc.position else str(file)
        raise UsageError(f"{where}: invalid JSON in the parameters file: {exc.message}") from None
    if not isinstance(values, dict):
        raise UsageError(
            f"{file}: the parameters file must hold a JSON object",
            hint='write it as {"name": "value", ...}',
        )
    return values


def parameter_values(
    specs: Mapping[str, ParameterSpec],
    params: Mapping[str, Any] | None,
    params_file: str | Path | None,
    source: Source,
) -> dict[str, Any]:
    """Values for the declared parameters: defaults, then ``--params-file``, then ``-p``.

    Values given for undeclared names are kept out of Jinja2 (they stay available to the run as
    ``{params.key}``). A required parameter without a value is a usage error naming it.
    """
    given: dict[str, Any] = {}
    if params_file is not None:
        given.update(read_params_file(params_file))
    given.update(params or {})
    values = {name: spec.default for name, spec in specs.items() if spec.has_default}
    values.update({name: value for name, value in given.items() if name in specs})
    missing = [name for name, spec in specs.items() if spec.required and name not in values]
    if missing:
        names = ", ".join(f"`{name}`" for name in missing)
        example = " ".join(f"-p {name} VALUE" for name in missing)
        raise UsageError(
            f"{source.label}: missing value for required parameter {names}",
            hint=f"pass {example} (or put it in --params-file)",
        )
    return values


@lru_cache(maxsize=4096)
def _template(text: str) -> tuple[Template, frozenset[str]]:
    from jinja2 import meta

    from gpf_flow.workflow.sandbox import sandbox

    env = sandbox()
    ast = env.parse(text)
    return env.from_string(ast), frozenset(meta.find_undeclared_variables(ast))


class _Renderer:
    def __init__(self, specs: Mapping[str, ParameterSpec], values: Mapping[str, Any], source: Source) -> None:
        self.specs = specs
        self.values = values
        self.source = source
        self.rendered: dict[str, str] = {}  # the same template text renders the same way in one load

    def string(self, text: str, path: JsonPath) -> str:
        if text in self.rendered:
            return self.rendered[text]
        result = self._render(text, path)
        self.rendered[text] = result
        return result

    def _render(self, text: str, path: JsonPath) -> str:
        names = _SIMPLE.findall(text)
        if (
            names
            and "{{{" not in text
            and "}}}" not in text
            and "\r" not in text  # Jinja2 turns \r\n and \r into \n
            and _NOT_VARIABLES.isdisjoint(names)
            and not has_jinja(_SIMPLE.sub("", text))
        ):
            # only plain `{{ name }}`: substituted directly, exactly as Jinja2 renders it (str of the
            # value). Compiling one Jinja2 template per distinct string costs ~0.5 ms, i.e. seconds
            # for a generated workflow of thousands of steps (10,000 steps: 4.8 s instead of 0.7 s).
            self._check_names(sorted(set(names)), path)  # the same order as the Jinja2 path
            return _SIMPLE.sub(lambda match: str(self.values[match.group(1)]), text)
        from jinja2 import TemplateSyntaxError
        from jinja2.exceptions import SecurityError

        from gpf_flow.workflow.sandbox import render_bounded

        shown = shorten(text)
        try:
            template, used = _template(text)
        except TemplateSyntaxError as exc:
            raise self.source.error(f"Jinja2 syntax error in {shown}: {exc.message}", path) from None
        except RecursionError:
            raise self.source.error(f"Jinja2 syntax error in {shown}: nested too deeply", path) from None
        self._check_names(sorted(used), path)
        try:
            return render_bounded(template, self.values)
        except SecurityError as exc:
            raise self.source.error(
                f"unsafe template {shown}: {exc}",
                path,
                hint="load-time templates run in a sandbox: only parameters, filters and simple "
                "expressions are allowed",
            ) from None
        except RecursionError:
            raise self.source.error(f"cannot render {shown}: recursion too deep", path) from None
        except Exception as exc:  # any error of the template's own code (1/0, int('x'), ...)
            raise self.source.error(f"cannot render {shown}: {type(exc).__name__}: {exc}", path) from None

    def _check_names(self, names: Iterable[str], path: JsonPath) -> None:
        """Every parameter used must be declared and have a value."""
        for name in names:
            if name not in self.specs:
                close = did_you_mean(name, self.specs)
                raise self.source.error(
                    f"`{{{{ {name} }}}}` uses an undeclared parameter `{name}`{close}",
                    path,
                    hint='declare it: "parameters": '
                    + f'{{"{name}": {{"description": "...", "default": "..."}}}}',
                )
            if name not in self.values:
                raise UsageError(
                    f"{self.source.where(path)}: parameter `{name}` has no value",
                    hint=f"pass -p {name} VALUE, or give it a default under `parameters`",
                )

    def value(self, value: Any, path: list[str | int]) -> Any:
        """``value`` rendered; the same object when nothing in it changed. ``path`` is a stack."""
        if isinstance(value, str):
            return self.string(value, tuple(path)) if _MARKER.search(value) else value
        if isinstance(value, dict):
            changed = False
            result: dict[str, Any] = {}
            for key, item in value.items():
                path.append(key)
                new_key = self.string(key, tuple(path)) if _MARKER.search(key) else key
                new_item = self.value(item, path)
                changed = changed or new_key is not key or new_item is not item
                if new_key in result:
                    raise self.source.error(
                        f"after rendering, two keys are both `{new_key}`",
                        tuple(path),
                        hint="give these keys, or the parameter values they use, different names",
                    )
                path.pop()
                if new_key != key:  # errors found later under the new name still point at the text
                    self.source.renamed[(*path, new_key)] = (*path, key)
                result[new_key] = new_item
            return result if changed else value
        if isinstance(value, list):
            items = []
            changed = False
            for index, item in enumerate(value):
                path.append(index)
                new = self.value(item, path)
                path.pop()
                changed = changed or new is not item
                items.append(new)
            return items if changed else value
        return value


def render_document(
    document: dict[str, Any],
    specs: Mapping[str, ParameterSpec],
    values: Mapping[str, Any],
    source: Source,
) -> dict[str, Any]:
    """Render Jinja2 in every string (keys included) except the ``parameters`` block.

    Returns ``document`` itself when nothing needed rendering.
    """
    if not _MARKER.search(source.text):
        return document  # no Jinja2 anywhere: nothing to walk
    renderer = _Renderer(specs, values, source)
    result: dict[str, Any] = {}
    changed = False
    for key, value in document.items():
        new = value if key == "parameters" else renderer.value(value, [key])
        changed = changed or new is not value
        result[key] = new
    return result if changed else document
