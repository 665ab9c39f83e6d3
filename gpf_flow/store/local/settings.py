"""The home's settings file (``config.json``): user names, local accounts, public URL, ids.

Created once (atomically, so two processes opening a fresh home agree on one file) and then
only read. People may edit it: names, ``public_url``, ``token_lifetime``, accounts.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import uuid
from pathlib import Path
from typing import Any

from gpf_flow.errors import GpfFlowError

SETTINGS_FILE = "config.json"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8700"


def _os_user() -> str:
    try:
        return getpass.getuser() or "user"
    except Exception:  # no passwd entry (containers)
        return os.environ.get("USER") or "user"


def default_settings() -> dict[str, Any]:
    """Fresh settings: the OS user as last name and login, a random password, new ids."""
    login = _os_user()
    return {
        "user": {
            "_id": str(uuid.uuid4()),
            "first_name": "",
            "last_name": login,
            "email": f"{login}@localhost",
        },
        "datastore": {"_id": str(uuid.uuid4()), "name": "Local datastore", "technical_name": "local"},
        "community": {"_id": str(uuid.uuid4()), "name": "Local community", "technical_name": "local"},
        "accounts": [{"login": login, "password": secrets.token_urlsafe(18)}],
        "public_url": DEFAULT_PUBLIC_URL,
        "token_lifetime": 3600,
    }


def load_settings(home: Path) -> dict[str, Any]:
    """Read ``home/config.json``, creating it on first use."""
    path = home / SETTINGS_FILE
    if not path.exists():
        tmp = home / f".gpf-config-{os.getpid()}-{uuid.uuid4().hex}.json"
        tmp.write_text(json.dumps(default_settings(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)  # it holds a password
        try:
            os.link(tmp, path)  # atomic and exclusive: the first process wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GpfFlowError(
            f"cannot read the local store settings {path}: {exc}",
            hint="fix the JSON, or delete the file to get fresh settings (new ids and password)",
        ) from exc
    defaults = default_settings()
    for key in ("user", "datastore", "community", "accounts", "public_url", "token_lifetime"):
        if key not in data:
            raise GpfFlowError(
                f"the local store settings {path} have no {key!r}",
                hint=f"add it back, for example {json.dumps(defaults[key], ensure_ascii=False)}",
            )
    return data
