"""Archive check: CRC failures and escaping member names."""

from __future__ import annotations

import zipfile
from pathlib import Path

from gpf_flow.checks import archive_check
from gpf_flow.datasets import write_dataset


def test_checks_archive_sample_passes(tmp_path: Path, make_ctx) -> None:
    folder = write_dataset("archive-sample", tmp_path)
    ctx = make_ctx(folder, "ARCHIVE")
    assert archive_check.run(ctx.context) is True, ctx.lines
    assert any("zones.zip: 7 member(s), all intact" in line for line in ctx.lines), ctx.lines


def test_checks_archive_flipped_byte_fails_with_member_named(tmp_path: Path, make_ctx) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("keep.txt", "fine content " * 50)
        archive.writestr("data/values.csv", "x,y\n" + "1,2\n" * 500)
    data = bytearray(path.read_bytes())
    position = data.index(b"1,2\n") + 100
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))
    ctx = make_ctx(tmp_path, "ARCHIVE")
    assert archive_check.run(ctx.context) is False
    assert any("a.zip" in e and "data/values.csv" in e and "CRC" in e for e in ctx.errors), ctx.errors
    assert not any("keep.txt" in e for e in ctx.errors)


def test_checks_archive_escaping_members_fail(tmp_path: Path, make_ctx) -> None:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../outside.txt", "x")
        archive.writestr("/etc/absolute.txt", "y")
        archive.writestr("ok/inside.txt", "z")
    ctx = make_ctx(tmp_path, "ARCHIVE")
    assert archive_check.run(ctx.context) is False
    assert any("'../outside.txt' escapes" in e for e in ctx.errors), ctx.errors
    assert any("absolute" in e for e in ctx.errors), ctx.errors
    assert not any("ok/inside.txt" in e for e in ctx.errors)


def test_checks_archive_not_a_zip_fails(tmp_path: Path, make_ctx) -> None:
    (tmp_path / "fake.zip").write_bytes(b"PK not really")
    (tmp_path / "readme.txt").write_text("plain file")
    ctx = make_ctx(tmp_path, "ARCHIVE")
    assert archive_check.run(ctx.context) is False
    assert any("fake.zip: not a readable zip" in e for e in ctx.errors)


def test_checks_archive_tar_members(tmp_path: Path, make_ctx) -> None:
    import io
    import tarfile

    def add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))

    with tarfile.open(tmp_path / "good.tar.gz", "w:gz") as archive:
        add(archive, "dir/a.txt", b"a" * 1000)
    ctx = make_ctx(tmp_path, "ARCHIVE")
    assert archive_check.run(ctx.context) is True, ctx.lines
    with tarfile.open(tmp_path / "evil.tar", "w") as archive:
        add(archive, "../escape.txt", b"x")
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes((tmp_path / "good.tar.gz").read_bytes()[:-20])
    ctx = make_ctx(tmp_path, "ARCHIVE")
    assert archive_check.run(ctx.context) is False
    assert any("evil.tar" in e and "'../escape.txt' escapes" in e for e in ctx.errors), ctx.errors
    assert any("cut.tar.gz" in e and "damaged" in e for e in ctx.errors), ctx.errors
    assert not any("good.tar.gz" in e for e in ctx.errors)
