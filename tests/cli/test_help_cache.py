"""``--help`` from the help cache: the very text click renders, for every command, and only while
the code that rendered it is unchanged.

Each help request runs ``python -m gpf_flow`` twice on a fresh cache folder: the first run renders
with typer and fills the cache, the second answers from it without importing typer. Both must equal
click's own rendering of the same command made in this process by typer's test runner.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from gpf_flow.cli import app, help_cache

PROG = "python -m gpf_flow"


def command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the app as its words (``()`` is the app itself)."""
    paths: list[tuple[str, ...]] = []

    def walk(command: Any, words: tuple[str, ...]) -> None:
        paths.append(words)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, (*words, name))

    walk(typer.main.get_command(app), ())
    return paths


def click_help(words: tuple[str, ...], columns: str, prog: str = PROG) -> str:
    """Click's rendering of ``PROG WORDS --help`` at this width, made by the app in this process
    (not typer's CliRunner: it forces click's width to 80 columns, where a terminal gives 78)."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setenv("COLUMNS", columns)
        code = app([*words, "--help"], prog_name=prog, standalone_mode=False)
    assert code == 0
    return out.getvalue()


def gpf_flow(
    cache: Path, *args: str, columns: str = "80", command: list[str] | None = None
) -> tuple[str, set[str]]:
    """(stdout, imported module names) of ``python -m gpf_flow ARGS`` with this cache folder."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": columns}
    done = subprocess.run(
        [*(command or [sys.executable, "-m", "gpf_flow"]), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "[us]" not in line
    }
    return done.stdout, names


def test_every_command_help_from_the_cache_is_clicks_rendering(tmp_path: Path) -> None:
    paths = command_paths()
    assert len(paths) > 15
    for words in paths:
        expected = click_help(words, "80")
        rendered, first_imports = gpf_flow(tmp_path, *words, "--help")
        cached, second_imports = gpf_flow(tmp_path, *words, "--help")
        assert rendered == expected, words
        assert cached == expected, words
        assert "typer" in first_imports, words  # rendered by typer and click...
        assert "typer" not in second_imports, words  # ...then answered from the cache


@pytest.mark.parametrize("columns", ["60", "120"])
def test_another_width_is_rendered_for_that_width(tmp_path: Path, columns: str) -> None:
    gpf_flow(tmp_path, "validate", "--help")  # cached at 80 columns
    text, imports = gpf_flow(tmp_path, "validate", "--help", columns=columns)
    assert "typer" in imports  # not the 80-column text
    assert text == click_help(("validate",), columns)
    again, imports = gpf_flow(tmp_path, "validate", "--help", columns=columns)
    assert again == text and "typer" not in imports


def test_the_console_script_keeps_its_own_program_name(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("gpf-flow")
    gpf_flow(tmp_path, "plan", "--help")  # cached for `python -m gpf_flow`
    for _ in range(2):
        text, _imports = gpf_flow(tmp_path, "plan", "--help", command=[str(script)])
        assert text == click_help(("plan",), "80", prog="gpf-flow")
        assert text.startswith("Usage: gpf-flow plan ")


def test_an_unwritable_cache_still_prints_the_help(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    for _ in range(2):
        text, imports = gpf_flow(blocked, "--help")
        assert text == click_help((), "80")
        assert "typer" in imports


def test_a_corrupt_cache_is_rendered_again(tmp_path: Path) -> None:
    gpf_flow(tmp_path, "--help")
    (tmp_path / "gpf-flow" / "help.json").write_text('{"format": 1, "texts": [')
    text, imports = gpf_flow(tmp_path, "--help")
    assert text == click_help((), "80") and "typer" in imports
    assert json.loads((tmp_path / "gpf-flow" / "help.json").read_text())["format"] == help_cache.FORMAT


def test_what_is_not_a_command_is_reported_and_not_cached(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "COLUMNS": "80"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "gpf_flow", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)

    unknown = run("nope", "--help")
    assert unknown.returncode == 2 and "No such command 'nope'" in unknown.stderr
    with_argument = run("validate", "some-file", "--help")  # help all the same, by typer
    assert with_argument.returncode == 0 and with_argument.stdout == click_help(("validate",), "80")
    assert not (tmp_path / "gpf-flow" / "help.json").exists()


def test_help_words() -> None:
    assert help_cache.help_words(["--help"]) == ()
    assert help_cache.help_words(["catalog", "get", "--help"]) == ("catalog", "get")
    assert help_cache.help_words(["validate", "-p", "a", "b", "--help"]) is None
    assert help_cache.help_words(["--help", "validate"]) is None
    assert help_cache.help_words([]) is None


def test_a_changed_source_file_invalidates_the_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "help_cache_probe.py"
    module.write_text("WORDS = 'help'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "help_cache_probe", importlib.import_module("help_cache_probe"))
    cache = str(tmp_path / "cache" / "help.json")
    help_cache.store(("probe",), "the text\n", path=cache)
    assert str(module) in json.loads(Path(cache).read_text())["files"]
    assert help_cache.cached_help(("probe",), path=cache) == "the text\n"
    assert help_cache.cached_help(("other",), path=cache) is None
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert help_cache.cached_help(("probe",), path=cache) is None
    help_cache.store(("probe",), "new text\n", path=cache)  # a stale cache starts afresh
    assert help_cache.cached_help(("probe",), path=cache) == "new text\n"
    assert len(json.loads(Path(cache).read_text())["texts"]) == 1


def test_a_reader_gone_away_ends_the_help_quietly(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    for _ in range(2):  # rendered, then cached
        read, write = os.pipe()
        os.close(read)  # every write to the pipe fails: the reader is gone
        try:
            done = subprocess.run(
                [sys.executable, "-m", "gpf_flow", "--help"],
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
                env=env,
            )
        finally:
            os.close(write)
        assert done.returncode == 1 and done.stderr == "", done.stderr  # as click itself ends it
    assert (tmp_path / "gpf-flow" / "help.json").exists()
