"""Which PostgreSQL the local store uses for VECTOR-DB stored data.

In order: the ``--postgres`` option (the CLI puts it in ``GPF_FLOW_POSTGRES`` so worker processes
inherit it), ``GPF_FLOW_POSTGRES``, the ``postgres`` key of the configuration file; a DSN there
names an existing server, ``embedded`` (or nothing) a cluster gpf-flow runs in the store's home
when PostgreSQL is installed, ``off`` the GeoPackage store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg.conninfo

ENV = "GPF_FLOW_POSTGRES"
OFF = ("off", "none", "no", "false", "geopackage")


@dataclass(frozen=True)
class PostgresChoice:
    """The database the local store uses: ``dsn`` (existing server), ``embedded`` or ``off``."""

    kind: str
    dsn: str | None
    source: str

    def masked(self) -> str:
        """The DSN with its password hidden, or the kind."""
        return mask_dsn(self.dsn) if self.dsn else self.kind


def mask_dsn(dsn: str) -> str:
    """The DSN with any password replaced by ``***`` (URL or ``key=value`` form)."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unreadable DSN)"
    if "password" in params:
        params["password"] = "***"
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})


def _from_config(config_path: str | Path | None) -> tuple[str, str] | None:
    from gpf_flow.errors import GpfFlowError
    from gpf_flow.store.geoplateforme.settings import default_config_path, read_config_file

    path = Path(config_path).expanduser() if config_path else default_config_path()
    if path is None or not path.is_file():
        return None
    try:
        value = read_config_file(path).get("postgres")
    except GpfFlowError:
        return None
    return (str(value), f"config file {path}") if value else None


def resolve_postgres(config_path: str | Path | None = None) -> PostgresChoice:
    """The PostgreSQL choice from the environment, then the configuration file."""
    value = os.environ.get(ENV, "").strip()
    source = ENV
    if not value:
        found = _from_config(config_path)
        value, source = found if found else ("", "default")
    if value.lower() in OFF:
        return PostgresChoice("off", None, source)
    if value and value.lower() != "embedded":
        return PostgresChoice("dsn", value, source)
    return PostgresChoice("embedded", None, source)
