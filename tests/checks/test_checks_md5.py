"""Standard md5 check against an md5 file at the upload's root."""

from __future__ import annotations

from pathlib import Path

from gpf_flow.checks import md5_check
from gpf_flow.datasets import write_dataset


def test_checks_md5_sample_passes(tmp_path: Path, make_ctx) -> None:
    folder = write_dataset("raster-sample", tmp_path)
    (folder / "upload_descriptor.jsonc").unlink()
    ctx = make_ctx(folder, "RASTER")
    assert md5_check.run(ctx.context) is True, ctx.lines
    assert ctx.errors == []


def test_checks_md5_changed_unlisted_and_missing_files(tmp_path: Path, make_ctx) -> None:
    folder = write_dataset("vector-sample", tmp_path)
    (folder / "upload_descriptor.jsonc").unlink()
    (folder / "style_zones.sld").unlink()
    (folder / "ZONES" / "ZONES.cpg").write_text("LATIN1")  # changed after the md5 was computed
    (folder / "ZONES" / "extra.txt").write_text("not listed")
    (folder / "ZONES" / "ZONES.prj").unlink()
    ctx = make_ctx(folder, "VECTOR")
    assert md5_check.run(ctx.context) is False
    assert any("ZONES/ZONES.cpg: md5 mismatch" in e for e in ctx.errors)
    assert any("ZONES/extra.txt: not listed" in e for e in ctx.errors)
    assert any("ZONES/ZONES.prj: listed in an md5 file but not delivered" in e for e in ctx.errors)


def test_checks_md5_without_md5_file_fails(tmp_path: Path, make_ctx) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    ctx = make_ctx(tmp_path, "ARCHIVE")
    assert md5_check.run(ctx.context) is False
    assert any("no md5 file" in e for e in ctx.errors)


def test_checks_md5_malformed_line_is_named(tmp_path: Path, make_ctx) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "d.md5").write_text("not-a-checksum d/a.txt\n")
    ctx = make_ctx(tmp_path, "ARCHIVE")
    assert md5_check.run(ctx.context) is False
    assert any("d.md5: line 1" in e for e in ctx.errors)
