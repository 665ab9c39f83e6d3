"""Helpers shared by the engine tests: event capture, workflow files, actions on the test processing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from gpf_flow import events as ev
from gpf_flow.workflow.load import load_workflow
from gpf_flow.workflow.model import Workflow

HERE = Path(__file__).resolve().parent


class Events(list[ev.Event]):
    """Collected events with small query helpers."""

    def __call__(self, event: ev.Event) -> None:
        self.append(event)

    def of(self, kind: type[ev.Event], **match: Any) -> list[Any]:
        return [e for e in self if isinstance(e, kind) and all(getattr(e, k) == v for k, v in match.items())]


def write_workflow(folder: Path, document: dict[str, Any], name: str = "wf.jsonc") -> Workflow:
    """Write a workflow document and load it with the real loader."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return load_workflow(path)


PROCESSING_ID = "{store_entity.processing.infos._id [INFOS(name=Test work)]}"


def work_action(output: str, **parameters: Any) -> dict[str, Any]:
    """A processing-execution of the test processing producing stored data ``output``."""
    return {
        "type": "processing-execution",
        "body_parameters": {
            "processing": PROCESSING_ID,
            "inputs": {},
            "output": {"stored_data": {"name": output}},
            "parameters": parameters,
        },
    }


def stored_data_ref(name: str) -> str:
    """The template of a stored data's id, found by name."""
    return f"{{store_entity.stored_data.infos._id [INFOS(name={name})]}}"


def configuration_action(name: str, stored_data_name: str) -> dict[str, Any]:
    """A DOWNLOAD configuration over a stored data found by name."""
    return {
        "type": "configuration",
        "body_parameters": {
            "type": "DOWNLOAD",
            "name": name,
            "layer_name": f"layer_{name}",
            "type_infos": {
                "title": name,
                "abstract": "test",
                "keywords": ["test"],
                "used_data": [
                    {
                        "sub_name": "all",
                        "title": {"fr": "tout"},
                        "stored_data": stored_data_ref(stored_data_name),
                    }
                ],
            },
        },
    }


def offering_action(configuration_name: str) -> dict[str, Any]:
    """Publish a configuration (found by name) on the download endpoint."""
    return {
        "type": "offering",
        "url_parameters": {
            "configuration": f"{{store_entity.configuration.infos._id [INFOS(name={configuration_name})]}}"
        },
        "body_parameters": {
            "endpoint": "{store_entity.endpoint.infos._id [INFOS(technical_name=gpf-download-private)]}",
            "open": True,
        },
    }


def cli_env(home: Path) -> dict[str, str]:
    """Environment for a ``gpf-flow`` subprocess that can import the test processing."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), *[p for p in sys.path if p]])
    env["GPF_FLOW_HOME"] = str(home)
    env["COLUMNS"] = "200"
    return env


def gpf_flow_cmd() -> list[str]:
    """The real ``gpf-flow`` command of this environment."""
    return [sys.executable, "-m", "gpf_flow"]
