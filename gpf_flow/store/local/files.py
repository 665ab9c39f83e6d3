"""File operations of the local store: receiving files atomically and listing upload trees."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from gpf_flow.errors import BadRequestError
from gpf_flow.store.base import ProgressCallback
from gpf_flow.store.local.paths import is_reserved, temp_name

CHUNK = 1024 * 1024


def receive_file(source: Path, target: Path, progress: ProgressCallback | None = None) -> int:
    """Copy ``source`` to ``target`` through a temporary file renamed at the end (a reader never
    sees half a file; an interrupted copy leaves only a hidden temporary). Returns the size."""
    source = Path(source)
    if not source.is_file():
        raise BadRequestError(f"cannot send {source}: no such file", hint="check the file path")
    if target.is_dir():
        raise BadRequestError(f"{target.name!r} is already a directory in this folder; choose another path")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / temp_name(f"part-{uuid.uuid4().hex}")
    size = 0
    try:
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(CHUNK):
                dst.write(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(len(chunk))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return size


def tree(root: Path) -> list[dict[str, Any]]:
    """``GET uploads/{id}/tree``: directories first then files, each sorted by name."""
    if not root.is_dir():
        return []
    return _nodes(root)


def _nodes(folder: Path) -> list[dict[str, Any]]:
    dirs: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if is_reserved(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            children = _nodes(Path(entry.path))
            dirs.append(
                {
                    "type": "DIRECTORY",
                    "name": entry.name,
                    "size": sum(c["size"] for c in children),
                    "children": children,
                }
            )
        elif entry.is_file(follow_symlinks=False):
            files.append(
                {"type": "FILE", "name": entry.name, "size": int(entry.stat(follow_symlinks=False).st_size)}
            )
    return dirs + files


def prune_empty_dirs(path: Path, root: Path) -> None:
    """Remove the empty folders from ``path`` up to (not including) ``root``."""
    current = path
    root = root.resolve()
    while current.resolve() != root and root in current.resolve().parents:
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent


def remove_partials(root: Path) -> None:
    """Remove the temporary files left by interrupted pushes."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not is_reserved(d)]
        for name in filenames:
            if is_reserved(name):
                Path(dirpath, name).unlink(missing_ok=True)
