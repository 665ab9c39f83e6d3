"""Damaged or mislabelled data: the checks read what integration reads and say what is wrong."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest
from hostile_helpers import assert_clean, gpf_flow

from gpf_flow.checks import raster_check, vector_check
from gpf_flow.checks.base import CheckContext
from gpf_flow.datasets import write_dataset


def _context(root: Path, upload_type: str, srs: str = "EPSG:2154") -> tuple[CheckContext, list[str]]:
    lines: list[str] = []
    files = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix not in (".jsonc", ".sld", ".md5")
    )
    context = CheckContext(
        upload={"type": upload_type, "srs": srs, "name": "T"},
        root=root,
        files=files,
        md5_files=[],
        log=lines.append,
        is_aborted=lambda: False,
    )
    return context, lines


def _errors(lines: list[str]) -> str:
    return "\n".join(line for line in lines if "ERROR" in line)


@pytest.fixture
def vector(tmp_path: Path) -> Path:
    return write_dataset("vector-sample", tmp_path)


@pytest.mark.parametrize("seed", range(8))
def test_random_dbf_fails_the_check(vector: Path, seed: int) -> None:
    # some random tables make GDAL fail before any attribute is read: the .dbf is named anyway
    (vector / "ZONES" / "ZONES.dbf").write_bytes(random.Random(seed).randbytes(4000))
    context, lines = _context(vector, "VECTOR")
    assert vector_check.run(context) is False
    assert "ZONES.dbf" in _errors(lines)


def test_dbf_with_an_undecodable_number_fails(vector: Path) -> None:
    table = vector / "ZONES" / "ZONES.dbf"
    data = bytearray(table.read_bytes())
    header_length, record_length = struct.unpack("<HH", data[8:12])
    # the first numeric field of the second record gets letters
    offset, start = 1, 32
    while data[start] != 0x0D and chr(data[start + 11]) not in "NF":
        offset += data[start + 16]
        start += 32
    assert data[start] != 0x0D, "the sample has a numeric field"
    position = header_length + record_length + offset
    data[position : position + 3] = b"abc"
    table.write_bytes(bytes(data))
    context, lines = _context(vector, "VECTOR")
    assert vector_check.run(context) is False
    assert "record 2" in _errors(lines) and "does not decode" in _errors(lines)


def test_truncated_dbf_fails(vector: Path) -> None:
    table = vector / "ZONES" / "ZONES.dbf"
    table.write_bytes(table.read_bytes()[:-50])
    context, lines = _context(vector, "VECTOR")
    assert vector_check.run(context) is False
    assert "truncated" in _errors(lines)


def test_declared_srs_must_match_the_vector_data(vector: Path) -> None:
    context, lines = _context(vector, "VECTOR", srs="EPSG:4326")
    assert vector_check.run(context) is False
    assert "the data is in EPSG:2154, the upload declares EPSG:4326" in _errors(lines)
    context, lines = _context(vector, "VECTOR", srs="EPSG:2154")
    assert vector_check.run(context) is True, lines


def test_declared_srs_must_match_the_raster_data(tmp_path: Path) -> None:
    folder = write_dataset("raster-sample", tmp_path)
    context, lines = _context(folder, "RASTER", srs="EPSG:4326")
    assert raster_check.run(context) is False
    assert "the upload declares EPSG:4326" in _errors(lines)


def test_known_sidecars_pass_and_unknown_files_are_named(vector: Path) -> None:
    for suffix in (".cpg", ".qix", ".sbn", ".sbx", ".shp.xml"):
        (vector / "ZONES" / f"ZONES{suffix}").write_bytes(b"UTF-8" if suffix == ".cpg" else b"\0" * 8)
    context, lines = _context(vector, "VECTOR")
    assert vector_check.run(context) is True, lines
    (vector / "ZONES" / "notes.exe").write_bytes(b"MZ")
    context, lines = _context(vector, "VECTOR")
    assert vector_check.run(context) is False
    assert "ZONES/notes.exe: not a vector file" in _errors(lines)


@pytest.mark.slow
def test_upload_with_a_random_dbf_ends_unstable(tmp_path: Path) -> None:
    folder = write_dataset("vector-sample", tmp_path / "data")
    (folder / "ZONES" / "ZONES.dbf").write_bytes(os.urandom(4000))
    for md5 in folder.glob("*.md5"):
        md5.unlink()  # generated again for the damaged data
    outcome = gpf_flow(
        "upload", "-f", str(folder / "upload_descriptor.jsonc"), "--home", str(tmp_path / "home")
    )
    assert_clean(outcome, 1, "UNSTABLE")
