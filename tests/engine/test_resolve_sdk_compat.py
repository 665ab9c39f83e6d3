"""Our parser finds exactly the templates the official SDK's regex finds in its own workflows."""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import json5
import pytest

from gpf_flow.resolve import find_templates, parse

sdk = pytest.importorskip("sdk_entrepot_gpf")
SDK_DIR = Path(sdk.__file__).parent
WORKFLOWS = sorted((SDK_DIR / "_data" / "workflows").glob("*.jsonc"))


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)


def sdk_regex() -> re.Pattern[str]:
    ini = configparser.ConfigParser(interpolation=configparser.ExtendedInterpolation())
    ini.read(SDK_DIR / "_conf" / "default.ini", encoding="utf-8")
    return re.compile(ini["workflow_resolution_regex"]["global_regex"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_same_templates_as_the_sdk(path: Path) -> None:
    regex = sdk_regex()
    document = json5.loads(path.read_text(encoding="utf-8"))
    compared = 0
    for text in strings(document):
        expected = [
            m.group("param")
            for m in regex.finditer(text)
            if m.group("resolver_name") in ("store_entity", "user", "params", "datetime")
        ]
        assert [t.source for t in parse(text).templates] == expected, text
        compared += len(expected)
    assert compared > 0
    assert find_templates(document)  # the whole document parses
