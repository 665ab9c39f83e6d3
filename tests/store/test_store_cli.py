"""``gpf-flow entities list|get|delete`` on a local store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gpf_flow.cli import app
from gpf_flow.errors import NotFoundError, UsageError
from gpf_flow.store.local import LocalStore

runner = CliRunner()


def _seed(home: Path) -> list[dict]:
    store = LocalStore(home)
    made = []
    for i in range(12):
        up = store.create_entity("upload", {"name": f"CLI_{i:02d}", "type": "VECTOR", "srs": "EPSG:2154"})
        store.add_tags("upload", up["_id"], {"even": "yes" if i % 2 == 0 else "no"})
        made.append(up)
    store.close()
    return made


def test_list_filters_pages_and_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = _seed(home)
    result = runner.invoke(app, ["entities", "list", "upload", "--home", str(home), "--json"])
    assert result.exit_code == 0, result.output
    assert [u["_id"] for u in json.loads(result.output)] == [u["_id"] for u in made]  # all pages
    result = runner.invoke(
        app,
        [
            "entities",
            "list",
            "upload",
            "--home",
            str(home),
            "--json",
            "--infos",
            "name=CLI_0%",
            "--tags",
            "even=yes",
        ],
    )
    assert [u["name"] for u in json.loads(result.output)] == [
        "CLI_00",
        "CLI_02",
        "CLI_04",
        "CLI_06",
        "CLI_08",
    ]
    result = runner.invoke(app, ["entities", "list", "upload", "--home", str(home), "--json", "--page", "2"])
    assert [u["name"] for u in json.loads(result.output)] == ["CLI_10", "CLI_11"]
    result = runner.invoke(app, ["entities", "list", "upload", "--home", str(home), "--tags", "even=no"])
    assert result.exit_code == 0 and "CLI_01" in result.output and "CLI_00" not in result.output
    assert "even=no" in result.output
    result = runner.invoke(app, ["entities", "list", "upload", "--home", str(home), "--infos", "name"])
    assert isinstance(result.exception, UsageError) and result.exception.exit_code == 2


def test_get_and_delete(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = _seed(home)
    uid = made[0]["_id"]
    result = runner.invoke(app, ["entities", "get", "upload", uid, "--home", str(home), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["name"] == "CLI_00"
    result = runner.invoke(app, ["entities", "get", "upload", uid, "--home", str(home)])
    assert result.exit_code == 0 and "CLI_00" in result.output
    result = runner.invoke(app, ["entities", "delete", "upload", uid, "--home", str(home)])
    assert result.exit_code == 0 and "deleted" in result.output
    result = runner.invoke(app, ["entities", "get", "upload", uid, "--home", str(home)])
    assert isinstance(result.exception, NotFoundError) and result.exception.exit_code == 1
    result = runner.invoke(app, ["entities", "list", "uploadz", "--home", str(home)])
    assert isinstance(result.exception, UsageError) and "upload" in str(result.exception)
