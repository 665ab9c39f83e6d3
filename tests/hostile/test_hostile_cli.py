"""A corpus of bad input run through the real CLI process: a clean message and exit code each
time, never a Python traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile_helpers import assert_clean, gpf_flow, one_step, write_json

CONFIG = {"type": "configuration", "body_parameters": {}}


def _deep(opening: str, closing: str, depth: int, inner: str = "1") -> str:
    return opening * depth + inner + closing * depth


def _workflows() -> dict[str, tuple[str | bytes, int, str]]:
    chain = {f"s{i}": {"parents": [f"s{i - 1}"] if i else [], "actions": [CONFIG]} for i in range(1000)}
    body = '{"workflow": {"steps": {"a": {"actions": [{"type": "configuration", "body_parameters": %s}]}}}}'
    return {
        "deep-arrays": ("[" * 3000 + "]" * 3000, 1, "nested more than 200 levels"),
        "deep-objects": (body % _deep('{"a":', "}", 3000), 1, "nested more than 200 levels"),
        "deep-comments": ("// " + "[" * 5000 + "\n" + json.dumps(one_step(CONFIG)), 0, "valid"),
        "workflow-5": ('{"workflow": 5}', 1, "workflow: must be an object"),
        "workflow-list": ('{"workflow": []}', 1, "workflow: must be an object"),
        "top-list": ("[1]", 1, "must be a JSON object"),
        "huge-int": (body % ('{"n": ' + "1" * 4301 + "}"), 1, "4300"),
        "zero-division": (body % '{"n": "{{ 1/0 }}"}', 1, "ZeroDivisionError"),
        "empty": ('{"workflow": {"steps": {}}}', 1, "the workflow has no steps"),
        "no-actions": ('{"workflow": {"steps": {"a": {"actions": []}}}}', 1, "step `a` has no actions"),
        "latin-1": ('{"workflow": {"steps": {"é": {}}}}'.encode("latin-1"), 1, "not UTF-8"),
        "binary": (bytes(range(256)) * 4, 1, "not UTF-8"),
        "nul": ("\x00" * 100, 1, "invalid JSONC"),
        "chain": (json.dumps({"workflow": {"steps": chain}}), 0, "steps: 1000"),
    }


WORKFLOWS = _workflows()


@pytest.mark.parametrize("case", sorted(WORKFLOWS))
def test_bad_workflow_files(tmp_path: Path, case: str) -> None:
    content, code, fragment = WORKFLOWS[case]
    path = tmp_path / f"{case}.jsonc"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    assert_clean(gpf_flow("validate", str(path)), code, fragment)


def test_graph_of_a_long_chain(tmp_path: Path) -> None:
    content, _, _ = WORKFLOWS["chain"]
    path = tmp_path / "chain.jsonc"
    path.write_text(str(content), encoding="utf-8")
    for fmt in ("mermaid", "dot"):
        outcome = gpf_flow("graph", str(path), "--format", fmt)
        assert_clean(outcome, 0, "s999")
    assert_clean(gpf_flow("graph", str(path), "--format", "tree"), 0, "s40")  # deeper: past the width


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[" * 3000 + "]" * 3000, "nested more than 200 levels"),
        ('{"a": "é"}'.encode("latin-1"), "not UTF-8"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"a": ' + "9" * 5000 + "}", "4300"),
    ],
)
def test_bad_params_files(tmp_path: Path, content: str | bytes, fragment: str) -> None:
    workflow = write_json(tmp_path / "w.jsonc", {"parameters": {"a": {"default": "x"}}, **one_step(CONFIG)})
    params = tmp_path / "params.json"
    if isinstance(content, bytes):
        params.write_bytes(content)
    else:
        params.write_text(content, encoding="utf-8")
    assert_clean(gpf_flow("validate", str(workflow), "--params-file", str(params)), 2, fragment)


def test_disk_full_names_the_cause(tmp_path: Path) -> None:
    workflow = write_json(tmp_path / "w.jsonc", one_step(CONFIG))
    outcome = gpf_flow("graph", str(workflow), "--format", "mermaid", "-o", "/dev/full")
    assert_clean(outcome, 1, "No space left on device", "--debug")


def test_debug_flag_is_accepted_anywhere(tmp_path: Path) -> None:
    workflow = write_json(tmp_path / "w.jsonc", one_step(CONFIG))
    assert_clean(gpf_flow("--debug", "validate", str(workflow)), 0, "valid")
    assert_clean(gpf_flow("validate", str(workflow), "--debug"), 0, "valid")


def _descriptor(tmp_path: Path, name: str = "up") -> dict[str, object]:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "a.txt").write_text("x")
    return {
        "datasets": [
            {
                "data_dirs": ["data"],
                "upload_infos": {"name": name, "description": "d", "srs": "EPSG:2154", "type": "ARCHIVE"},
            }
        ]
    }


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("../escape", "'..'"), ("two\nlines", "control characters"), ("nul\x00", "control characters")],
)
def test_descriptor_upload_names_are_checked(tmp_path: Path, name: str, fragment: str) -> None:
    descriptor = write_json(tmp_path / "d.json", _descriptor(tmp_path, name))
    outcome = gpf_flow("upload", "-f", str(descriptor), "--home", str(tmp_path / "home"))
    assert_clean(outcome, 1, "upload_infos.name", fragment)


def test_descriptor_nested_too_deeply(tmp_path: Path) -> None:
    descriptor = tmp_path / "d.json"
    descriptor.write_text('{"datasets": ' + "[" * 3000 + "]" * 3000 + "}")
    outcome = gpf_flow("upload", "-f", str(descriptor), "--home", str(tmp_path / "home"))
    assert_clean(outcome, 1, "nested more than 200 levels")


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [("latin-1", "not a text md5 file"), ("binary", "not a text md5 file"), ("folder", "is a folder")],
)
def test_bad_md5_files(tmp_path: Path, kind: str, fragment: str) -> None:
    descriptor = write_json(tmp_path / "d.json", _descriptor(tmp_path))
    md5 = tmp_path / "data.md5"
    if kind == "latin-1":
        md5.write_bytes("d41d8cd98f00b204e9800998ecf8427e  data/é.txt\n".encode("latin-1"))
    elif kind == "binary":
        md5.write_bytes(bytes(range(128, 256)))
    else:
        md5.mkdir()
    outcome = gpf_flow("upload", "-f", str(descriptor), "--home", str(tmp_path / "home"))
    assert_clean(outcome, 1, fragment)
