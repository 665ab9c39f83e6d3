"""Nothing outside tests/ refers to ../shared: a user's clone does not have it (docs/ does the job)."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"\.\./shared\b|\bshared/(spec|design|data)\b")
SKIPPED_DIRS = {"tests", "build", "__pycache__", "node_modules"}


def shared_references(root: Path) -> list[str]:
    """``path:line`` of every reference to the shared reference folder, tests/ and tooling aside."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [
            d
            for d in dirs
            if d not in SKIPPED_DIRS and not d.endswith(".egg-info") and (not d.startswith(".") or d == ".ci")
        ]
        for name in files:
            path = Path(folder, name)
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue  # binary data
            for number, line in enumerate(text.splitlines(), start=1):
                if REFERENCE.search(line):
                    found.append(f"{path.relative_to(root)}:{number}")
    return found


def test_nothing_outside_tests_refers_to_shared() -> None:
    assert shared_references(ROOT) == []


def test_the_docs_the_code_cites_exist() -> None:
    for name in ("workflow-format.md", "entrepot-api.md"):
        assert (ROOT / "docs" / name).is_file(), name
    cited = set()
    for path in (ROOT / "gpf_flow").rglob("*.py"):
        cited |= set(re.findall(r"docs/([\w-]+\.md) §([\d.]+)", path.read_text(encoding="utf-8")))
    assert cited, "the code cites docs/ sections"
    for name, section in cited:
        headings = re.findall(
            r"^#+ (\d+(?:\.\d+)*)\.? ", (ROOT / "docs" / name).read_text(encoding="utf-8"), re.M
        )
        assert section in headings, f"docs/{name} has no section {section}"


def test_the_check_finds_a_reference(tmp_path: Path) -> None:
    (tmp_path / "gpf_flow").mkdir()
    (tmp_path / "gpf_flow" / "m.py").write_text('"""See ../shared/spec/entrepot-api.md."""\n')
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text("SPEC = '../shared/spec/entrepot-dtos.json'\n")
    assert shared_references(tmp_path) == ["gpf_flow/m.py:1"]
