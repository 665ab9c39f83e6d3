"""md5 files: generation, verification and mismatch errors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpf_flow.delivery.md5 import Md5Error, md5_of, read_md5_file, verify_md5_file, write_md5_file


def test_delivery_md5_write_read_verify(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    a, b = tmp_path / "d" / "a.bin", tmp_path / "d" / "b.bin"
    a.write_bytes(b"hello")
    b.write_bytes(b"\x00" * (3 * 1024 * 1024))  # spans several read chunks
    md5_file = write_md5_file(tmp_path / "d.md5", {"d/b.bin": b, "d/a.bin": a})
    assert md5_file.read_text().splitlines() == [
        "5d41402abc4b2a76b9719d911017c592  d/a.bin",
        f"{md5_of(b)}  d/b.bin",
    ]
    assert read_md5_file(md5_file) == {"d/a.bin": "5d41402abc4b2a76b9719d911017c592", "d/b.bin": md5_of(b)}
    verify_md5_file(md5_file, {"d/a.bin": a, "d/b.bin": b})


def test_delivery_md5_mismatch_names_the_file(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text("one")
    md5_file = write_md5_file(tmp_path / "x.md5", {"x/a.txt": a})
    a.write_text("two")
    with pytest.raises(Md5Error) as info:
        verify_md5_file(md5_file, {"x/a.txt": a})
    assert "x/a.txt: md5 mismatch" in str(info.value)
    assert "x.md5" in str(info.value)


def test_delivery_md5_unlisted_and_missing(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text("one")
    md5_file = tmp_path / "x.md5"
    md5_file.write_text(f"{md5_of(a)}  x/gone.txt\n")
    with pytest.raises(Md5Error) as info:
        verify_md5_file(md5_file, {"x/a.txt": a})
    assert "x/a.txt: not listed" in str(info.value)
    assert "x/gone.txt: listed in the md5 file but missing" in str(info.value)


def test_delivery_md5_malformed_line(tmp_path: Path) -> None:
    md5_file = tmp_path / "x.md5"
    md5_file.write_text("0123  short\n")
    with pytest.raises(Md5Error, match="line 1"):
        read_md5_file(md5_file)
