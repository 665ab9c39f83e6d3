"""The catalog of reusable workflows shipped inside the package.

The files live in ``gpf_flow/workflows/`` (so they are package data, found in a wheel or an
editable install alike); the repository's ``workflows/`` is a symlink to that folder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gpf_flow.errors import UsageError

SUFFIX = ".jsonc"


@dataclass(frozen=True)
class CatalogEntry:
    """One catalog workflow: its name (file stem), file, title and description."""

    name: str
    path: Path
    title: str
    description: str


def catalog_dir() -> Path:
    """The folder holding the catalog's ``*.jsonc`` files."""
    return Path(str(resources.files("gpf_flow").joinpath("workflows")))


def _files() -> list[Path]:
    """The catalog's workflow files, sorted by name."""
    folder = catalog_dir()
    return sorted(folder.glob(f"*{SUFFIX}"), key=lambda file: file.stem) if folder.is_dir() else []


def names() -> list[str]:
    """Names of the catalog workflows, sorted."""
    return [file.stem for file in _files()]


def _entry(path: Path) -> CatalogEntry:
    from gpf_flow.workflow.jsonc import JsoncSyntaxError, parse_jsonc

    try:
        document, _ = parse_jsonc(path.read_text(encoding="utf-8"))
    except JsoncSyntaxError:
        document = {}
    document = document if isinstance(document, dict) else {}
    return CatalogEntry(
        name=path.stem,
        path=path,
        title=str(document.get("title", "")),
        description=str(document.get("description", "")),
    )


def find_path(name: str) -> Path | None:
    """The file of the catalog workflow ``name`` (with or without ``.jsonc``), or None.

    A name holding a path separator is never a catalog name (it could point outside the catalog).
    """
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    if not stem or "/" in stem or "\\" in stem:
        return None
    path = catalog_dir() / f"{stem}{SUFFIX}"
    return path if path.is_file() else None


def find(name: str) -> CatalogEntry | None:
    """The entry called ``name`` (with or without ``.jsonc``), or None."""
    path = find_path(name)
    return _entry(path) if path is not None else None


def get(name: str) -> CatalogEntry:
    """The entry called ``name``; :class:`UsageError` naming the close ones when there is none."""
    entry = find(name)
    if entry is None:
        from gpf_flow.workflow.locate import did_you_mean

        available = names()
        raise UsageError(
            f"no catalog workflow named `{name}`{did_you_mean(name, available)}",
            hint="available: " + ", ".join(available) + " (see `gpf-flow catalog list`)",
        )
    return entry


def entries() -> list[CatalogEntry]:
    """Every catalog workflow, sorted by name."""
    return [_entry(file) for file in _files()]


def copy_to(name: str, destination: str | Path | None = None, *, overwrite: bool = False) -> Path:
    """Write the catalog workflow ``name`` to ``destination`` (a file or a folder; default: ./NAME.jsonc).

    Refuses to overwrite an existing file unless ``overwrite``.
    """
    entry = get(name)
    target = Path(destination) if destination is not None else Path(entry.path.name)
    if target.is_dir():
        target = target / entry.path.name
    if target.exists() and not overwrite:
        raise UsageError(f"{target} already exists", hint="choose another path with -o, or use --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(entry.path, target)
    return target
