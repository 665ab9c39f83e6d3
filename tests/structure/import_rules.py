"""The import rules of gpf-flow's packages, and a small AST checker that enforces them.

Every ``import`` in a module counts, wherever it is written (module level, inside a function,
under ``TYPE_CHECKING``): a lazy import is still a dependency. Imports of third-party modules
are not looked at. README.md's Architecture section states the same rules for people.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "gpf_flow"

NEUTRAL = ("=gpf_flow", "gpf_flow.errors", "gpf_flow.events")
"""Modules any package may import: the root package (its names are lazy), errors, events."""

SEAM = ("gpf_flow.store.base", "gpf_flow.store.ops", "gpf_flow.store.views", "gpf_flow.store.follow")
"""The store seam: the ``Store`` protocol, its typed operations and the store-agnostic helpers."""

CONCRETE_STORES = ("gpf_flow.store.local", "gpf_flow.store.geoplateforme", "=gpf_flow.store")
"""The stores themselves, and ``gpf_flow.store`` (``open_store``, which builds them)."""


@dataclass(frozen=True)
class Rule:
    """``sources`` may not import ``forbidden``, or, when ``allowed`` is given, anything else.

    A pattern is a module and its submodules (``gpf_flow.store.local``), or one module exactly
    when it starts with ``=`` (``=gpf_flow.store``). ``exceptions`` are (importer, imported)
    pairs allowed on purpose, each with the reason; one that no longer occurs is reported, so
    that the list only shrinks.
    """

    name: str
    sources: tuple[str, ...]
    forbidden: tuple[str, ...] = ()
    allowed: tuple[str, ...] | None = None
    excluded: tuple[str, ...] = ()
    """Modules among ``sources`` that the rule does not cover."""
    exceptions: dict[tuple[str, str], str] = field(default_factory=dict)

    def covers(self, module: str) -> bool:
        """Whether the rule applies to ``module`` as an importer."""
        return matches(module, self.sources) and not matches(module, self.excluded)

    def breaks(self, importer: str, imported: str) -> bool:
        """Whether ``importer`` importing ``imported`` breaks the rule (exceptions aside)."""
        if not imported.startswith(PACKAGE) or not self.covers(importer):
            return False
        if matches(imported, self.forbidden):
            return True
        return self.allowed is not None and not matches(imported, self.allowed)


RULES = (
    Rule(
        "the library never imports the CLI",
        sources=(PACKAGE,),
        excluded=("gpf_flow.cli", "gpf_flow.__main__"),
        forbidden=("gpf_flow.cli",),
    ),
    Rule(
        "the engine never imports render, serve or a concrete store",
        sources=("gpf_flow.engine",),
        forbidden=("gpf_flow.render", "gpf_flow.serve", *CONCRETE_STORES),
    ),
    Rule(
        "actions import only the seam (and neutral modules)",
        sources=("gpf_flow.actions",),
        allowed=("gpf_flow.actions", *SEAM, *NEUTRAL),
    ),
    Rule(
        "resolve imports only the seam (and neutral modules)",
        sources=("gpf_flow.resolve",),
        allowed=("gpf_flow.resolve", *SEAM, *NEUTRAL),
    ),
    Rule(
        "serve depends on the seam, not on the local store's internals",
        sources=("gpf_flow.serve",),
        forbidden=CONCRETE_STORES,
        exceptions={
            ("gpf_flow.serve.app", "gpf_flow.store.local"): (
                "composition point: map_renderer opens the LocalStore of each map pool "
                "process of `serve --workers N`"
            ),
        },
    ),
)


def matches(module: str, patterns: Iterable[str]) -> bool:
    """Whether ``module`` is one of the patterns (``=x``: exactly x; ``x``: x or below it)."""
    for pattern in patterns:
        if pattern.startswith("="):
            if module == pattern[1:]:
                return True
        elif module == pattern or module.startswith(pattern + "."):
            return True
    return False


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package under ``root`` (the folder holding ``gpf_flow/``), by name."""
    names = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports_of(module: str, source: str, known: Iterable[str], *, is_package: bool = False) -> Iterator[str]:
    """The gpf-flow modules that ``source`` (the text of ``module``) imports.

    ``from a import b`` imports ``a.b`` when that is a module of ``known``, else ``a``.
    """
    known = set(known)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                child = f"{target}.{alias.name}"
                yield child if child in known else target


@dataclass(frozen=True)
class Violation:
    """One import that breaks a rule."""

    rule: str
    importer: str
    imported: str

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported}: {self.rule}"


def check(root: Path, rules: Iterable[Rule] = RULES) -> tuple[list[Violation], list[str]]:
    """(violations, stale exceptions) for the package under ``root``."""
    rules = list(rules)
    names = module_names(root)
    violations: list[Violation] = []
    used: set[tuple[str, str]] = set()
    for module, path in names.items():
        text = path.read_text(encoding="utf-8")
        for imported in set(imports_of(module, text, names, is_package=path.name == "__init__.py")):
            for rule in rules:
                if not rule.breaks(module, imported):
                    continue
                if (module, imported) in rule.exceptions:
                    used.add((module, imported))
                else:
                    violations.append(Violation(rule.name, module, imported))
    stale = [
        f"{importer} -> {imported} ({rule.name})"
        for rule in rules
        for importer, imported in rule.exceptions
        if (importer, imported) not in used
    ]
    return sorted(violations, key=str), stale
