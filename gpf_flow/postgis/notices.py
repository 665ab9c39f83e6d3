"""What a run that integrates vector data should be told, before it starts, about this machine's
PostgreSQL: missing, without PostGIS, or turned off (a GeoPackage store then, and no SQL lots)."""

from __future__ import annotations

from pathlib import Path

from gpf_flow.postgis.binaries import find_bindir, postgis_installed
from gpf_flow.postgis.settings import resolve_postgres

INSTALL_HINT = "Debian: apt-get install postgresql postgis; or give a server with --postgres DSN"
FALLBACK = "VECTOR-DB stored data will be GeoPackages, and SQL files (.sql lots) cannot be integrated"


def availability_notice(config_path: str | Path | None = None) -> str | None:
    """One line saying what is missing and how to install it; None when PostGIS can be used.

    Looks for the programs only: it neither starts nor connects to a server.
    """
    choice = resolve_postgres(config_path)
    if choice.kind == "dsn":
        return None
    if choice.kind == "off":
        return f"PostgreSQL is turned off ({choice.source}): {FALLBACK}"
    bindir = find_bindir()
    if bindir is None:
        return f"PostgreSQL is not installed: {FALLBACK} ({INSTALL_HINT})"
    if not postgis_installed(bindir):
        return f"PostGIS is not installed for the PostgreSQL in {bindir}: {FALLBACK} ({INSTALL_HINT})"
    return None
