"""Fixtures of the workflow tests (helpers live in ``workflow_helpers.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write text (or a document as JSON) to ``tmp_path/name`` and return the path."""

    def _write(content: str | Mapping[str, Any], name: str = "wf.jsonc") -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else json.dumps(content, indent=2, ensure_ascii=False)
        path.write_text(text, encoding="utf-8")
        return path

    return _write
