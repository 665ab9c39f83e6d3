"""Confinement of paths that come from outside (pushed paths, md5 names, static names, archive
members): they must stay inside their folder."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from gpf_flow.errors import BadRequestError

_RESERVED_PREFIX = ".gpf-"


def clean_relative(path: str, *, what: str = "path") -> PurePosixPath:
    """Check a relative POSIX path given by a client and return it normalised.

    Refuses empty paths, absolute paths (``/x``, ``C:\\x``, ``\\\\server``), ``..`` components,
    NUL bytes and names reserved for the store's temporary files."""
    if not isinstance(path, str) or not path.strip():
        raise BadRequestError(
            f"{what} is empty", hint="give a path relative to the upload, like 'dir/file.tif'"
        )
    if "\x00" in path:
        raise BadRequestError(f"{what} {path!r} contains a NUL byte")
    text = path.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise BadRequestError(
            f"{what} {path!r} is absolute; it must be relative to its folder",
            hint="remove the leading '/' or drive letter",
        )
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts:
        raise BadRequestError(f"{what} {path!r} names no file")
    if ".." in parts:
        raise BadRequestError(
            f"{what} {path!r} goes up with '..' and would leave its folder",
            hint="give a path below the folder, without '..'",
        )
    if any(p.startswith(_RESERVED_PREFIX) for p in parts):
        raise BadRequestError(f"{what} {path!r} uses the reserved prefix {_RESERVED_PREFIX!r}")
    return PurePosixPath(*parts)


def confine(root: Path, path: str, *, what: str = "path") -> Path:
    """The absolute path of ``path`` under ``root``, refusing anything that escapes it,
    including through symbolic links (resolved as far as they exist)."""
    rel = clean_relative(path, what=what)
    base = root.resolve()
    target = base.joinpath(*rel.parts)
    resolved = Path(os.path.realpath(target))
    if resolved != base and base not in resolved.parents:
        raise BadRequestError(
            f"{what} {path!r} leads outside its folder through a symbolic link (to {resolved})",
            hint="symbolic links pointing outside the upload are refused",
        )
    return target


def is_reserved(name: str) -> bool:
    """True for the store's own temporary names (hidden from trees)."""
    return name.startswith(_RESERVED_PREFIX)


def temp_name(tag: str) -> str:
    """A reserved temporary name."""
    return f"{_RESERVED_PREFIX}{tag}"
