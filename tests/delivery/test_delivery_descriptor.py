"""Descriptor loading: JSONC, schema errors with key paths and suggestions, confined paths."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gpf_flow.delivery.descriptor import DescriptorError, collect_files, load_descriptor


def _dataset(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "data_dirs": ["data"],
        "upload_infos": {"name": "U", "description": "d", "srs": "EPSG:2154", "type": "VECTOR"},
        "comments": ["c"],
        "tags": {"k": "v"},
    }
    base.update(overrides)
    return base


def _write(tmp_path: Path, document: Any) -> Path:
    (tmp_path / "data" / "sub").mkdir(parents=True, exist_ok=True)
    (tmp_path / "data" / "a.txt").write_text("a")
    (tmp_path / "data" / "sub" / "b.txt").write_text("bb")
    path = tmp_path / "desc.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def test_delivery_descriptor_jsonc_loads_with_files(tmp_path: Path) -> None:
    text = """// comment
    {
      "datasets": [{
        "data_dirs": ["data"], // trailing comment
        "upload_infos": {"name": "U", "description": "d", "srs": "EPSG:2154", "type": "VECTOR"},
        "comments": [], "tags": {},
      }],
    }"""
    descriptor = load_descriptor(_write(tmp_path, text))
    (dataset,) = descriptor.datasets
    assert dataset.name == "U" and dataset.type == "VECTOR"
    assert [(f.remote, f.size) for f in collect_files(dataset)] == [("data/a.txt", 1), ("data/sub/b.txt", 2)]


def test_delivery_descriptor_unknown_key_gives_path_and_suggestion(tmp_path: Path) -> None:
    dataset = _dataset()
    dataset["upload_infos"]["nmae"] = dataset["upload_infos"].pop("name")
    with pytest.raises(DescriptorError) as info:
        load_descriptor(_write(tmp_path, {"datasets": [dataset]}))
    message = str(info.value)
    assert "datasets[0].upload_infos.nmae: unknown key 'nmae' (did you mean 'name'?)" in message
    assert "datasets[0].upload_infos.name: required key is missing (found 'nmae': misspelt?)" in message
    assert str(tmp_path / "desc.json") in message


def test_delivery_descriptor_bad_enum_and_type(tmp_path: Path) -> None:
    dataset = _dataset(tags=["not", "an", "object"])
    dataset["upload_infos"]["type"] = "RASTRE"
    with pytest.raises(DescriptorError) as info:
        load_descriptor(_write(tmp_path, {"datasets": [dataset, _dataset()]}))
    message = str(info.value)
    assert "datasets[0].upload_infos.type: 'RASTRE' is not one of" in message
    assert "(did you mean 'RASTER'?)" in message
    assert "datasets[0].tags:" in message


def test_delivery_descriptor_top_level_typo(tmp_path: Path) -> None:
    with pytest.raises(DescriptorError, match=r"unknown key 'dataset' \(did you mean 'datasets'\?\)"):
        load_descriptor(_write(tmp_path, {"dataset": [_dataset()]}))


def test_delivery_descriptor_static_section(tmp_path: Path) -> None:
    (tmp_path / "style.sld").write_text("<sld/>")
    document = {
        "datasets": [_dataset()],
        "static": [{"file": "style.sld", "name": "s", "type": "GEOSERVER-STYLE"}],
    }
    descriptor = load_descriptor(_write(tmp_path, document))
    assert descriptor.statics[0].file == tmp_path / "style.sld"
    document["static"][0]["type"] = "GEOSERVER_STYLE"
    with pytest.raises(
        DescriptorError, match=r"static\[0\]\.type: 'GEOSERVER_STYLE' .*did you mean 'GEOSERVER-STYLE'"
    ):
        load_descriptor(_write(tmp_path, document))


@pytest.mark.parametrize("bad", ["../outside", "/etc", "data/../../x"])
def test_delivery_descriptor_refuses_paths_leaving_its_folder(tmp_path: Path, bad: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(DescriptorError, match=r"datasets\[0\]\.data_dirs\[0\]"):
        load_descriptor(_write(root, {"datasets": [_dataset(data_dirs=[bad])]}))


def test_delivery_descriptor_refuses_symlink_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "s.txt").write_text("s")
    os.symlink(tmp_path / "secret", root / "link")
    with pytest.raises(DescriptorError, match="outside"):
        load_descriptor(_write(root, {"datasets": [_dataset(data_dirs=["link"])]}))
    os.symlink(tmp_path / "secret" / "s.txt", root / "data" / "inner-link.txt")
    descriptor = load_descriptor(_write(root, {"datasets": [_dataset()]}))
    with pytest.raises(DescriptorError, match="outside"):
        collect_files(descriptor.datasets[0])


def test_delivery_descriptor_missing_dir_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(DescriptorError, match="does not exist"):
        load_descriptor(_write(tmp_path, {"datasets": [_dataset(data_dirs=["nope"])]}))
    with pytest.raises(DescriptorError, match="not valid JSON"):
        load_descriptor(_write(tmp_path, "{datasets: [}"))
    with pytest.raises(DescriptorError, match="not found"):
        load_descriptor(tmp_path / "missing.json")


def test_delivery_descriptor_md5_files_generated_and_clash_refused(tmp_path: Path) -> None:
    from gpf_flow.delivery.uploader import prepare_dataset

    for folder in ("a/tiles", "b/tiles"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "x.txt").write_text(folder)
    ok = load_descriptor(_write(tmp_path, {"datasets": [_dataset(data_dirs=["a/tiles", "data"])]}))
    prepared = prepare_dataset(ok.datasets[0])
    assert [p.name for p in prepared.md5_files] == ["tiles.md5", "data.md5"]
    assert (tmp_path / "a" / "tiles.md5").read_text().endswith("  a/tiles/x.txt\n")
    clash = load_descriptor(_write(tmp_path, {"datasets": [_dataset(data_dirs=["a/tiles", "b/tiles"])]}))
    with pytest.raises(DescriptorError, match="tiles.md5"):
        prepare_dataset(clash.datasets[0])
