"""The package import rules hold (see README.md, Architecture), and the checker does catch breaks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from import_rules import RULES, check, imports_of

ROOT = Path(__file__).resolve().parents[2]


def test_gpf_flow_follows_the_import_rules() -> None:
    violations, stale = check(ROOT)
    assert [str(v) for v in violations] == []
    assert stale == [], "an allowed exception no longer occurs: remove it from the rule"


@pytest.mark.parametrize(
    ("module", "text", "rule"),
    [
        ("gpf_flow.store.local.store", "from gpf_flow.cli.common import console", "never imports the CLI"),
        ("gpf_flow.engine.runner", "from gpf_flow.render.console import ConsoleRenderer", "engine never"),
        ("gpf_flow.engine.runner", "def f():\n    from gpf_flow.store.local import LocalStore", "engine"),
        ("gpf_flow.engine.runner", "from gpf_flow.store import open_store", "engine never"),
        ("gpf_flow.actions.base", "from gpf_flow.store.geoplateforme.store import X", "actions import only"),
        ("gpf_flow.actions.base", "from gpf_flow.processings import base", "actions import only"),
        ("gpf_flow.resolve.resolvers", "import gpf_flow.store.local.records", "resolve imports only"),
        ("gpf_flow.serve.api", "from gpf_flow.store.local.jobs import Dispatcher", "serve depends"),
        ("gpf_flow.serve.api", "from ..store.local import core", "serve depends"),
    ],
)
def test_the_checker_catches_a_module_that_breaks_a_rule(
    tmp_path: Path, module: str, text: str, rule: str
) -> None:
    shutil.copytree(ROOT / "gpf_flow", tmp_path / "gpf_flow", ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / Path(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + text + "\n", encoding="utf-8")
    violations, _stale = check(tmp_path)
    assert len(violations) == 1, violations
    (found,) = violations
    assert found.importer == module and rule in found.rule


def test_an_exception_that_no_longer_occurs_is_reported(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "gpf_flow", tmp_path / "gpf_flow", ignore=shutil.ignore_patterns("__pycache__"))
    app = tmp_path / "gpf_flow" / "serve" / "app.py"
    text = app.read_text(encoding="utf-8")
    app.write_text(text.replace("from gpf_flow.store.local import", "from x import"), encoding="utf-8")
    _violations, stale = check(tmp_path)
    assert stale == ["gpf_flow.serve.app -> gpf_flow.store.local (" + RULES[-1].name + ")"]


def test_from_imports_resolve_to_modules_or_their_package() -> None:
    known = {"gpf_flow", "gpf_flow.events", "gpf_flow.store", "gpf_flow.store.base", "gpf_flow.store.local"}
    text = "from gpf_flow import events, run\nfrom . import base\nfrom .local import LocalStore\n"
    found = set(imports_of("gpf_flow.store.follow", text, known))
    assert found == {"gpf_flow.events", "gpf_flow", "gpf_flow.store.base", "gpf_flow.store.local"}
