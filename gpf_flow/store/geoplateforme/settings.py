"""Settings of the Géoplateforme store: where the API is, who we are, how patient we are.

Sources, lowest priority first:

1. built-in defaults (those of the official SDK's ``default.ini``);
2. one configuration file: the official SDK's ``config.ini`` as it is (``[store_authentification]``,
   ``[store_api]``, read with ``ExtendedInterpolation`` over the SDK's defaults), the same layout in
   TOML, or a TOML file of our own (keys at the top level or under ``[geoplateforme]``);
3. ``GPF_FLOW_<KEY>`` environment variables (``GPF_FLOW_LOGIN``, ``GPF_FLOW_PASSWORD``...).

Secrets (``password``, ``client_secret``, ``totp_key``) may also come from a file named by
``<secret>_file`` (in the configuration or ``GPF_FLOW_<SECRET>_FILE``). They are never printed:
:meth:`GpfSettings.masked` is the view for display and :class:`RedactingFilter` scrubs logs.

The configuration file is the one given (``--config``), else ``GPF_FLOW_CONFIG``, else
``SDK_ENTREPOT_CONFIG_FILE`` (the official SDK's variable), else
``$XDG_CONFIG_HOME/gpf-flow/config.toml`` when it exists; with none, only defaults and the
environment count.
"""

from __future__ import annotations

import configparser
import logging
import os
import re
import tomllib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpf_flow.errors import GpfFlowError

SECRET_KEYS = ("password", "client_secret", "totp_key")

# Official SDK defaults (``sdk_entrepot_gpf/_conf/default.ini``); the client secret is the public
# one shipped with the SDK for the ``gpf-warehouse`` client.
DEFAULTS: dict[str, str] = {
    "root_url": "https://data.geopf.fr/api",
    "token_url": "https://sso.geopf.fr/realms/geoplateforme/protocol/openid-connect/token",
    "grant_type": "password",
    "client_id": "gpf-warehouse",
    "client_secret": "BK2G7Vvkn7UDc8cV7edbCnHdYminWVw2",
    "login": "",
    "password": "",
    "totp_key": "",
    "datastore": "",
    "nb_limit": "10",
    "nb_attempts": "5",
    "timeout": "60",
    "connect_timeout": "10",
    "upload_timeout": "600",
    "retry_base": "0.5",
    "http_proxy": "",
    "https_proxy": "",
}

# Where each of our keys sits in the official SDK's ini layout.
SDK_LOCATIONS: dict[str, tuple[str, str]] = {
    "token_url": ("store_authentification", "token_url"),
    "grant_type": ("store_authentification", "grant_type"),
    "client_id": ("store_authentification", "client_id"),
    "client_secret": ("store_authentification", "client_secret"),
    "login": ("store_authentification", "login"),
    "password": ("store_authentification", "password"),
    "totp_key": ("store_authentification", "totp_key"),
    "root_url": ("store_api", "root_url"),
    "datastore": ("store_api", "datastore"),
    "nb_limit": ("store_api", "nb_limit"),
    "nb_attempts": ("store_api", "nb_attempts"),
    "timeout": ("store_api", "timeout"),
    "http_proxy": ("store_api", "http_proxy"),
    "https_proxy": ("store_api", "https_proxy"),
}

# Placeholders of the SDK's default.ini: a value still equal to one of them was never set.
SDK_PLACEHOLDERS = frozenset({"LOGIN_TO_MODIFY", "PASSWORD_TO_MODIFY", "DATASTORE_ID_TO_MODIFY"})

ENV_PREFIX = "GPF_FLOW_"


class ConfigError(GpfFlowError):
    """The Géoplateforme configuration is missing something or cannot be read."""


