"""md5 files of a delivery: compute, read, write and verify them.

An md5 file has one ``<md5hex>  <path>`` line per data file, ``path`` being the file's path in
the upload (``<data_dir>/<file>``), as ``md5sum`` writes and the official SDK generates.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gpf_flow.errors import GpfFlowError

_CHUNK = 1 << 20
_LINE = re.compile(r"^(?P<md5>[0-9a-fA-F]{32}) [ *](?P<path>.+)$")


class Md5Error(GpfFlowError):
    """An md5 file is malformed or does not match the data it lists."""


def md5_of(path: Path) -> str:
    """The hex md5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def md5_lines(text: str) -> Iterator[tuple[int, str, tuple[str, str] | None]]:
    """``(line number, line, (path, md5) or None if malformed)`` of each line that is not blank
    or a ``#`` comment; paths lose a leading ``./``, checksums are lower-cased."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        entry = None
        if match is not None:
            entry = (match.group("path").strip().removeprefix("./"), match.group("md5").lower())
        yield number, line, entry


def read_md5_file(path: Path) -> dict[str, str]:
    """``{path in the upload: md5}`` from an md5 file; a malformed line is an error naming it."""
    entries: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise Md5Error(
            f"{path}: not a text md5 file (byte {exc.start} is not UTF-8)",
            hint="write it as UTF-8 '<md5>  <path>' lines, or delete it so that gpf-flow generates it",
        ) from None
    except IsADirectoryError:
        raise Md5Error(
            f"{path}: is a folder, not an md5 file",
            hint="rename or remove that folder: the md5 file of a delivery must be a file",
        ) from None
    except OSError as exc:
        raise Md5Error(f"cannot read the md5 file {path}: {exc.strerror or exc}") from None
    for number, line, entry in md5_lines(text):
        if entry is None:
            raise Md5Error(
                f"{path}: line {number} is not '<md5>  <path>': {line[:80]!r}",
                hint="each line must be a 32-digit md5, two spaces, then the file's path",
            )
        entries[entry[0]] = entry[1]
    return entries


def write_md5_file(path: Path, files: Mapping[str, Path]) -> Path:
    """Write ``<md5>  <remote path>`` lines, sorted by remote path, for ``{remote: local}``."""
    lines = [f"{md5_of(local)}  {remote}\n" for remote, local in sorted(files.items())]
    try:
        path.write_text("".join(lines), encoding="utf-8")
    except OSError as exc:
        raise Md5Error(
            f"cannot write the md5 file {path}: {exc.strerror or exc}",
            hint="free some space or fix the folder's permissions, or write the md5 file yourself",
        ) from None
    return path


@dataclass(frozen=True)
class Md5Problem:
    """One difference between an md5 file and the data."""

    remote_path: str
    what: str


def compare_md5(expected: Mapping[str, str], files: Mapping[str, Path]) -> list[Md5Problem]:
    """Every difference between the listed checksums and the files ``{remote: local}``."""
    problems: list[Md5Problem] = []
    for remote, local in sorted(files.items()):
        listed = expected.get(remote)
        if listed is None:
            problems.append(Md5Problem(remote, "not listed in the md5 file"))
            continue
        actual = md5_of(local)
        if actual != listed:
            what = f"md5 mismatch: the md5 file says {listed}, the file has {actual}"
            problems.append(Md5Problem(remote, what))
    for remote in sorted(set(expected) - set(files)):
        problems.append(Md5Problem(remote, "listed in the md5 file but missing from the data folder"))
    return problems


def verify_md5_file(md5_file: Path, files: Mapping[str, Path]) -> None:
    """Raise :class:`Md5Error` naming every file that does not match ``md5_file``."""
    problems = compare_md5(read_md5_file(md5_file), files)
    if problems:
        details = "; ".join(f"{p.remote_path}: {p.what}" for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise Md5Error(
            f"{md5_file} does not match the data: {details}{more}",
            hint=f"fix the data, or delete {md5_file.name} so that gpf-flow generates it again",
        )
