"""The catalog: every workflow loads, the CLI lists/shows/gets them, and the wheel contains them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from workflow_helpers import run_cli

from gpf_flow import catalog
from gpf_flow.workflow.dag import plan
from gpf_flow.workflow.load import load_workflow

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "wms-generic": {
        "mise-en-base": [],
        "configuration-wms": ["mise-en-base"],
        "publication-wms": ["configuration-wms"],
        "configuration-wmts": ["mise-en-base"],
        "publication-wmts": ["configuration-wmts"],
    },
    "vector-generic": {
        "mise-en-base": [],
        "configuration-wfs": ["mise-en-base"],
        "publication-wfs": ["configuration-wfs"],
        "configuration-wms-vector": ["mise-en-base"],
        "publication-wms-vector": ["configuration-wms-vector"],
    },
    "archive-generic": {
        "recopie-archive": [],
        "configuration-download": ["recopie-archive"],
        "publication-download": ["configuration-download"],
    },
}


def test_catalog_names_and_repo_symlink() -> None:
    assert set(catalog.names()) >= {*EXPECTED, "cleanup-generic"}
    assert (ROOT / "workflows" / "wms-generic.jsonc").resolve() == (
        catalog.catalog_dir() / "wms-generic.jsonc"
    ).resolve()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_catalog_workflow_shape(name: str) -> None:
    workflow = load_workflow(name, on_warning=pytest.fail)
    assert workflow.title and workflow.description and workflow.parameters
    assert all(spec.has_default for spec in workflow.parameters.values())
    assert {n: list(s.parents) for n, s in workflow.steps.items()} == EXPECTED[name]
    text = str(workflow.document)
    assert "{store_entity." in text and "{user.last_name}" in text and "{{" not in text


def test_catalog_defaults_use_the_sample_names() -> None:
    assert load_workflow("wms-generic").parameters["upload_name"].default == "EXAMPLE_DATASET_RASTER"
    assert load_workflow("vector-generic").parameters["upload_name"].default == "EXAMPLE_DATASET_VECTOR"
    assert load_workflow("archive-generic").parameters["upload_name"].default == "EXAMPLE_DATASET_ARCHIVE"
    vector = load_workflow("vector-generic").document
    assert "INFOS(name=style_zones)" in str(vector) and "'native_name': 'zones'" in str(vector)


def test_cleanup_deletes_quietly() -> None:
    workflow = load_workflow("cleanup-generic")
    actions = [a for s in workflow.steps.values() for a in s.actions]
    assert {a.type for a in actions} == {"delete-entity"}
    assert all(a.data["confirm"] is False and a.data["not_found_ok"] is True for a in actions)
    assert plan(workflow).steps == [
        "suppression-offres",
        "suppression-configurations",
        "suppression-pyramide",
    ]


def test_catalog_cli_list_show_get(tmp_path: Path) -> None:
    listed = run_cli("catalog", "list")
    assert listed.code == 0, listed.err
    for name in EXPECTED:
        assert name in listed.out
    shown = run_cli("catalog", "show", "vector-generic")
    assert shown.code == 0, shown.err
    assert "style_name" in shown.out and "publication-wms-vector" in shown.out
    got = run_cli("catalog", "get", "archive-generic", "-o", str(tmp_path))
    assert got.code == 0, got.err
    copy = tmp_path / "archive-generic.jsonc"
    assert copy.read_bytes() == (catalog.catalog_dir() / "archive-generic.jsonc").read_bytes()
    again = run_cli("catalog", "get", "archive-generic", "-o", str(copy))
    assert again.code == 2 and "already exists" in again.err
    unknown = run_cli("catalog", "show", "wms-generik")
    assert unknown.code == 2 and "did you mean `wms-generic`?" in unknown.err


def test_a_catalog_name_cannot_point_outside_the_catalog() -> None:
    # `../workflows/wms-generic` would reach the catalog file itself through the parent folder
    assert catalog.find_path("wms-generic") == catalog.catalog_dir() / "wms-generic.jsonc"
    assert catalog.find_path("../workflows/wms-generic") is None
    shown = run_cli("catalog", "show", "../workflows/wms-generic")
    assert shown.code == 2 and "no catalog workflow named `../workflows/wms-generic`" in shown.err


def test_validate_accepts_a_catalog_name(tmp_path: Path) -> None:
    result = run_cli("validate", "wms-generic", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "templates used" in result.out and "store_entity.endpoint ×2" in result.out


@pytest.mark.slow
def test_wheel_contains_the_catalog(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("gpf_flow-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in [*EXPECTED, "cleanup-generic"]:
        assert f"gpf_flow/workflows/{name}.jsonc" in names
    assert "gpf_flow/workflow/workflow.schema.json" in names
    # "install" it (a pure wheel unpacks as is into site-packages) and ask the catalog from
    # outside the checkout, without site-packages (-S) so the editable install cannot answer
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = "from gpf_flow import catalog; print(catalog.catalog_dir()); print(*catalog.names())"
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    folder, listed = done.stdout.splitlines()
    assert Path(folder).resolve() == (site / "gpf_flow" / "workflows").resolve()
    assert set(listed.split()) == {*EXPECTED, "cleanup-generic"}
