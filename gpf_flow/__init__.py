"""gpf-flow: declarative workflows for the Géoplateforme Entrepôt.

Library use (names are imported lazily so that the CLI starts fast)::

    from gpf_flow import load_workflow, run, RunOptions, LocalStore
    wf = load_workflow("wms-generic.jsonc")
    result = run(wf, LocalStore("/tmp/home"), RunOptions(jobs=2), on_event=print)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_workflow": "gpf_flow.workflow.load",
    "plan": "gpf_flow.workflow.dag",
    "run": "gpf_flow.engine.runner",
    "RunOptions": "gpf_flow.engine.options",
    "LocalStore": "gpf_flow.store.local",
    "open_store": "gpf_flow.store",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gpf_flow' has no attribute {name!r}")
