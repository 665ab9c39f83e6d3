"""Helpers shared by the Géoplateforme store tests (importable: the test folder is on sys.path)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from gpf_flow.store.geoplateforme import GpfSettings, load_settings


def serve_helpers() -> Any:
    """The serve tests' server helpers (``start_server``/``stop_server``), loaded under a unique name."""
    name = "gpf_serve_conftest_helpers"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).parents[1] / "serve" / "conftest.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def fast_settings(server: Any, *, via: str | None = None, **overrides: str) -> GpfSettings:
    """Settings read from the server's SDK config.ini, with short retry pauses for tests;
    ``via`` routes the API (not the token endpoint) through a proxy base URL."""
    base = load_settings(server.sdk_config, env={})
    values = dict(base.values)
    values.update({"retry_base": "0.05", "nb_attempts": "6"})
    if via is not None:
        values["root_url"] = f"{via}/api"
    values.update(overrides)
    return GpfSettings(values=values, sources=dict(base.sources), config_path=base.config_path)