@dataclass(frozen=True)
class GpfSettings:
    """The effective settings, each with the place it comes from (``sources``)."""

    values: Mapping[str, str]
    sources: Mapping[str, str] = field(default_factory=dict)
    config_path: Path | None = None

    def get(self, key: str) -> str:
        """A value as text (empty when unset)."""
        return self.values.get(key, "")

    @property
    def root_url(self) -> str:
        """The Entrepôt API root (``[store_api] root_url``), without a trailing slash."""
        return self.get("root_url").rstrip("/")

    @property
    def token_url(self) -> str:
        """The KeyCloak token endpoint (``[store_authentification] token_url``)."""
        return self.get("token_url")

    @property
    def datastore(self) -> str:
        """The datastore id or name to work in (empty: none configured)."""
        return self.get("datastore")

    @property
    def page_limit(self) -> int:
        """Items per list page (``nb_limit``)."""
        return self._int("nb_limit", minimum=1)

    @property
    def attempts(self) -> int:
        """Retries after a first failed attempt (``nb_attempts``)."""
        return self._int("nb_attempts", minimum=1)

    @property
    def timeout(self) -> float:
        """HTTP read timeout in seconds."""
        return self._float("timeout")

    @property
    def connect_timeout(self) -> float:
        """HTTP connect timeout in seconds."""
        return self._float("connect_timeout")

    @property
    def upload_timeout(self) -> float:
        """HTTP timeout in seconds for file pushes."""
        return self._float("upload_timeout")

    def secrets(self) -> list[str]:
        """The secret values that are set (for redaction)."""
        return [self.values[k] for k in SECRET_KEYS if self.values.get(k)]

    def masked(self) -> dict[str, str]:
        """Every value for display, secrets replaced by ``****`` (or ``(unset)``)."""
        shown: dict[str, str] = {}
        for key in sorted(self.values):
            value = self.values[key]
            if key in SECRET_KEYS:
                shown[key] = mask(value)
            else:
                shown[key] = value
        return shown

    def _int(self, key: str, *, minimum: int = 0) -> int:
        raw = self.get(key)
        try:
            number = int(raw)
        except ValueError:
            raise ConfigError(
                f"setting {key} must be an integer, got {raw!r} (from {self.sources.get(key, 'defaults')})"
            ) from None
        return max(number, minimum)

    def _float(self, key: str) -> float:
        raw = self.get(key)
        try:
            number = float(raw)
        except ValueError:
            raise ConfigError(
                f"setting {key} must be a number of seconds, got {raw!r} "
                f"(from {self.sources.get(key, 'defaults')})"
            ) from None
        if number <= 0:
            raise ConfigError(f"setting {key} must be > 0 (from {self.sources.get(key, 'defaults')})")
        return number


def mask(value: str) -> str:
    """How a secret is shown: never any of its characters."""
    return "****" if value else "(unset)"


def default_config_path() -> Path | None:
    """The configuration file used when none is given: env variables, then the XDG one if present."""
    for name in ("GPF_FLOW_CONFIG", "SDK_ENTREPOT_CONFIG_FILE"):
        env = os.environ.get(name)
        if env:
            return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    candidate = base / "gpf-flow" / "config.toml"
    return candidate if candidate.is_file() else None


def load_settings(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> GpfSettings:
    """The effective settings from defaults, the configuration file and the environment."""
    environ = os.environ if env is None else env
    config_path = Path(path).expanduser() if path else _config_from(environ)
    values = dict(DEFAULTS)
    sources = dict.fromkeys(DEFAULTS, "defaults")
    extra_files: dict[str, tuple[str, str]] = {}
    if config_path is not None:
        file_values = read_config_file(config_path)
        for key, value in file_values.items():
            if key.endswith("_file") and key[: -len("_file")] in SECRET_KEYS:
                extra_files[key[: -len("_file")]] = (value, f"{config_path} ({key})")
                continue
            values[key] = value
            sources[key] = f"{config_path}"
    for key in list(DEFAULTS) + [k for k in values if k not in DEFAULTS]:
        env_value = environ.get(ENV_PREFIX + key.upper())
        if env_value is not None and env_value != "":
            values[key] = env_value
            sources[key] = f"env {ENV_PREFIX}{key.upper()}"
            extra_files.pop(key, None)
    for secret in SECRET_KEYS:
        env_file = environ.get(f"{ENV_PREFIX}{secret.upper()}_FILE")
        if env_file and not environ.get(ENV_PREFIX + secret.upper()):
            extra_files[secret] = (env_file, f"env {ENV_PREFIX}{secret.upper()}_FILE")
    for secret, (file_name, origin) in extra_files.items():
        secret_path = Path(file_name).expanduser()
        if config_path is not None and not secret_path.is_absolute() and "env" not in origin:
            secret_path = config_path.parent / secret_path
        try:
            values[secret] = secret_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the {secret} file {secret_path} named by {origin}: {exc.strerror}",
                hint="fix the path or set the value directly",
            ) from None
        sources[secret] = f"file {secret_path} (from {origin})"
    for key, value in list(values.items()):
        if value in SDK_PLACEHOLDERS:
            values[key] = ""
    return GpfSettings(values=values, sources=sources, config_path=config_path)


def _config_from(environ: Mapping[str, str]) -> Path | None:
    if environ is os.environ:
        return default_config_path()
    for name in ("GPF_FLOW_CONFIG", "SDK_ENTREPOT_CONFIG_FILE"):
        if environ.get(name):
            return Path(environ[name]).expanduser()
    return None


