"""Archive copy: files and sizes, zip CRC and path-traversal checks."""

from __future__ import annotations

import zipfile

import pytest

from gpf_flow.processings import archive
from gpf_flow.processings.base import ProcessingFailed

ARCHIVE = {"name": "A", "type": "ARCHIVE", "srs": "EPSG:2154"}


def make_zip(path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def test_files_are_copied_with_sizes(make_ctx, tmp_path) -> None:
    up = tmp_path / "upload"
    payload = {"CANTON/CANTON.shp": b"x" * 5000, "CANTON/CANTON.dbf": b"y" * 300}
    make_zip(up / "CANTON" / "CANTON.zip", payload)
    (up / "notice.txt").write_text("Lisez-moi")
    (up / "upload.md5").write_text("0" * 32 + "  CANTON/CANTON.zip\n")
    h = make_ctx(uploads=[(ARCHIVE, up)])
    result = archive.run(h.ctx)
    files = {f["path"]: f["size"] for f in result.type_infos["files"]}
    zip_size = (up / "CANTON" / "CANTON.zip").stat().st_size
    assert files == {"files/CANTON/CANTON.zip": zip_size, "files/notice.txt": 9}
    out = h.ctx.output_dir / "files"
    assert (out / "CANTON" / "CANTON.zip").read_bytes() == (up / "CANTON" / "CANTON.zip").read_bytes()
    assert not (out / "upload.md5").exists()
    assert any("CRC ok" in line for line in h.logs)


def test_corrupt_zip_fails(make_ctx, tmp_path) -> None:
    up = tmp_path / "upload"
    make_zip(up / "data.zip", {"a.txt": bytes(range(256)) * 200})
    raw = bytearray((up / "data.zip").read_bytes())
    raw[60] ^= 0xFF  # inside the compressed data of the first member
    (up / "data.zip").write_bytes(bytes(raw))
    h = make_ctx(uploads=[(ARCHIVE, up)])
    with pytest.raises(ProcessingFailed, match=r"data\.zip: corrupt zip archive"):
        archive.run(h.ctx)
    assert list(h.ctx.output_dir.iterdir()) == []


def test_truncated_zip_fails(make_ctx, tmp_path) -> None:
    up = tmp_path / "upload"
    make_zip(up / "data.zip", {"a.txt": b"hello" * 1000})
    (up / "data.zip").write_bytes((up / "data.zip").read_bytes()[:-30])
    h = make_ctx(uploads=[(ARCHIVE, up)])
    with pytest.raises(ProcessingFailed, match="corrupt zip archive"):
        archive.run(h.ctx)


@pytest.mark.parametrize("name", ["../../etc/evil.sh", "/abs/path.txt", "ok/../../up.txt", "C:/windows.txt"])
def test_path_traversal_is_rejected(make_ctx, tmp_path, name) -> None:
    up = tmp_path / "upload"
    make_zip(up / "evil.zip", {"fine.txt": b"ok", name: b"boom"})
    h = make_ctx(uploads=[(ARCHIVE, up)])
    with pytest.raises(ProcessingFailed, match="path traversal"):
        archive.run(h.ctx)
    assert list(h.ctx.output_dir.iterdir()) == []


def test_abort_during_the_copy_leaves_no_files(make_ctx, tmp_path) -> None:
    from gpf_flow.processings.base import ProcessingAborted

    up = tmp_path / "upload"
    for i in range(3):
        (up / f"part-{i}.bin").parent.mkdir(parents=True, exist_ok=True)
        (up / f"part-{i}.bin").write_bytes(bytes([i]) * 1000)
    h = make_ctx(uploads=[(ARCHIVE, up)])

    def log(line: str) -> None:
        h.logs.append(line)
        if line.startswith("copied part-0.bin"):
            h.abort.set()  # asked while the copy is under way: the next file is not copied

    h.ctx.log = log
    with pytest.raises(ProcessingAborted):
        archive.run(h.ctx)
    assert any(line.startswith("copied part-0.bin") for line in h.logs)
    assert list(h.ctx.output_dir.iterdir()) == []
