"""Which templates a document uses, counted by what they read (for ``gpf-flow validate``).

Counting goes through the parser (:func:`~gpf_flow.resolve.values.find_templates`), so what is
counted is exactly what the runner would resolve, insertion forms included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from gpf_flow.resolve.nodes import DateRef, FileRef, PathRef, StoreEntityRef, Template
from gpf_flow.resolve.values import find_templates


def template_label(template: Template) -> str:
    """A short name for what a template reads: ``store_entity.stored_data``, ``params.layer``..."""
    if isinstance(template, StoreEntityRef):
        return f"store_entity.{template.entity_type}"
    if isinstance(template, PathRef):
        if template.resolver == "params":  # params keys are taken verbatim, dots included
            first = template.raw.split(".", 1)[0]
        else:
            first = str(template.path[0]) if template.path else ""
        return f"{template.resolver}.{first}" if first else template.resolver
    if isinstance(template, DateRef):
        return "datetime.now"
    if isinstance(template, FileRef):
        return f"files.{template.mode}"
    return template.resolver


def count_templates(values: Iterable[Any]) -> Counter[str]:
    """Every top-level template of the values, counted by :func:`template_label`.

    Raises :class:`~gpf_flow.resolve.parser.TemplateSyntaxError` on a malformed template.
    """
    found: Counter[str] = Counter()
    for value in values:
        found.update(template_label(t) for t in find_templates(value))
    return found