def read_config_file(path: Path) -> dict[str, str]:
    """Our keys from an SDK ``config.ini``, an SDK-layout TOML or a gpf-flow TOML file."""
    if not path.is_file():
        raise ConfigError(
            f"configuration file {path} does not exist",
            hint="pass an existing file with --config or GPF_FLOW_CONFIG "
            "(an official SDK config.ini or a gpf-flow TOML file)",
        )
    if path.suffix.lower() == ".toml":
        return _read_toml(path)
    return _read_ini(path)


def _read_ini(path: Path) -> dict[str, str]:
    # The SDK layers the user's file over its default.ini: values may reference
    # ``${store_api:root_url}`` and the like without defining them, so the file is read over our
    # defaults; a raw read tells which options the file itself defines.
    raw = configparser.RawConfigParser()
    parser = configparser.ConfigParser(interpolation=configparser.ExtendedInterpolation())
    base: dict[str, dict[str, str]] = {}
    for key, (section, option) in SDK_LOCATIONS.items():
        base.setdefault(section, {})[option] = DEFAULTS[key]
    parser.read_dict(base, source="<defaults>")
    try:
        text = path.read_text(encoding="utf-8")
        raw.read_string(text, source=str(path))
        parser.read_string(text, source=str(path))
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read {path}: {exc}", hint="the file must be an INI file (SDK config.ini)"
        ) from None
    wanted = [(key, section, option) for key, (section, option) in SDK_LOCATIONS.items()]
    for section in ("store_authentification", "store_api", "gpf_flow"):
        if raw.has_section(section):
            for option in raw.options(section):
                is_secret_file = option.endswith("_file") and option[: -len("_file")] in SECRET_KEYS
                if is_secret_file or section == "gpf_flow":
                    wanted.append((option, section, option))
    found: dict[str, str] = {}
    for key, section, option in wanted:
        if not raw.has_option(section, option):
            continue
        try:
            found[key] = parser.get(section, option)
        except configparser.InterpolationError as exc:
            raise ConfigError(
                f"cannot read [{section}] {option} in {path}: {exc.message}",
                hint="special characters such as $ must be doubled ($$) in SDK config files",
            ) from None
    return found


def _read_toml(path: Path) -> dict[str, str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="the file must be valid TOML") from None
    found: dict[str, str] = {}
    for key, (section, option) in SDK_LOCATIONS.items():
        table = data.get(section)
        if isinstance(table, dict) and option in table:
            found[key] = _text(table[option])
    for section in ("store_authentification", "store_api"):
        table = data.get(section)
        if isinstance(table, dict):
            for option, value in table.items():
                if option.endswith("_file"):
                    found[option] = _text(value)
    ours: dict[str, Any] = {k: v for k, v in data.items() if not isinstance(v, dict)}
    table = data.get("geoplateforme")
    if isinstance(table, dict):
        ours.update(table)
    for key, value in ours.items():
        found[key] = _text(value)
    return found


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class RedactingFilter(logging.Filter):
    """Scrubs bearer tokens, passwords and known secret values from log records."""

    _PATTERNS = (
        re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-_.~+/=]+"),
        re.compile(
            r"(?i)((?:access_token|refresh_token|id_token|password|client_secret|totp)[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"
        ),
    )

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self._permanent: set[str] = {s for s in (secrets or []) if len(s) >= 4}
        self._recent: deque[str] = deque(maxlen=64)

    def add_secret(self, value: str, *, permanent: bool = False) -> None:
        """Also redact this value from now on: a password (``permanent``) or a fresh token.

        Only the 64 most recent tokens are kept: older ones have expired, and the bearer pattern
        catches tokens in headers anyway.
        """
        if len(value) < 4 or value in self._permanent or value in self._recent:
            return  # a 1-3 character "secret" would mangle every log line; patterns still apply
        if permanent:
            self._permanent.add(value)
        else:
            self._recent.append(value)

    def redact(self, text: str) -> str:
        """The text without any secret in it."""
        for secret in [*self._permanent, *self._recent]:
            text = text.replace(secret, "****")
        for pattern in self._PATTERNS:
            text = pattern.sub(r"\1****", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record's message in place; every record is kept."""
        message = record.getMessage()
        cleaned = self.redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True


def configured_store(path: str | Path | None = None) -> tuple[str, Path] | None:
    """The ``store`` key of the configuration file (``store = "geoplateforme"``) and the file, if any."""
    config_path = Path(path).expanduser() if path else default_config_path()
    if config_path is None or not config_path.is_file():
        return None
    try:
        store = read_config_file(config_path).get("store")
    except ConfigError:
        return None
    return (store.strip().lower(), config_path) if store else None
