"""Where each declared parameter's value comes from (``-p``, ``--params-file``, default, unset).

The same order as :func:`gpf_flow.workflow.params.parameter_values`, told for people
(``gpf-flow validate`` lists it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpf_flow.workflow.model import Workflow
from gpf_flow.workflow.params import read_params_file


def parameter_sources(
    workflow: Workflow, given: Mapping[str, Any], params_file: str | Path | None
) -> list[tuple[str, str, str]]:
    """``(name, value, origin)`` for each declared parameter; origin is ``-p``, ``--params-file``,
    ``default`` or ``unset`` (value empty)."""
    from_file = read_params_file(params_file) if params_file is not None else {}
    rows = []
    for name, spec in workflow.parameters.items():
        if name in given:
            rows.append((name, str(given[name]), "-p"))
        elif name in from_file:
            rows.append((name, str(from_file[name]), "--params-file"))
        elif spec.has_default:
            rows.append((name, str(spec.default), "default"))
        else:
            rows.append((name, "", "unset"))
    return rows
