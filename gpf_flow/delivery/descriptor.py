"""Upload descriptors: read a JSON/JSONC descriptor in the official SDK format and validate it.

The format: ``datasets[]`` (each an upload: ``data_dirs``, ``upload_infos`` {name, description,
srs, type}, ``comments``, ``tags``) and ``static[]`` (files such as SLD styles: ``file``,
``name``, ``type``, ``description``). Validation uses the JSON schema shipped next to this module;
errors give the path of the bad key (``datasets[0].upload_infos.nmae``) and suggest close keys.
Paths are relative to the descriptor's folder and may not leave it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from gpf_flow.errors import GpfFlowError

SCHEMA_FILE = Path(__file__).with_name("upload_descriptor.schema.json")


class DescriptorError(GpfFlowError):
    """The upload descriptor is unreadable, invalid, or points at files that are not there."""


@dataclass(frozen=True)
class LocalFile:
    """One file to send: where it is, and the path it gets in the upload."""

    local: Path
    remote: str
    size: int


@dataclass(frozen=True)
class DatasetSpec:
    """One ``datasets[]`` entry: one upload."""

    index: int
    data_dirs: tuple[str, ...]
    upload_infos: dict[str, Any]
    comments: tuple[str, ...]
    tags: dict[str, str]
    root: Path
    """The descriptor's folder; ``data_dirs`` are relative to it."""

    @property
    def name(self) -> str:
        """The upload's name (``upload_infos.name``)."""
        return str(self.upload_infos["name"])

    @property
    def type(self) -> str:
        """The upload's type (``upload_infos.type``: RASTER, VECTOR, ARCHIVE...)."""
        return str(self.upload_infos["type"])

    def data_paths(self) -> list[tuple[Path, str]]:
        """``(local folder or file, data_dir as written)`` for every data_dir."""
        return [(self.root / d, d) for d in self.data_dirs]


@dataclass(frozen=True)
class StaticSpec:
    """One ``static[]`` entry: a static file (style...) to create."""

    index: int
    file: Path
    name: str
    type: str
    description: str | None = None


@dataclass(frozen=True)
class UploadDescriptor:
    """A validated descriptor."""

    path: Path
    datasets: tuple[DatasetSpec, ...] = ()
    statics: tuple[StaticSpec, ...] = field(default=())


@cache
def schema() -> dict[str, Any]:
    """The JSON schema of upload descriptors shipped with the package."""
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


def _format_path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _close(word: str, choices: Sequence[str]) -> str:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def _describe(error: Any) -> str:
    """One readable line for a jsonschema ValidationError."""
    where = _format_path(error.absolute_path)
    validator = error.validator
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        extras = [k for k in error.instance if k not in allowed]
        lines = [
            f"{_format_path([*error.absolute_path, key])}: unknown key {key!r}{_close(key, allowed)}; "
            f"allowed keys: {', '.join(allowed)}"
            for key in extras
        ]
        return "\n".join(lines)
    if validator == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else str(error.message)
        present = list(error.instance) if isinstance(error.instance, dict) else []
        similar = [k for k in present if difflib.get_close_matches(missing, [k], n=1, cutoff=0.6)]
        hint = f" (found {similar[0]!r}: misspelt?)" if similar else ""
        return f"{_format_path([*error.absolute_path, missing])}: required key is missing{hint}"
    if validator == "enum":
        choices = [str(c) for c in error.validator_value]
        return (
            f"{where}: {error.instance!r} is not one of {', '.join(choices)}"
            f"{_close(str(error.instance), choices)}"
        )
    if validator == "pattern" and isinstance(error.schema, dict) and "description" in error.schema:
        return f"{where}: {error.instance!r} is refused: {error.schema['description']}"
    if validator == "anyOf" and not error.absolute_path:
        return (
            "(top level): the descriptor needs a 'datasets' list (uploads) or a 'static' list (static files)"
        )
    return f"{where}: {error.message}"


