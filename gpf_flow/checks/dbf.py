"""The dBASE attribute table of a shapefile, read as integration will: header, field
descriptors, and every record with the declared length and decodable values.

GDAL opens a shapefile whose ``.dbf`` is damaged without its attributes (or with NULLs) and
integration then reports success with every attribute lost, so the check reads the table itself.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_FIELD_TYPES = frozenset(b"CNFLDMBGPYTIO@+0V")
_NUMBER = re.compile(rb"^\s*(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|\*+|-+)?\s*$")
_DATE = re.compile(rb"^(?:\d{8}|\s{8}|0{8})$")
_LOGICAL = frozenset(b"YyNnTtFf? ")
_CHUNK_RECORDS = 4096


@dataclass(frozen=True)
class DbfField:
    """One field descriptor."""

    name: str
    type: str
    length: int
    offset: int


def _fields(header: bytes) -> tuple[list[DbfField], list[str]]:
    fields: list[DbfField] = []
    problems: list[str] = []
    offset = 1  # the deletion flag
    for start in range(32, len(header) - 31, 32):
        if header[start] == 0x0D:
            break
        raw = header[start : start + 32]
        name = raw[:11].split(b"\0", 1)[0].decode("latin-1").strip()
        kind, length = raw[11], raw[16]
        if kind not in _FIELD_TYPES or not name:
            problems.append(f"field descriptor #{len(fields) + 1} is not valid (type byte {kind:#04x})")
            return fields, problems
        fields.append(DbfField(name, chr(kind), length, offset))
        offset += length
    return fields, problems


def dbf_field_count(path: Path) -> int | None:
    """How many fields the table's header declares (None when the header is unreadable)."""
    with path.open("rb") as handle:
        head = handle.read(32)
        if len(head) < 32:
            return None
        header_length = struct.unpack("<H", head[8:10])[0]
        fields, problems = _fields(head + handle.read(max(0, header_length - 32)))
    return None if problems else len(fields)


def dbf_problems(path: Path, expected_records: int | None = None) -> Iterator[str]:
    """Every problem of the table at ``path`` (header, field count, record count and values)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(32)
        if len(head) < 32:
            yield f"{path.name}: {size} bytes, too short for a dBASE header (32 bytes)"
            return
        records, header_length, record_length = struct.unpack("<IHH", head[4:12])
        if header_length < 33 or header_length > size:
            yield f"{path.name}: not a dBASE table (header length {header_length} for a {size}-byte file)"
            return
        header = head + handle.read(header_length - 32)
        fields, problems = _fields(header)
        yield from (f"{path.name}: {p}" for p in problems)
        if problems:
            return
        declared = 1 + sum(f.length for f in fields)
        if declared != record_length:
            yield (
                f"{path.name}: the header says records of {record_length} bytes but its {len(fields)} "
                f"field(s) take {declared}"
            )
            return
        if header_length + records * record_length > size:
            yield (
                f"{path.name}: the header announces {records} records of {record_length} bytes, "
                f"the file is too short for them (truncated)"
            )
            return
        if expected_records is not None and records != expected_records:
            yield f"{path.name}: {records} attribute records for {expected_records} shapes"
        handle.seek(header_length)
        yield from _record_problems(handle, path.name, fields, records, record_length)


def _record_problems(
    handle: BinaryIO, name: str, fields: list[DbfField], records: int, length: int
) -> Iterator[str]:
    read = handle.read
    number = 0
    while number < records:
        count = min(_CHUNK_RECORDS, records - number)
        chunk = read(count * length)
        for index in range(count):
            record = chunk[index * length : (index + 1) * length]
            if record[0] not in (0x20, 0x2A):
                yield f"{name}: record {number + index + 1} starts with {record[0]:#04x}, not a record flag"
                continue
            for field in fields:
                value = record[field.offset : field.offset + field.length]
                if not _decodes(field.type, value):
                    yield (
                        f"{name}: record {number + index + 1}, field {field.name} ({field.type}): "
                        f"{value[:30]!r} does not decode"
                    )
        number += count


def _decodes(kind: str, value: bytes) -> bool:
    if kind in "NF":
        return _NUMBER.match(value) is not None
    if kind == "D":
        return _DATE.match(value) is not None
    if kind == "L":
        return len(value) == 1 and value[0] in _LOGICAL
    return True
