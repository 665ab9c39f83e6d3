"""The catalog workflows end to end on the local store, from the sample datasets to published links."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpf_flow import load_workflow, run
from gpf_flow.datasets import write_dataset
from gpf_flow.delivery import PollPolicy, deliver, load_descriptor
from gpf_flow.engine.options import RunOptions
from gpf_flow.store.base import iter_entities
from gpf_flow.store.local import LocalStore

CASES = [
    ("archive-sample", "archive-generic", {"DOWNLOAD"}),
    ("vector-sample", "vector-generic", {"WFS", "WMS-VECTOR"}),
    ("raster-sample", "wms-generic", {"WMS-RASTER", "WMTS-TMS"}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "workflow", "offering_types"), CASES, ids=[c[1] for c in CASES])
def test_catalog_workflow_end_to_end(
    tmp_path: Path, dataset: str, workflow: str, offering_types: set[str]
) -> None:
    with LocalStore(tmp_path / "home") as store:
        folder = write_dataset(dataset, tmp_path)
        report = deliver(
            store,
            load_descriptor(folder / "upload_descriptor.jsonc"),
            poll=PollPolicy(first=0.01, maximum=0.2),
        )
        assert report.ok
        wf = load_workflow(workflow)
        result = run(wf, store, RunOptions(state_path=tmp_path / "runs.sqlite"))
        assert result.status == "success", result.failed
        assert {link["type"] for link in result.links} == offering_types
        for link in result.links:
            assert any(u["type"] == "PREVIEW" for u in link["urls"])
        offerings = list(iter_entities(store, "offering"))
        assert {o["status"] for o in offerings} == {"PUBLISHED"}
        assert len(offerings) == len(offering_types)
        again = run(wf, store, RunOptions(state_path=tmp_path / "runs.sqlite"))
        assert {s.status for s in again.steps.values()} == {"skipped"}
        assert len(again.links) == len(result.links)
