"""Configuration: SDK config.ini as it is, SDK-layout and gpf-flow TOML, env, secret files, masking."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gpf_flow.store.geoplateforme.settings import (
    ConfigError,
    RedactingFilter,
    configured_store,
    load_settings,
)

SDK_INI = """\
[store_authentification]
token_url=${store_api:root_url}/../realms/geoplateforme/protocol/openid-connect/token
login=alice
password=s3cr3t-Pa55
client_secret=

[store_api]
root_url=http://127.0.0.1:8765/api
datastore=11111111-2222-3333-4444-555555555555
nb_limit=25

[upload]
nb_sec_between_check_updates=1
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_gpf_sdk_ini_is_read_with_extended_interpolation(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "config.ini", SDK_INI), env={})
    assert settings.root_url == "http://127.0.0.1:8765/api"
    assert (
        settings.token_url
        == "http://127.0.0.1:8765/api/../realms/geoplateforme/protocol/openid-connect/token"
    )
    assert settings.get("login") == "alice"
    assert settings.get("password") == "s3cr3t-Pa55"
    assert settings.get("client_secret") == ""  # an empty override is kept (the SDK sends it empty)
    assert settings.get("client_id") == "gpf-warehouse"
    assert settings.datastore == "11111111-2222-3333-4444-555555555555"
    assert settings.page_limit == 25
    assert settings.sources["login"] == str(tmp_path / "config.ini")
    assert settings.sources["client_id"] == "defaults"


def test_gpf_sdk_placeholders_count_as_unset(tmp_path: Path) -> None:
    ini = "[store_authentification]\nlogin=LOGIN_TO_MODIFY\n[store_api]\ndatastore=DATASTORE_ID_TO_MODIFY\n"
    settings = load_settings(write(tmp_path / "c.ini", ini), env={})
    assert settings.get("login") == ""
    assert settings.datastore == ""


def test_gpf_env_overrides_file_and_secret_files(tmp_path: Path) -> None:
    secret = write(tmp_path / "pw.txt", "from-file-pw\n")
    env = {
        "GPF_FLOW_CONFIG": str(write(tmp_path / "config.ini", SDK_INI)),
        "GPF_FLOW_LOGIN": "bob",
        "GPF_FLOW_PASSWORD_FILE": str(secret),
    }
    settings = load_settings(None, env=env)
    assert settings.get("login") == "bob"
    assert settings.sources["login"] == "env GPF_FLOW_LOGIN"
    assert settings.get("password") == "from-file-pw"
    assert settings.sources["password"].startswith(f"file {secret}")
    # a password given directly in the environment wins over a password file
    env["GPF_FLOW_PASSWORD"] = "direct"
    assert load_settings(None, env=env).get("password") == "direct"


def test_gpf_toml_of_our_own_and_sdk_layout(tmp_path: Path) -> None:
    write(tmp_path / "pw", "tomlpw")
    ours = write(
        tmp_path / "gpf.toml",
        'store = "geoplateforme"\n[geoplateforme]\nroot_url = "http://h/api"\nlogin = "carol"\n'
        'password_file = "pw"\nnb_limit = 7\n',
    )
    settings = load_settings(ours, env={})
    assert (settings.root_url, settings.get("login"), settings.get("password")) == (
        "http://h/api",
        "carol",
        "tomlpw",
    )
    assert settings.page_limit == 7
    assert configured_store(ours) == ("geoplateforme", ours)
    sdk = write(
        tmp_path / "sdk.toml",
        '[store_api]\nroot_url = "http://x/api"\n[store_authentification]\nlogin = "d"\n',
    )
    assert load_settings(sdk, env={}).get("login") == "d"
    assert configured_store(sdk) is None


def test_gpf_config_errors_are_actionable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.ini", env={})
    bad = write(tmp_path / "bad.ini", "[store_api]\nroot_url=${nowhere:x}\n")
    with pytest.raises(ConfigError, match=r"\[store_api\] root_url"):
        load_settings(bad, env={})
    missing_secret = write(tmp_path / "m.toml", 'password_file = "nope.txt"\n')
    with pytest.raises(ConfigError, match="nope.txt"):
        load_settings(missing_secret, env={})
    with pytest.raises(ConfigError, match="nb_limit"):
        load_settings(write(tmp_path / "n.toml", 'nb_limit = "ten"\n'), env={}).page_limit  # noqa: B018


def test_gpf_masked_never_shows_secrets(tmp_path: Path) -> None:
    env = {"GPF_FLOW_TOTP_KEY": "JBSWY3DPEHPK3PXP"}
    settings = load_settings(write(tmp_path / "config.ini", SDK_INI), env=env)
    shown = settings.masked()
    text = repr(shown)
    for secret in ("s3cr3t-Pa55", "JBSWY3DPEHPK3PXP"):
        assert secret not in text
    assert shown["password"] == "****"
    assert shown["client_secret"] == "(unset)"
    assert shown["login"] == "alice"


def test_gpf_redacting_filter_scrubs_tokens_and_passwords(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.gpf.redact")
    redactor = RedactingFilter(["hunter2-secret"])
    logger.addFilter(redactor)
    try:
        with caplog.at_level(logging.DEBUG, logger="tests.gpf.redact"):
            logger.debug("header Authorization: Bearer %s", "eyJhbGciOi.abc.def")
            logger.debug("form password=%s&username=alice", "hunter2-secret")
            logger.debug('body {"access_token": "tok-123", "expires_in": 3}')
    finally:
        logger.removeFilter(redactor)
    text = caplog.text
    assert "eyJhbGciOi" not in text and "hunter2-secret" not in text and "tok-123" not in text
    assert "username=alice" in text and "expires_in" in text
