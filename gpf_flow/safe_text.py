"""Text from untrusted files made safe to print: control characters escaped, long text shortened.

A step name, an entity name or an error message quoting a file can hold ANSI escape sequences
(which would drive the terminal), NUL bytes or carriage returns (which hide what precedes them).
"""

from __future__ import annotations

import re

__all__ = ["printable", "shorten"]

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with control characters written as escapes (``\\e``, ``\\x00``); newlines and tabs
    are kept when ``keep_newlines``, escaped otherwise (a one-line label)."""
    pattern = _UNSAFE if keep_newlines else _UNSAFE_OR_NEWLINE
    return pattern.sub(_escape, text)


def shorten(text: str, width: int = 80) -> str:
    """``text`` cut in its middle with ``…`` when longer than ``width`` characters."""
    if len(text) <= width:
        return text
    keep = max(width - 1, 2)
    head = keep - keep // 3
    return text[:head] + "…" + text[len(text) - (keep - head) :]
