"""Turn a JSON path into a place people can find: ``file:line:col: steps.a.actions[0].type``."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

from gpf_flow.errors import WorkflowError
from gpf_flow.workflow.jsonc import JsonPath, Position, Positions, scan_positions

_PLAIN_KEY = re.compile(r"^[^.\[\]\"\s]+$")


def format_path(path: Iterable[str | int]) -> str:
    """Human form of a JSON path; ``workflow.steps.X`` is shortened to ``steps.X``.

    >>> format_path(("workflow", "steps", "publication-wms", "actions", 0, "body_parameters"))
    'steps.publication-wms.actions[0].body_parameters'
    """
    parts = tuple(path)
    if parts[:2] == ("workflow", "steps"):
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += '["' + part.replace('"', '\\"') + '"]'
    return text or "(document root)"


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to ``word`` (difflib), or None when nothing is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean `x`?)`` or an empty string."""
    match = suggest(word, candidates)
    return f" (did you mean `{match}`?)" if match else ""


class Source:
    """The workflow text and its file name; positions are scanned only when first needed."""

    def __init__(self, text: str, path: Path | None) -> None:
        self.text = text
        self.path = path
        self.renamed: dict[JsonPath, JsonPath] = {}
        """Paths whose last key was rendered by Jinja2 → the same path as written in the text."""

    @property
    def label(self) -> str:
        """The file name shown in messages."""
        return str(self.path) if self.path else "<text>"

    @cached_property
    def positions(self) -> Positions:
        """Key and value positions of the whole text."""
        return scan_positions(self.text)

    def position(self, path: Sequence[str | int]) -> Position | None:
        """Position of ``path`` (or of its nearest ancestor found in the text).

        ``path`` may use rendered key names (a step named ``conf-{{ layer }}`` is ``conf-zones``
        after loading): they are mapped back to the text's keys first.
        """
        written = tuple(path)
        if self.renamed:
            for end in range(len(written), 0, -1):
                original = self.renamed.get(written[:end])
                if original is not None:
                    written = (*original, *written[end:])
                    break
        return self.positions.of(written)

    def where(self, path: JsonPath | None = None, position: Position | None = None) -> str:
        """``file:line:col: json.path`` (parts omitted when unknown)."""
        if position is None and path is not None:
            position = self.position(path)
        head = f"{self.label}:{position}" if position else self.label
        return f"{head}: {format_path(path)}" if path is not None else head

    def error(
        self,
        message: str,
        path: JsonPath | None = None,
        *,
        hint: str | None = None,
        position: Position | None = None,
    ) -> WorkflowError:
        """A :class:`WorkflowError` located at ``path``."""
        return WorkflowError(f"{self.where(path, position)}: {message}", hint=hint)
