"""``gpf-flow [COMMAND...] --help`` answered from a cache of click's own rendering.

Rendering the help of the typer app means importing typer (and the click it carries) and building
every command: about 60 ms of CPU, most of ``gpf-flow --help``. The text only changes when the
code that renders it changes, so:

- the first ``--help`` of a command runs the real app with stdout captured (typer and click print
  the help as they always do), prints that text and stores it in ``$XDG_CACHE_HOME/gpf-flow/help.json``
  (default ``~/.cache``), with every Python file loaded at that moment (gpf-flow's, typer's,
  click's, the standard library's: all the code that can shape the text) and its size and mtime;
- a later ``--help`` prints the stored text, without importing typer, only when every recorded
  file is unchanged and the text was stored for the same words, Python, terminal width (click
  wraps to it), stdout encoding and program name inputs (``sys.argv[0]`` and how Python was
  started: click names the program from them).

Anything else (a changed or reinstalled file, a new width, an unreadable or unwritable cache, an
argument that is not a command path) falls back to the app, so the cache can be wrong only if a
file changes with the same size and mtime. The cached text is never written by this module: it is
whatever click printed. ``tests/cli/test_help_cache.py`` compares both with click's rendering.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

FORMAT = 1
"""Version of the cache file's layout: a file of another version is ignored (and replaced)."""

MAX_TEXTS = 500
"""Texts kept at most (commands × widths × ways of starting): beyond, the cache starts afresh."""

HELP = "--help"


def cache_path() -> str:
    """Where the help texts are stored (``os.path``, not pathlib: this module is on the fast path)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gpf-flow", "help.json")


def help_words(args: Sequence[str]) -> tuple[str, ...] | None:
    """The command words of a plain help request (``[WORD...] --help``), or None for anything else."""
    if not args or args[-1] != HELP:
        return None
    words = tuple(args[:-1])
    if any(not word or word.startswith("-") for word in words):
        return None
    return words


def _key(words: tuple[str, ...]) -> str:
    """What the text depends on besides the code: the words, width, encoding and program name inputs."""
    main = sys.modules.get("__main__")
    return json.dumps(
        [
            list(words),
            os.environ.get("COLUMNS"),
            _terminal_columns(),
            getattr(sys.stdout, "encoding", None),
            sys.argv[0],
            getattr(main, "__package__", None),
            sys.prefix,  # another environment may have another typer
        ]
    )


def _terminal_columns() -> int | None:
    """Columns of the terminal stdout was started on, or None when it is not a terminal."""
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else None
    except (OSError, ValueError):
        return None


def _stat(path: str) -> list[int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return [status.st_mtime_ns, status.st_size]


def _read(path: str) -> dict[str, Any] | None:
    """The cache file's content if it is of this format and Python, else None."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("python") != sys.version:
        return None
    return data


def _unchanged(files: dict[str, list[int]]) -> bool:
    """Whether every recorded file still has its recorded mtime and size."""
    return all(_stat(path) == recorded for path, recorded in files.items())


def cached_help(words: tuple[str, ...], path: str | None = None) -> str | None:
    """The stored help text for these words in this setting, if the code that rendered it is unchanged."""
    data = _read(path or cache_path())
    if data is None:
        return None
    text = data.get("texts", {}).get(_key(words))
    if not isinstance(text, str) or not _unchanged(data.get("files", {})):
        return None
    return text


def loaded_files() -> dict[str, list[int]]:
    """Every file of a module loaded in this process, with its mtime and size."""
    files: dict[str, list[int]] = {}
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if isinstance(name, str) and name not in files:
            status = _stat(name)
            if status is not None:
                files[name] = status
    return files


def store(words: tuple[str, ...], text: str, path: str | None = None) -> None:
    """Add a text to the cache with the files loaded now (best effort: an unwritable cache is skipped)."""
    path = path or cache_path()
    files = loaded_files()
    data = _read(path)
    if data is None or not _unchanged(data.get("files", {})) or len(data.get("texts", {})) >= MAX_TEXTS:
        data = {"format": FORMAT, "python": sys.version, "files": {}, "texts": {}}
    data["files"].update(files)
    data["texts"][_key(words)] = text
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(temporary, path)
    except OSError:
        if os.path.exists(temporary):
            os.unlink(temporary)


def render(run_app: Callable[[], int], is_command: Callable[[tuple[str, ...]], bool]) -> bool:
    """For a help request missing from the cache: run the app with stdout captured, print and store
    what it printed. False (nothing printed) when the request is not a command's help or fails:
    the caller then runs the app as usual, which reports the error."""
    words = help_words(sys.argv[1:])
    if words is None or not is_command(words):
        return False
    import contextlib
    import io

    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            code = run_app()
    except Exception:
        return False
    if code != 0 or not captured.getvalue():
        return False
    text = captured.getvalue()
    store(words, text)
    emit(text)
    return True


def emit(text: str) -> None:
    """Print a help text; a reader that went away (``| true``) ends it with 1 and no message, as
    click does."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush goes nowhere
        os.close(devnull)
        sys.exit(1)
