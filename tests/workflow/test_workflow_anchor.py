"""Anchor workflows written in the official SDK style load unchanged (only iter_vals is expanded)."""

from __future__ import annotations

import json5
from workflow_helpers import DATA, run_cli

from gpf_flow.workflow.load import load_workflow


def test_sdk_style_workflow_loads_with_all_levels() -> None:
    path = DATA / "anchor-sdk-style.jsonc"
    workflow = load_workflow(path, on_warning=lambda message: (_ for _ in ()).throw(AssertionError(message)))
    assert workflow.document == json5.loads(path.read_text(encoding="utf-8"))
    assert workflow.title is None and not workflow.parameters
    assert workflow.datastore == "11111111-2222-3333-4444-555555555555"
    assert workflow.comments == ("Chargé par le test d'ancrage",)
    first = workflow.steps["integration-vecteur"]
    action = first.actions[0]
    assert workflow.merged_tags(first, action) == {"tuto": "oui", "etape": "integration", "sortie": "base"}
    assert workflow.merged_comments(first, action) == [
        "Chargé par le test d'ancrage",
        "étape d'intégration",
        "Base issue de {params.livraison}",
    ]
    wfs = workflow.steps["configurations-wfs"]
    assert [a.data["body_parameters"]["layer_name"] for a in wfs.actions] == [
        "{user.last_name}__zones",
        "{user.last_name}__communes",
    ]
    assert workflow.datastore_for(wfs, wfs.actions[0]) == "88888888-2222-3333-4444-555555555555"
    assert [a.type for a in workflow.steps["nettoyage"].actions] == ["delete-entity", "edit-entity"]


def test_sdk_style_object_iteration_and_every_action_type() -> None:
    workflow = load_workflow(DATA / "anchor-sdk-iter-objects.json")
    pyramids = workflow.steps["pyramides"].actions
    assert len(pyramids) == 3
    assert pyramids[2].data["body_parameters"]["inputs"]["upload"] == [
        "{store_entity.upload.infos._id [INFOS(name=EXAMPLE_DATASET_RASTER3)]}"
    ]
    assert pyramids[2].data["body_parameters"]["parameters"]["bottom"] == "18"
    assert (
        pyramids[0].data["body_parameters"]["output"]["stored_data"]["name"] == "{user.last_name}__pyramide_1"
    )
    types = [a.type for a in workflow.steps["fusion"].actions]
    assert types == [
        "processing-execution",
        "synchronize-offering",
        "used_data-configuration",
        "copy-configuration",
        "permission",
        "access",
    ]


def test_anchor_validates_through_the_cli() -> None:
    result = run_cli("validate", str(DATA / "anchor-sdk-style.jsonc"))
    assert result.code == 0, result.err
    assert "parameters: none" in result.out
    assert "params.livraison ×1" in result.out
