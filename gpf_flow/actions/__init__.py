"""Action types, one module each, registered by the name used in workflow files.

Each module exposes ``run(ctx: ActionContext) -> None``; modules are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from gpf_flow.errors import WorkflowError

ACTION_MODULES: dict[str, str] = {
    "processing-execution": "gpf_flow.actions.processing_execution",
    "configuration": "gpf_flow.actions.configuration",
    "offering": "gpf_flow.actions.offering",
    "delete-entity": "gpf_flow.actions.delete_entity",
    "edit-entity": "gpf_flow.actions.edit_entity",
    "copy-configuration": "gpf_flow.actions.copy_configuration",
    "used_data-configuration": "gpf_flow.actions.used_data_configuration",
    "synchronize-offering": "gpf_flow.actions.synchronize_offering",
    "permission": "gpf_flow.actions.permission",
    "access": "gpf_flow.actions.access",
}


def get_action(action_type: str) -> Callable[..., None]:
    """The ``run`` function of an action type; ``WorkflowError`` for an unknown type."""
    module = ACTION_MODULES.get(action_type)
    if module is None:
        raise WorkflowError(
            f"unknown action type {action_type!r}", hint=f"known types: {', '.join(ACTION_MODULES)}"
        )
    run: Callable[..., None] = importlib.import_module(module).run
    return run
