"""A workflow's DAG as Mermaid ``flowchart`` or Graphviz DOT text (and a rich tree, see ``tree``).

Nodes show the step name and its action types; edges go from parent to child. Any step name is
accepted: Mermaid gets generated node ids and entity-escaped quoted labels, DOT gets quoted and
escaped ids. ``status`` (step → done/failed/running/interrupted/pending) colours the nodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gpf_flow.safe_text import printable

if TYPE_CHECKING:
    from gpf_flow.workflow.model import Step, Workflow

FORMATS = ("tree", "mermaid", "dot")

# (fill, stroke) per status
_COLOURS: dict[str, tuple[str, str]] = {
    "done": ("#d4edda", "#28a745"),
    "failed": ("#f8d7da", "#dc3545"),
    "running": ("#fff3cd", "#ffc107"),
    "interrupted": ("#e2d9f3", "#6f42c1"),
    "pending": ("#f1f3f5", "#adb5bd"),
}
STATUSES = tuple(_COLOURS)
"""The step states the graphs colour, in the order their Mermaid classes are written."""


def action_summary(step: Step) -> str:
    """``processing-execution`` or ``configuration ×3, offering`` (types in order of appearance)."""
    counts = Counter(action.type for action in step.actions)
    parts = [f"{kind} ×{count}" if count > 1 else kind for kind, count in counts.items()]
    return ", ".join(parts) or "no action"


def _mermaid_text(text: str) -> str:
    # Mermaid labels are HTML-ish: entity codes are the documented way to write these characters.
    # `#` goes first: Mermaid reads `#name;` in a label as an entity code, so a literal one is #35;.
    # Control characters (a newline ends the node's line) are written as visible escapes first.
    text = printable(text, keep_newlines=False)
    for char, code in (("#", "#35;"), ("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text


def to_mermaid(workflow: Workflow, status: Mapping[str, str] | None = None) -> str:
    """Mermaid ``flowchart TD`` of the workflow."""
    ids = {name: f"s{index}" for index, name in enumerate(workflow.steps)}
    lines = ["flowchart TD"]
    for name, step in workflow.steps.items():
        label = f"{_mermaid_text(name)}<br/>{_mermaid_text(action_summary(step))}"
        lines.append(f'    {ids[name]}["{label}"]')
    for name, step in workflow.steps.items():
        for parent in step.parents:
            if parent in ids:
                lines.append(f"    {ids[parent]} --> {ids[name]}")
    if status:
        used = [s for s in STATUSES if s in status.values()]
        for state in used:
            fill, stroke = _COLOURS[state]
            lines.append(f"    classDef {state} fill:{fill},stroke:{stroke},color:#212529")
        for state in used:
            members = [ids[n] for n, s in status.items() if s == state and n in ids]
            if members:
                lines.append(f"    class {','.join(members)} {state}")
    return "\n".join(lines) + "\n"


def dot_quote(text: str) -> str:
    """A DOT double-quoted string (backslashes and quotes escaped, newlines as ``\\n``)."""
    text = printable(text)  # NUL, ESC... as visible escapes; newlines stay DOT's \n
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def to_dot(workflow: Workflow, status: Mapping[str, str] | None = None) -> str:
    """Graphviz DOT ``digraph`` of the workflow."""
    lines = [
        f"digraph {dot_quote(workflow.name)} {{",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
    ]
    for name, step in workflow.steps.items():
        attributes = [f"label={dot_quote(name + chr(10) + action_summary(step))}"]
        state = (status or {}).get(name)
        if state in _COLOURS:
            fill, stroke = _COLOURS[state]
            attributes += [f'fillcolor="{fill}"', f'color="{stroke}"', f"tooltip={dot_quote(state)}"]
        lines.append(f"    {dot_quote(name)} [{', '.join(attributes)}];")
    for name, step in workflow.steps.items():
        for parent in step.parents:
            lines.append(f"    {dot_quote(parent)} -> {dot_quote(name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_text(workflow: Workflow, fmt: str, status: Mapping[str, str] | None = None) -> str:
    """The graph in ``fmt`` (tree|mermaid|dot) as text (the tree without colours)."""
    if fmt == "mermaid":
        return to_mermaid(workflow, status)
    if fmt == "dot":
        return to_dot(workflow, status)
    if fmt == "tree":
        from gpf_flow.render.tree import tree_text

        return tree_text(workflow, status)
    raise ValueError(f"unknown graph format {fmt!r}; choose one of {', '.join(FORMATS)}")
