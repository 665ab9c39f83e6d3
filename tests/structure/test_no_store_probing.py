"""Nothing outside gpf_flow/store/ probes a store for what it is: it uses the seam's protocols."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBES = re.compile(r"getattr\(store|hasattr\(store|kind == \"local\"|isinstance\([^)]*LocalStore")


def probes_in(package: Path) -> list[str]:
    """``file:line: text`` of every store probe in ``package`` outside its ``store`` folder."""
    found = []
    for path in sorted(package.rglob("*.py")):
        if "store" in path.relative_to(package).parts[:1]:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if PROBES.search(line):
                found.append(f"{path.relative_to(package.parent)}:{number}: {line.strip()}")
    return found


def test_no_store_is_probed_outside_the_store_package() -> None:
    assert probes_in(ROOT / "gpf_flow") == []


def test_the_probe_check_finds_a_probe(tmp_path: Path) -> None:
    package = tmp_path / "gpf_flow"
    (package / "engine").mkdir(parents=True)
    (package / "engine" / "x.py").write_text('home = getattr(store, "home", None)\n', encoding="utf-8")
    (package / "store").mkdir()
    (package / "store" / "y.py").write_text('ok = getattr(store, "home", None)\n', encoding="utf-8")
    assert probes_in(package) == ['gpf_flow/engine/x.py:1: home = getattr(store, "home", None)']