def validate_document(document: Any, source: str = "descriptor") -> None:
    """Raise :class:`DescriptorError` listing every schema violation, each with its key path."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [_describe(e) for e in errors]
        raise DescriptorError(
            f"{source} is not a valid upload descriptor:\n  " + "\n  ".join(lines),
            hint="see the format with an example: gpf-flow dataset get vector-sample",
        )


def _confined(root: Path, relative: str, where: str, source: str) -> Path:
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        raise DescriptorError(
            f"{source}: {where} = {relative!r} must be a path relative to the descriptor's folder, "
            "without '..' or a leading '/'",
            hint=f"move the data under {root} and give its relative path",
        )
    path = root / pure
    resolved, root_resolved = path.resolve(), root.resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise DescriptorError(
            f"{source}: {where} = {relative!r} leads outside {root} (through a symbolic link)",
            hint="copy the data into the descriptor's folder instead of linking it",
        )
    if not path.exists():
        raise DescriptorError(f"{source}: {where} = {relative!r}: {path} does not exist")
    return path


def parse_descriptor(document: Any, path: Path) -> UploadDescriptor:
    """Validate a loaded document and build the descriptor; paths are checked on disk."""
    source = str(path)
    validate_document(document, source)
    root = path.parent
    datasets: list[DatasetSpec] = []
    for index, item in enumerate(document.get("datasets", [])):
        for d_index, data_dir in enumerate(item["data_dirs"]):
            _confined(root, data_dir, f"datasets[{index}].data_dirs[{d_index}]", source)
        datasets.append(
            DatasetSpec(
                index=index,
                data_dirs=tuple(item["data_dirs"]),
                upload_infos=dict(item["upload_infos"]),
                comments=tuple(item.get("comments", [])),
                tags=dict(item.get("tags", {})),
                root=root,
            )
        )
    names = [d.name for d in datasets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DescriptorError(f"{source}: several datasets have the upload name {', '.join(duplicates)}")
    statics: list[StaticSpec] = []
    for index, item in enumerate(document.get("static", [])):
        file = _confined(root, item["file"], f"static[{index}].file", source)
        if not file.is_file():
            raise DescriptorError(f"{source}: static[{index}].file = {item['file']!r} is not a file")
        statics.append(StaticSpec(index, file, item["name"], item["type"], item.get("description")))
    return UploadDescriptor(path=path, datasets=tuple(datasets), statics=tuple(statics))


def load_descriptor(path: str | Path) -> UploadDescriptor:
    """Read (JSON or JSONC, with json5) and validate an upload descriptor file."""
    from gpf_flow.workflow.jsonc import JsoncSyntaxError, parse_jsonc

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DescriptorError(f"upload descriptor {path} not found") from None
    except UnicodeDecodeError as exc:
        raise DescriptorError(
            f"cannot read upload descriptor {path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise DescriptorError(f"cannot read upload descriptor {path}: {exc.strerror or exc}") from None
    try:
        document, _ = parse_jsonc(text)
    except JsoncSyntaxError as exc:
        where = f"{path}:{exc.position}" if exc.position else str(path)
        raise DescriptorError(f"{where} is not valid JSON/JSONC: {exc.message}") from None
    return parse_descriptor(document, path)


def collect_files(dataset: DatasetSpec) -> list[LocalFile]:
    """Every data file of a dataset with its remote path ``<data_dir>/<relative path>``, sorted.

    A ``data_dirs`` entry that is a file is sent as ``<its parent in data_dir>/<name>``, as the
    official SDK does. Symbolic links leading outside the descriptor's folder are refused.
    """
    root = dataset.root.resolve()
    files: dict[str, LocalFile] = {}
    for local, data_dir in dataset.data_paths():
        clean = PurePosixPath(data_dir.replace("\\", "/"))
        candidates = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        for file in candidates:
            resolved = file.resolve()
            if root not in resolved.parents:
                raise DescriptorError(
                    f"{file} leads outside {dataset.root} (symbolic link); it cannot be sent",
                    hint="copy the file instead of linking it",
                )
            remote = (
                clean.as_posix()
                if local.is_file()
                else (clean / file.relative_to(local).as_posix()).as_posix()
            )
            remote = remote.removeprefix("./")
            files[remote] = LocalFile(local=file, remote=remote, size=file.stat().st_size)
    return [files[k] for k in sorted(files)]


def md5_path_for(dataset: DatasetSpec, data_dir: str) -> Path:
    """Where the md5 file of a data_dir lives: ``<dir>.md5`` for a folder, ``<file>.md5`` for a file."""
    local = dataset.root / data_dir
    return local.with_suffix(".md5") if local.is_dir() else local.with_name(local.name + ".md5")
