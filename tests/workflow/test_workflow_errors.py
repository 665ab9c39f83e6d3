"""Every user error of load/validate/plan: message content and exit code, through the real CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from workflow_helpers import run_cli, run_cli_subprocess, templated_doc

DUPLICATE = """{
  "workflow": {
    "steps": {
      "a": {"actions": [{"type": "configuration"}]},
      "b": {"actions": [{"type": "configuration"}], "parents": ["a"], "parents": []}
    }
  }
}
"""


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr


def test_valid_workflow_exits_0(write: Callable[..., Path]) -> None:
    path = write('{"workflow": {"steps": {"a": {"actions": [{"type": "configuration"}]}}}}')
    result = run_cli("validate", str(path))
    assert result.code == 0, result.err
    assert "valid" in result.out
    assert "configuration ×1" in result.out


def test_duplicate_key_is_a_warning_with_both_lines(write: Callable[..., Path]) -> None:
    result = run_cli("validate", str(write(DUPLICATE)))
    assert result.code == 0, result.err
    assert "warning" in result.err
    assert "duplicate key `parents`" in result.err
    assert "line 5" in result.err and "first at line 5, again at line 5" in result.err
    assert "steps.b.parents" in result.err


def test_duplicate_step_names_report_both_lines(write: Callable[..., Path]) -> None:
    step = '{"actions": [{"type": "configuration"}]}'
    text = '{"workflow": {"steps": {\n"a": ' + step + ',\n\n"a": ' + step + "\n}}}"
    result = run_cli("validate", str(write(text)))
    assert result.code == 0
    assert "first at line 2, again at line 4" in result.err


def test_duplicate_key_is_an_error_with_strict(write: Callable[..., Path]) -> None:
    result = run_cli("validate", "--strict", str(write(DUPLICATE)))
    assert result.code == 1
    assert "duplicate key `parents`" in result.err
    assert "--strict" in result.err
    assert_no_traceback(result.err)


def test_unknown_key_suggests_the_nearest(write: Callable[..., Path]) -> None:
    text = (
        '{\n  "workflow": {"steps": {\n    "a": {"parent": [], "actions": [{"type": "configuration"}]}\n'
        "  }}\n}"
    )
    path = write(text)
    result = run_cli("validate", str(path))
    assert result.code == 1
    assert f"{path}:3:11: steps.a.parent: unknown key `parent` (did you mean `parents`?)" in result.err
    assert_no_traceback(result.err)


def test_unknown_action_key_names_the_action_path(write: Callable[..., Path]) -> None:
    document = {
        "workflow": {
            "steps": {
                "publication-wms": {"actions": [{"type": "offering", "body_parameter": {"endpoint": "x"}}]}
            }
        }
    }
    result = run_cli("validate", str(write(document)))
    assert result.code == 1
    assert "steps.publication-wms.actions[0].body_parameter" in result.err
    assert "did you mean `body_parameters`?" in result.err


def test_wrong_type_names_the_path(write: Callable[..., Path]) -> None:
    document = {"workflow": {"steps": {"a": {"actions": [{"type": "offering", "body_parameters": []}]}}}}
    result = run_cli("validate", str(write(document)))
    assert result.code == 1
    assert "steps.a.actions[0].body_parameters: must be an object, not array" in result.err


def test_unknown_action_type_suggests(write: Callable[..., Path]) -> None:
    document = {"workflow": {"steps": {"a": {"actions": [{"type": "ofering"}]}}}}
    result = run_cli("validate", str(write(document)))
    assert result.code == 1
    assert "`ofering` is not allowed here (did you mean `offering`?)" in result.err


def test_iter_key_without_iter_vals(write: Callable[..., Path]) -> None:
    document = {"workflow": {"steps": {"a": {"iter_key": "x", "actions": [{"type": "configuration"}]}}}}
    result = run_cli("validate", str(write(document)))
    assert result.code == 1
    assert "`iter_key` and `iter_vals` go together" in result.err


def test_unknown_parent_names_step_and_close_names(write: Callable[..., Path]) -> None:
    text = (
        '{"workflow": {"steps": {\n'
        '  "configuration-wms": {"actions": [{"type": "configuration"}]},\n'
        '  "publication-wms": {"parents": ["configuraton-wms"], "actions": [{"type": "configuration"}]}\n'
        "}}}"
    )
    path = write(text)
    result = run_cli("validate", str(path))
    assert result.code == 1
    assert f"{path}:3:35: steps.publication-wms.parents[0]" in result.err
    assert "step `publication-wms` has an unknown parent `configuraton-wms`" in result.err
    assert "did you mean `configuration-wms`?" in result.err


def test_cycle_is_printed(write: Callable[..., Path]) -> None:
    document = {
        "workflow": {
            "steps": {
                "a": {"parents": ["c"], "actions": [{"type": "configuration"}]},
                "b": {"parents": ["a"], "actions": [{"type": "configuration"}]},
                "c": {"parents": ["b"], "actions": [{"type": "configuration"}]},
                "d": {"actions": [{"type": "configuration"}]},
            }
        }
    }
    result = run_cli("validate", str(write(document)))
    assert result.code == 1
    cycles = ("a -> b -> c -> a", "b -> c -> a -> b", "c -> a -> b -> c")
    assert any(cycle in result.err for cycle in cycles), result.err


def test_self_parent_is_a_cycle(write: Callable[..., Path]) -> None:
    document = {"workflow": {"steps": {"a": {"parents": ["a"], "actions": [{"type": "configuration"}]}}}}
    result = run_cli("plan", str(write(document)))
    assert result.code == 1
    assert "a -> a" in result.err


def test_syntax_error_gives_line_and_column(write: Callable[..., Path]) -> None:
    path = write('{\n  // comment\n  "workflow": {"steps": {\n    "a": {"actions": [}\n  }}\n}')
    result = run_cli("validate", str(path))
    assert result.code == 1
    assert f"{path}:4:" in result.err
    assert "invalid JSONC" in result.err
    assert_no_traceback(result.err)


def test_missing_workflow_key(write: Callable[..., Path]) -> None:
    result = run_cli("validate", str(write('{"worfklow": {}}')))
    assert result.code == 1
    assert "unknown key `worfklow` (did you mean `workflow`?)" in result.err


def test_missing_required_parameter_is_usage_error(write: Callable[..., Path]) -> None:
    document = templated_doc("{{ layer }}", {"layer": {"description": "layer name", "required": True}})
    result = run_cli("validate", str(write(document)))
    assert result.code == 2
    assert "missing value for required parameter `layer`" in result.err
    assert "-p layer VALUE" in result.err


def test_undeclared_parameter_is_named(write: Callable[..., Path]) -> None:
    document = templated_doc("{{ layr }}", {"layer": {"default": "x"}})
    result = run_cli("validate", str(write(document)))
    assert result.code == 1
    assert "steps.a.actions[0].body_parameters.n" in result.err
    assert "undeclared parameter `layr` (did you mean `layer`?)" in result.err


def test_unknown_step_in_selection_is_usage_error(write: Callable[..., Path]) -> None:
    document = {"workflow": {"steps": {"mise-en-base": {"actions": [{"type": "configuration"}]}}}}
    result = run_cli("plan", str(write(document)), "--until", "mise-en-bas")
    assert result.code == 2
    assert "no step named `mise-en-bas`" in result.err
    assert "did you mean `mise-en-base`?" in result.err


def test_two_selections_is_usage_error(write: Callable[..., Path]) -> None:
    document = {"workflow": {"steps": {"a": {"actions": [{"type": "configuration"}]}}}}
    result = run_cli("plan", str(write(document)), "--step", "a", "--from", "a")
    assert result.code == 2
    assert "choose one selection" in result.err


def test_missing_file_is_usage_error(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path / "nope.jsonc"))
    assert result.code == 2
    assert "no workflow file" in result.err
    assert_no_traceback(result.err)


def test_bad_params_file_is_usage_error(write: Callable[..., Path]) -> None:
    path = write(json.dumps({"workflow": {"steps": {}}}))
    params = write("[1, 2]", "params.json")
    result = run_cli("validate", str(path), "--params-file", str(params))
    assert result.code == 2
    assert "must hold a JSON object" in result.err


def test_several_problems_are_all_listed(write: Callable[..., Path]) -> None:
    document = {
        "workflow": {"steps": {"a": {"parent": [], "actions": [{"type": "x", "bodyparameters": {}}]}}}
    }
    result = run_cli("validate", str(write(document)))
    assert result.code == 1
    assert "3 problems" in result.err
    for text in ("unknown key `parent`", "`x` is not allowed here", "did you mean `body_parameters`?"):
        assert text in result.err


def test_real_process_prints_errors_without_traceback(write: Callable[..., Path]) -> None:
    invalid = run_cli_subprocess("validate", str(write('{"workflow": {"steps": {"a": {"actions": 1}}}}')))
    assert invalid.code == 1
    assert invalid.err.startswith("error: ")
    assert "steps.a.actions: must be an array, not integer" in invalid.err
    assert_no_traceback(invalid.err)
    one_step = '{"workflow": {"steps": {"a": {"actions": [{"type": "configuration"}]}}}}'
    usage = run_cli_subprocess("plan", str(write(one_step, "b.jsonc")), "--step", "x")
    assert usage.code == 2
    assert_no_traceback(usage.err)


def test_every_unknown_parent_is_listed(write: Callable[..., Path]) -> None:
    document = {
        "workflow": {
            "steps": {
                "alpha": {"actions": [{"type": "configuration"}]},
                "b": {"parents": ["alpah"], "actions": [{"type": "configuration"}]},
                "c": {"parents": ["alpha", "bb"], "actions": [{"type": "configuration"}]},
            }
        }
    }
    result = run_cli("validate", str(write(document)))
    assert result.code == 1
    assert "steps.b.parents[0]: step `b` has an unknown parent `alpah` (did you mean `alpha`?)" in result.err
    assert "steps.c.parents[1]: step `c` has an unknown parent `bb`" in result.err


def test_cli_module_imports_no_heavy_library() -> None:
    probe = (
        "import sys, gpf_flow.cli.workflow_cmds; "
        "print(*[m for m in ('jinja2', 'jsonschema', 'networkx', 'json5', 'rich.table') if m in sys.modules])"
    )
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_errors_in_a_step_named_by_a_parameter_keep_their_line(write: Callable[..., Path]) -> None:
    text = (
        '{"parameters": {"layer": {"default": "zones"}},\n'
        ' "workflow": {"steps": {\n'
        '  "first": {"actions": [{"type": "configuration"}]},\n'
        '  "conf-{{ layer }}": {\n'
        '    "parents": ["frist"], "actions": [{"type": "configuration"}]}\n'
        "}}}"
    )
    path = write(text)
    result = run_cli("validate", str(path))
    assert result.code == 1
    assert (
        f"{path}:5:17: steps.conf-zones.parents[0]: step `conf-zones` has an unknown parent `frist`"
        in result.err
    )
