"""``gpf-flow auth``, ``me`` and ``config`` as a user runs them (subprocesses on a real server):
flags win over the environment, errors are messages (no traceback), secrets never appear."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def gpf_flow(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GPF_FLOW_", "SDK_ENTREPOT"))}
    clean.update({"COLUMNS": "200", "XDG_CONFIG_HOME": str(cwd or Path.cwd()), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "gpf_flow", *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=cwd,
        timeout=120,
    )


def assert_no_secret(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr


def test_gpf_cli_auth_me_config(gpf_server: Any, tmp_path: Path) -> None:
    config = str(gpf_server.sdk_config)
    auth = gpf_flow("auth", "--store", "geoplateforme", "--config", config, cwd=tmp_path)
    assert auth.returncode == 0, auth.stderr
    assert "authenticated as" in auth.stdout and "token expires in" in auth.stdout
    assert gpf_server.datastore in auth.stdout
    assert_no_secret(auth, gpf_server.password)

    me = gpf_flow("me", "--store", "geoplateforme", "--config", config, cwd=tmp_path)
    assert me.returncode == 0, me.stderr
    assert gpf_server.datastore in me.stdout  # the full id, never cut
    assert "communities and datastores" in me.stdout

    shown = gpf_flow("config", "--store", "geoplateforme", "--config", config, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = {line.split("=")[0].strip(): line for line in shown.stdout.splitlines()}
    assert "geoplateforme" in lines["store"] and "(--store)" in lines["store"]
    assert "****" in lines["geoplateforme.password"] and config in lines["geoplateforme.password"]
    assert "(defaults)" in lines["geoplateforme.client_id"]
    assert_no_secret(shown, gpf_server.password, "BK2G7Vvkn7UDc8cV7edbCnHdYminWVw2")


def test_gpf_cli_flags_win_over_environment(gpf_server: Any, tmp_path: Path) -> None:
    config = str(gpf_server.sdk_config)
    env = {"GPF_FLOW_STORE": "geoplateforme", "GPF_FLOW_CONFIG": config, "GPF_FLOW_HOME": str(tmp_path / "h")}
    from_env = gpf_flow("config", env=env, cwd=tmp_path)
    assert "(env GPF_FLOW_STORE)" in from_env.stdout and config in from_env.stdout
    flag = gpf_flow("auth", "--store", "local", env=env, cwd=tmp_path)
    assert flag.returncode == 0 and "no credentials needed" in flag.stdout
    by_env = gpf_flow("auth", env=env, cwd=tmp_path)
    assert by_env.returncode == 0 and "authenticated as" in by_env.stdout
    # a gpf-flow TOML file may choose the store itself
    toml = tmp_path / "gpf.toml"
    toml.write_text(
        f'store = "geoplateforme"\n[geoplateforme]\nroot_url = "{gpf_server.api}"\n'
        f'token_url = "{gpf_server.token_url}"\nlogin = "{gpf_server.login}"\npassword_file = "pw"\n'
        f'datastore = "{gpf_server.datastore}"\n'
    )
    (tmp_path / "pw").write_text(gpf_server.password)
    toml_run = gpf_flow("auth", "--config", str(toml), cwd=tmp_path)
    assert toml_run.returncode == 0, toml_run.stderr
    assert "authenticated as" in toml_run.stdout
    assert_no_secret(toml_run, gpf_server.password)


def test_gpf_cli_errors_are_messages(gpf_server: Any, tmp_path: Path) -> None:
    config = str(gpf_server.sdk_config)
    wrong = "Wr0ng-Pa55word-xyz"
    bad = gpf_flow("me", "--store", "geoplateforme", "--config", config, env={"GPF_FLOW_PASSWORD": wrong})
    assert bad.returncode == 1
    assert "bad credentials" in bad.stderr and "HTTP 401" in bad.stderr and "Traceback" not in bad.stderr
    assert_no_secret(bad, wrong, gpf_server.password)

    unreachable = gpf_flow(
        "auth",
        "--store",
        "geoplateforme",
        "--config",
        config,
        env={"GPF_FLOW_TOKEN_URL": "http://127.0.0.1:9/token", "GPF_FLOW_NB_ATTEMPTS": "1"},
    )
    assert unreachable.returncode == 1
    assert "cannot get a token" in unreachable.stderr and "Traceback" not in unreachable.stderr

    missing = gpf_flow("me", "--store", "geoplateforme", "--config", str(tmp_path / "nope.ini"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
