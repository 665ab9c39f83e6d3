"""One event family with one set of conventions, and renderers in gpf_flow/render/ only."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from gpf_flow import events
from gpf_flow.delivery import events as delivery_events

ROOT = Path(__file__).resolve().parents[2]


def _event_classes() -> list[type[events.Event]]:
    found = []
    for module in (events, delivery_events):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, events.Event) and value is not events.Event:
                found.append(value)
    return found


def test_every_event_has_its_own_kind_and_the_same_json_shape() -> None:
    classes = _event_classes()
    assert {c.__name__ for c in classes} >= {"RunStarted", "LogLine", "FileProgress", "DatasetFinished"}
    kinds = [c.kind for c in classes]
    assert len(kinds) == len(set(kinds)), kinds
    sample = delivery_events.ChecksChanged("d", "u", ("a",), (), ("b",), ())
    data = json.loads(sample.to_json())
    assert list(data)[:2] == ["event", "at"] and data["event"] == "checks_changed"
    assert data["passed"] == ["b"] and isinstance(data["at"], float)
    run_event = events.StepFinished(step="s", status="done", duration=1.0)
    assert list(run_event.to_dict())[:2] == ["event", "at"]


def _is_event_renderer(node: ast.ClassDef) -> bool:
    """A ``*Renderer`` class that is called with events (not, say, a tile renderer)."""
    calls = any(isinstance(item, ast.FunctionDef) and item.name == "__call__" for item in node.body)
    return node.name.endswith("Renderer") and calls


def test_event_renderers_live_in_render_only_and_have_distinct_names() -> None:
    where: dict[str, list[str]] = {}
    for path in sorted((ROOT / "gpf_flow").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and _is_event_renderer(node):
                where.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert {"ConsoleRenderer", "DeliveryRenderer", "JsonLinesRenderer"} <= set(where)
    for name, paths in where.items():
        assert len(paths) == 1, f"{name} is defined in {paths}"
        assert paths[0].startswith("gpf_flow/render/"), f"{name} lives in {paths[0]}"
