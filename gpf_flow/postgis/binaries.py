"""Finding the PostgreSQL server programs (``initdb``, ``pg_ctl``, ``postgres``) on this machine."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

INSTALL_HINT = "install PostgreSQL and PostGIS (Debian/Ubuntu: apt-get install postgresql postgis)"


def _has_server(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


def _version_key(folder: Path) -> tuple[int, ...]:
    digits = [int(p) for p in folder.parent.name.split(".") if p.isdigit()]
    return tuple(digits) or (0,)


def find_bindir() -> Path | None:
    """The folder holding ``initdb``/``pg_ctl``/``postgres``, newest version first, or ``None``.

    Looked up in ``GPF_FLOW_PG_BINDIR``, then ``pg_config --bindir``, then Debian's
    ``/usr/lib/postgresql/*/bin``, then the ``PATH``.
    """
    env = os.environ.get("GPF_FLOW_PG_BINDIR")
    if env:
        return Path(env) if _has_server(Path(env)) else None
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    debian = sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")), key=_version_key, reverse=True)
    candidates += debian
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    return next((c for c in candidates if _has_server(c)), None)


def postgis_installed(bindir: Path) -> bool:
    """True when the PostGIS extension files are installed for this PostgreSQL."""
    folders = [Path(f"/usr/share/postgresql/{bindir.parent.name}"), bindir.parent / "share"]
    pg_config = bindir / "pg_config"
    if pg_config.is_file():
        try:
            out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                folders.insert(0, Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    return any((f / "extension" / "postgis.control").is_file() for f in folders)
