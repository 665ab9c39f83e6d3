"""Local store: upload files, tree, md5, close with checks, re-open, path confinement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from store_test_helpers import make_upload, wait_status
from store_test_procs import C_BAD, C_OK

from gpf_flow.errors import BadRequestError, ConflictError, NotFoundError
from gpf_flow.store.local import LocalStore


def _flatten(nodes: list[dict], prefix: str = "") -> dict[str, int]:
    out: dict[str, int] = {}
    for node in nodes:
        path = f"{prefix}{node['name']}"
        if node["type"] == "DIRECTORY":
            out.update(_flatten(node["children"], path + "/"))
        else:
            assert node["type"] == "FILE" and isinstance(node["size"], int)
            out[path] = node["size"]
    return out


def test_push_tree_md5_delete(store: LocalStore, tmp_path: Path) -> None:
    up = make_upload(store, tmp_path, files={"a/b/c.tif": b"123", "top.txt": b"x", "a/d.tif": b"12"})
    md5 = tmp_path / "a.md5"
    md5.write_text("0123  a/b/c.tif\n")
    sent: list[int] = []
    store.upload_push_md5(up["_id"], md5, progress=sent.append)
    assert sum(sent) == md5.stat().st_size
    tree = store.upload_tree(up["_id"])
    assert _flatten(tree) == {"a/b/c.tif": 3, "a/d.tif": 2, "top.txt": 1, "a.md5": md5.stat().st_size}
    a_dir = next(n for n in tree if n["name"] == "a")
    assert a_dir["type"] == "DIRECTORY" and a_dir["size"] == 5
    assert store.get_entity("upload", up["_id"])["size"] == 6 + md5.stat().st_size
    # re-push replaces, delete removes and prunes empty folders
    src = tmp_path / "new.tif"
    src.write_bytes(b"abcdef")
    store.upload_push_file(up["_id"], src, "a/b/c.tif")
    assert _flatten(store.upload_tree(up["_id"]))["a/b/c.tif"] == 6
    store.upload_delete_file(up["_id"], "a/b/c.tif")
    assert "b" not in {
        n["name"] for n in next(n for n in store.upload_tree(up["_id"]) if n["name"] == "a")["children"]
    }
    with pytest.raises(NotFoundError):
        store.upload_delete_file(up["_id"], "a/b/c.tif")
    store.upload_delete_file(up["_id"], "a.md5")
    with pytest.raises(BadRequestError, match="folder is needed"):
        store.upload_push_file(up["_id"], src, "top.txt/inner.tif")
    with pytest.raises(BadRequestError, match="already a directory"):
        store.upload_push_file(up["_id"], src, "a")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../x", r"'\.\.'"),
        ("a/../../x", r"'\.\.'"),
        ("/etc/passwd", "absolute"),
        ("C:\\x", "absolute"),
        ("", "empty"),
        (".gpf-part-x", "reserved"),
    ],
)
def test_path_traversal_refused(store: LocalStore, tmp_path: Path, path: str, message: str) -> None:
    up = make_upload(store, tmp_path)
    src = tmp_path / "f.txt"
    src.write_text("x")
    with pytest.raises(BadRequestError, match=message):
        store.upload_push_file(up["_id"], src, path)
    with pytest.raises(BadRequestError):
        store.upload_delete_file(up["_id"], path)
    assert not (tmp_path / "x").exists()


def test_symlink_escape_refused(store: LocalStore, tmp_path: Path) -> None:
    up = make_upload(store, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root = store.upload_dir(up["_id"])
    os.symlink(outside, root / "link")
    os.symlink(outside / "secret.txt", root / "file-link")
    src = tmp_path / "f.txt"
    src.write_text("x")
    with pytest.raises(BadRequestError, match="symbolic link"):
        store.upload_push_file(up["_id"], src, "link/evil.txt")
    with pytest.raises(BadRequestError, match="symbolic link"):
        store.upload_push_file(up["_id"], src, "file-link")
    with pytest.raises(BadRequestError, match="symbolic link"):
        store.upload_delete_file(up["_id"], "file-link")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"
    names = {n["name"] for n in store.upload_tree(up["_id"])}
    assert "link" not in names and "file-link" not in names  # symlinks are not listed as data


def test_md5_name_is_confined(store: LocalStore, tmp_path: Path) -> None:
    up = make_upload(store, tmp_path)
    weird = tmp_path / ".gpf-evil.md5"
    weird.write_text("x")
    with pytest.raises(BadRequestError):
        store.upload_push_md5(up["_id"], weird)


def test_close_runs_checks_then_closed(store: LocalStore, tmp_path: Path) -> None:
    up = make_upload(store, tmp_path)
    store.upload_close(up["_id"])
    checks = store.upload_checks(up["_id"])
    # created at close time: never all-empty while pending
    assert len(checks.asked + checks.in_progress + checks.passed + checks.failed) == 2
    for item in checks.asked + checks.in_progress + checks.passed:
        assert set(item) >= {"_id", "check", "status"} and set(item["check"]) == {"_id", "name"}
    assert store.get_entity("upload", up["_id"])["status"] in ("CHECKING", "CLOSED")
    with pytest.raises(ConflictError):
        store.upload_push_file(up["_id"], tmp_path / "x", "y")
    done = wait_status(store, "upload", up["_id"], {"CLOSED", "UNSTABLE"})
    assert done["status"] == "CLOSED"
    checks = store.upload_checks(up["_id"])
    assert checks.finished and {c["check"]["_id"] for c in checks.passed} == {C_OK.id, C_BAD.id}
    ok_exec = next(c for c in checks.passed if c["check"]["_id"] == C_OK.id)
    assert store.check_execution_logs(ok_exec["_id"])[0].endswith("INFO seen ZONES/ZONES.dbf")
    assert store.get_entity("check_execution", ok_exec["_id"])["status"] == "SUCCESS"


def test_failed_check_unstable_then_reopen(store: LocalStore, tmp_path: Path) -> None:
    up = make_upload(store, tmp_path, files={"bad.shp": b"x", "good.shp": b"y"})
    store.upload_close(up["_id"])
    assert wait_status(store, "upload", up["_id"], {"CLOSED", "UNSTABLE"})["status"] == "UNSTABLE"
    checks = store.upload_checks(up["_id"])
    assert [c["check"]["name"] for c in checks.failed] == [C_BAD.name]
    logs = store.check_execution_logs(checks.failed[0]["_id"])
    assert any("ERROR bad.shp is bad" in line for line in logs)
    store.upload_open(up["_id"])
    assert store.get_entity("upload", up["_id"])["status"] == "OPEN"
    store.upload_delete_file(up["_id"], "bad.shp")
    store.upload_close(up["_id"])
    assert wait_status(store, "upload", up["_id"], {"CLOSED", "UNSTABLE"})["status"] == "CLOSED"
    assert len(store.upload_checks(up["_id"]).passed) == 2  # old executions replaced


def test_run_checks_on_demand(store: LocalStore, tmp_path: Path) -> None:
    up = make_upload(store, tmp_path)
    with pytest.raises(ConflictError):
        store.upload_run_checks(up["_id"], [C_OK.id])
    store.upload_close(up["_id"])
    wait_status(store, "upload", up["_id"], {"CLOSED", "UNSTABLE"})
    with pytest.raises(BadRequestError, match=r"\[0\]"):
        store.upload_run_checks(up["_id"], ["nope"])
    store.upload_run_checks(up["_id"], [C_OK.id])
    assert wait_status(store, "upload", up["_id"], {"CLOSED", "UNSTABLE"})["status"] == "CLOSED"
    assert len(store.upload_checks(up["_id"]).passed) == 2
