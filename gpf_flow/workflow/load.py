"""Load a workflow: JSONC → duplicate-key check → schema → Jinja2 parameters → DAG checks → model.

Every problem is a :class:`~gpf_flow.errors.WorkflowError` (exit 1) naming the file, the JSON path
and, when the text tells, the line and column; command-line mistakes (missing parameter value,
unreadable file) are :class:`~gpf_flow.errors.UsageError` (exit 2).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gpf_flow.errors import UsageError, WorkflowError
from gpf_flow.workflow._gc import gc_paused
from gpf_flow.workflow.dag import find_cycle, format_cycle, unknown_parents
from gpf_flow.workflow.expand import expand_actions
from gpf_flow.workflow.jsonc import JsoncSyntaxError, parse_jsonc
from gpf_flow.workflow.locate import Source, did_you_mean
from gpf_flow.workflow.model import Action, Step, Workflow
from gpf_flow.workflow.params import parameter_specs, parameter_values, render_document
from gpf_flow.workflow.schema import validate_document

__all__ = ["load_workflow", "load_workflow_text", "WorkflowWarning", "resolve_workflow_path"]


class WorkflowWarning(UserWarning):
    """A problem that does not stop loading (duplicate keys without ``strict``)."""


def resolve_workflow_path(path: str | Path) -> Path:
    """``path`` itself when it exists, else the catalog workflow of that name (``wms-generic``).

    Raises :class:`UsageError` when neither exists.
    """
    file = Path(path)
    if file.exists():
        return file
    from gpf_flow import catalog

    text = str(path)
    found = catalog.find_path(text)  # without parsing it: the caller reads and checks the file
    if found is not None:
        return found
    names = catalog.names()
    raise UsageError(
        f"no workflow file {text} (and no catalog workflow of that name){did_you_mean(text, names)}",
        hint="catalog workflows: " + ", ".join(names) if names else None,
    )


def load_workflow(
    path: str | Path,
    params: Mapping[str, str] | None = None,
    *,
    params_file: str | Path | None = None,
    strict: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> Workflow:
    """Load and check the workflow at ``path`` (or the catalog workflow named ``path``).

    ``params`` and ``params_file`` give values to the declared ``parameters`` (``-p`` wins over the
    file, which wins over defaults). Duplicate keys are reported through ``on_warning`` (default:
    :func:`warnings.warn`) or raise when ``strict``.
    """
    file = resolve_workflow_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read workflow file {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise WorkflowError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return load_workflow_text(
        text, file, params, params_file=params_file, strict=strict, on_warning=on_warning
    )


def load_workflow_text(
    text: str,
    path: Path | None = None,
    params: Mapping[str, str] | None = None,
    *,
    params_file: str | Path | None = None,
    strict: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> Workflow:
    """Same as :func:`load_workflow` from text; ``path`` names the file in messages and anchors it."""
    with gc_paused():
        return _load(text, path, params, params_file, strict, on_warning)


def _load(
    text: str,
    path: Path | None,
    params: Mapping[str, str] | None,
    params_file: str | Path | None,
    strict: bool,
    on_warning: Callable[[str], None] | None,
) -> Workflow:
    source = Source(text, Path(path) if path is not None else None)
    try:
        document, has_duplicates = parse_jsonc(text)
    except JsoncSyntaxError as exc:
        raise source.error(f"invalid JSONC: {exc.message}", position=exc.position) from None
    if has_duplicates:
        _report_duplicates(source, strict, on_warning)
    if not isinstance(document, dict):
        raise source.error("a workflow must be a JSON object with a `workflow` key", ())
    validate_document(document, source)
    specs = parameter_specs(document)
    values = parameter_values(specs, params, params_file, source)
    document = render_document(document, specs, values, source)
    steps_doc: dict[str, dict[str, Any]] = document["workflow"]["steps"]
    if not steps_doc:
        raise source.error(
            "the workflow has no steps: running it would do nothing",
            ("workflow", "steps"),
            hint='add a step: "steps": {"name": {"actions": [...]}}',
        )
    _check_dag(steps_doc, source)
    steps = {name: _build_step(name, step, source) for name, step in steps_doc.items()}
    return Workflow(
        steps=steps,
        path=source.path,
        title=document.get("title"),
        description=document.get("description"),
        parameters=specs,
        comments=tuple(document.get("comments") or ()),
        tags=dict(document.get("tags") or {}),
        datastore=document.get("datastore"),
        document=document,
    )


def _report_duplicates(source: Source, strict: bool, on_warning: Callable[[str], None] | None) -> None:
    messages = []
    for duplicate in source.positions.duplicates:
        key = duplicate.path[-1]
        first = f"line {duplicate.first.line}" if duplicate.first else "?"
        second = f"line {duplicate.second.line}" if duplicate.second else "?"
        messages.append(
            f"{source.where(duplicate.path, duplicate.second)}: duplicate key `{key}` "
            f"(first at {first}, again at {second}); the last one wins"
        )
    if not messages:  # the tokenizer disagrees with the parser: say so rather than stay silent
        messages.append(f"{source.label}: an object repeats a key; the last one wins")
    if strict:
        raise WorkflowError(
            "\n".join(messages), hint="remove or rename the repeated key (rejected because of --strict)"
        )
    for message in messages:
        if on_warning is not None:
            on_warning(message)
        else:
            warnings.warn(message, WorkflowWarning, stacklevel=3)


def _check_dag(steps: Mapping[str, Mapping[str, Any]], source: Source) -> None:
    parents = {name: list(step.get("parents") or ()) for name, step in steps.items()}
    unknown = unknown_parents(parents)
    if unknown:
        messages = [
            source.where(("workflow", "steps", child, "parents", index))
            + f": step `{child}` has an unknown parent `{parent}`{did_you_mean(parent, steps)}"
            for child, index, parent in unknown
        ]
        raise WorkflowError("\n".join(messages), hint="steps: " + ", ".join(steps))
    cycle = find_cycle(parents)
    if cycle:
        raise source.error(
            f"the steps form a cycle: {format_cycle(cycle)}",
            ("workflow", "steps", cycle[1], "parents"),
            hint="each arrow reads 'is a parent of'; remove one of these parent links",
        )


def _build_step(name: str, step: Mapping[str, Any], source: Source) -> Step:
    path = ("workflow", "steps", name)
    actions = expand_actions(step, path, source)
    if not actions:
        raise source.error(
            f"step `{name}` has no actions: it would do nothing",
            (*path, "actions"),
            hint="give it at least one action, or remove the step",
        )
    return Step(
        name=name,
        actions=tuple(Action(type=action["type"], data=action, index=i) for i, action in enumerate(actions)),
        parents=tuple(step.get("parents") or ()),
        comments=tuple(step.get("comments") or ()),
        tags=dict(step.get("tags") or {}),
        datastore=step.get("datastore"),
    )
