"""Workflow templates: a parser for the official syntax and resolvers run just before each action.

>>> from gpf_flow.resolve import ResolveContext, resolve_value
>>> resolve_value({"name": "{params.who}_x", "n": "{params.n}"}, ResolveContext(params={"who": "a", "n": 3}))
{'name': 'a_x', 'n': 3}
"""

from __future__ import annotations

from gpf_flow.resolve.context import ResolveContext
from gpf_flow.resolve.nodes import Interpolated, Template
from gpf_flow.resolve.parser import STORE_ENTITY_TYPES, TemplateSyntaxError, parse, parse_template
from gpf_flow.resolve.resolvers import read_path, resolve_template
from gpf_flow.resolve.values import find_templates, insertion_form, resolve_string, resolve_value

__all__ = [
    "STORE_ENTITY_TYPES",
    "Interpolated",
    "ResolveContext",
    "Template",
    "TemplateSyntaxError",
    "find_templates",
    "insertion_form",
    "parse",
    "parse_template",
    "read_path",
    "resolve_string",
    "resolve_template",
    "resolve_value",
]
