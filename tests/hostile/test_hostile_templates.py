"""Hostile load-time templates: no code execution, bounded time/size, a clean error naming the place."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hostile_helpers import assert_clean, gpf_flow, one_step, write_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpf_flow.errors import GpfFlowError
from gpf_flow.workflow.load import load_workflow_text

_ESCAPE = (
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}"
    "{{ c(['touch', '{marker}']) }}{% endif %}{% endfor %}"
)

HOSTILE = {
    "subclasses": ("{{ ''.__class__.__mro__ }}", "unsafe template"),
    "globals": ("{{ cycler.__init__.__globals__ }}", "unsafe template"),
    "format-attr": ("{{ '{0.__class__}'.format(1) }}", "unsafe template"),
    "mutation": ("{% set l = [] %}{{ l.append(1) }}", "unsafe template"),
    "huge-range": ("{% for i in range(1000000000) %}x{% endfor %}", "GPF_FLOW_TEMPLATE_MAX_RANGE"),
    "nested-loops": (
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "GPF_FLOW_TEMPLATE_SECONDS",
    ),
    "repeat": ("{{ 'x' * 1000000000 }}", "repetition longer than"),
    "power": ("{{ 7 ** 99999999 }}", "too large"),
    "format-width": ("{{ '%099999999d' % 1 }}", "format width"),
    "str-format-width": ("{{ '{:>999999999}'.format(1) }}", "format width"),
    "filter-arg": ("{{ 'x'|center(1000000000) }}", "above the limit"),
    "concat": ("{% set a = 'x' * 100000 %}{{ a~a~a~a~a~a~a~a~a~a~a~a }}", "concatenation longer"),
    "output": ("{% for i in range(10000) %}" + "x" * 1000 + "{% endfor %}", "GPF_FLOW_TEMPLATE_MAX_OUTPUT"),
    "recursion": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursion too deep"),
    "zero-division": ("{{ 1/0 }}", "ZeroDivisionError"),
    "huge-int": ("{{ 10 ** 5000 }}", "cannot render"),
    "deep-parens": ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "nested too deeply"),
}


def test_sandbox_escape_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    template = _ESCAPE.replace("{marker}", str(marker))
    workflow = write_json(tmp_path / "evil.jsonc", one_step(comments=[template]))
    for command in ("validate", "plan", "graph"):
        outcome = gpf_flow(command, str(workflow))
        assert_clean(outcome, 1, "evil.jsonc:1:", "unsafe template", "__class__")
    assert not marker.exists()


def test_step_name_template_is_sandboxed(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    document = one_step()
    document["workflow"]["steps"] = {
        _ESCAPE.replace("{marker}", str(marker)): document["workflow"]["steps"]["a"]
    }
    outcome = gpf_flow("validate", str(write_json(tmp_path / "w.jsonc", document)))
    assert_clean(outcome, 1, "unsafe template")
    assert not marker.exists()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_template_is_a_clean_error(name: str) -> None:
    template, fragment = HOSTILE[name]
    text = json.dumps(one_step(comments=[template]))
    with pytest.raises(GpfFlowError) as caught:
        load_workflow_text(text, Path("hostile.jsonc"))
    message = str(caught.value)
    assert "hostile.jsonc:1:" in message and "steps.a.comments[0]" in message, message
    assert fragment in message, message
    assert len(message) < 2000  # the template is shortened in the message


def test_hostile_templates_through_the_cli(tmp_path: Path) -> None:
    """The real process: exit 1, no traceback, for the costly ones."""
    for name in ("nested-loops", "recursion", "zero-division", "deep-parens"):
        template, fragment = HOSTILE[name]
        workflow = write_json(tmp_path / f"{name}.jsonc", one_step(comments=[template]))
        assert_clean(gpf_flow("validate", str(workflow)), 1, fragment)


def test_ordinary_templates_still_render() -> None:
    document = {
        "parameters": {"n": {"default": "3"}, "name": {"default": "ortho"}},
        **one_step(
            comments=[
                "{% for i in range(n|int) %}{{ i }}{% endfor %}",
                "{{ name|upper }}-{{ '%03d' % 7 }}-{{ '{}x'.format(2) }}",
                "{{ name ~ '-' ~ name }}",
            ]
        ),
    }
    workflow = load_workflow_text(json.dumps(document))
    assert workflow.steps["a"].comments == ("012", "ORTHO-007-2x", "ortho-ortho")


_template_text = st.text(
    alphabet=st.sampled_from(list("{}%#()[]'\"|~*+-/.,_ abcxyz0123456789\n")), max_size=60
) | st.builds(lambda body: "{{ " + body + " }}", st.text(max_size=40))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_template_text)
def test_template_parser_never_crashes(text: str) -> None:
    """Any string value: either it renders, or a GpfFlowError; never another exception."""
    document = json.dumps(one_step(comments=[text]))
    with contextlib.suppress(GpfFlowError):
        load_workflow_text(document, Path("prop.jsonc"))
