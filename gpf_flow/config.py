"""Where things live: the local store's home folder and the choice of store.

Order of precedence for the home: ``--home`` flag, ``GPF_FLOW_HOME``, then the XDG data dir
(``$XDG_DATA_HOME/gpf-flow`` or ``~/.local/share/gpf-flow``). The store kind: ``--store`` flag,
``GPF_FLOW_STORE``, then ``local``.
"""

from __future__ import annotations

import os
from pathlib import Path

STORE_KINDS = ("local", "geoplateforme")


def default_home() -> Path:
    """The local store's folder when nothing says otherwise."""
    env = os.environ.get("GPF_FLOW_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "gpf-flow"


def resolve_home(home: str | Path | None) -> Path:
    """The home given on the command line, or the default one."""
    return Path(home).expanduser() if home else default_home()


def resolve_store_kind(kind: str | None) -> str:
    """``local`` or ``geoplateforme`` from the flag, then ``GPF_FLOW_STORE``."""
    value = (kind or os.environ.get("GPF_FLOW_STORE") or "local").strip().lower()
    if value not in STORE_KINDS:
        from gpf_flow.errors import UsageError

        raise UsageError(f"unknown store {value!r}", hint=f"use one of: {', '.join(STORE_KINDS)}")
    return value
