"""The HTTP store and what reads it hold to the API's published shapes: a replay server answers
every GET route of ``../shared/spec/entrepot-routes.md`` with bodies built from
``../shared/spec/entrepot-dtos.json`` exactly (required fields only, optional ones absent, one
list item per value of each enum), plus one field no DTO has; the store lists and reads them,
the resolver resolves templates on them, and an execution is followed through every status.

The replay server stands in for the Géoplateforme (not for gpf-flow's own server): its bodies are
the published DTOs, nothing else.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gpf_flow.store.follow import PollSchedule, follow_execution
from gpf_flow.store.geoplateforme import GeoplateformeStore, GpfSettings
from gpf_flow.store.geoplateforme.settings import DEFAULTS

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DATASTORE = "6c2f0a1e-5d0b-4c4e-9d0e-0a1b2c3d4e5f"
EXTRA = {"x_not_in_any_dto": {"nested": [1, 2]}}


def _spec() -> dict[str, Any]:
    path = SHARED / "spec" / "entrepot-dtos.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: the reference checkout ../shared must sit next to the repository")
    return dict(json.loads(path.read_text(encoding="utf-8")))


class Bodies:
    """DTO-exact bodies: required fields only; enum fields take value ``variant`` (cycling)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.schemas = spec["schemas"]

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        if "anyOf" in schema and "properties" not in schema:
            return self.resolve(schema["anyOf"][0])
        return schema

    def enum_sizes(self, name: str) -> int:
        schema = self.resolve({"$ref": f"#/schemas/{name}"})
        sizes = [len(p["enum"]) for k, p in schema.get("properties", {}).items() if "enum" in p]
        return max(sizes, default=1)

    def value(self, schema: dict[str, Any], variant: int, key: str, depth: int) -> Any:
        schema = self.resolve(schema)
        if "enum" in schema:
            return schema["enum"][variant % len(schema["enum"])]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            if depth > 4:
                return {}
            required = schema.get("required") or []
            props = schema.get("properties") or {}
            return {k: self.value(props.get(k, {}), variant, k, depth + 1) for k in required}
        if kind == "array":
            return []
        if kind == "integer":
            return variant
        if kind == "number":
            return float(variant)
        if kind == "boolean":
            return variant % 2 == 1
        if kind == "string":
            fmt = schema.get("format")
            if fmt == "uuid":
                return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key}:{variant}"))
            if fmt == "date-time":
                return f"2026-01-{1 + variant % 28:02d}T10:00:00"
            if fmt == "date":
                return "2026-01-01"
            return f"{key}-{variant}"
        return {}

    def body(self, name: str, variant: int) -> Any:
        value = self.value({"$ref": f"#/schemas/{name}"}, variant, "root", 0)
        return {**value, **EXTRA} if isinstance(value, dict) else value


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Replay:
    """The replay app: one route per GET row of the routes table, and the token endpoint."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import importlib.util
        import sys

        tool = SHARED / "tools" / "dto_check.py"
        loader = importlib.util.spec_from_file_location("dto_check_replay", tool)
        assert loader is not None and loader.loader is not None
        module = importlib.util.module_from_spec(loader)
        sys.modules["dto_check_replay"] = module
        loader.loader.exec_module(module)
        self.routes = module.parse_routes(
            (SHARED / "spec" / "entrepot-routes.md").read_text(encoding="utf-8"), spec["schemas"]
        )
        self.bodies = Bodies(spec)
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()

    def handler(self, response: str) -> Any:
        async def handle(request: Request) -> Response:
            with self.lock:
                count = self.hits.get(request.url.path, 0)
                self.hits[request.url.path] = count + 1
            if response == "string[]":
                lines = [f"log line {i}" for i in range(3)] if count == 0 else []
                return JSONResponse(lines, headers={"Content-Range": f"0-{len(lines)}/3"})
            if response.endswith("[]"):
                name = response[:-2]
                items = [self.bodies.body(name, v) for v in range(self.bodies.enum_sizes(name))]
                filters = {k: v for k, v in request.query_params.items() if k not in ("page", "limit")}
                items = [i for i in items if all(str(i.get(k)) == v for k, v in filters.items() if k in i)]
                return JSONResponse(items, headers={"Content-Range": f"0-{len(items) - 1}/{len(items)}"})
            return JSONResponse(self.bodies.body(response, count))  # each read: the next enum value

        return handle

    def app(self) -> Starlette:
        routes = [
            Route(
                "/token",
                lambda r: JSONResponse({"access_token": "t", "expires_in": 3600, "token_type": "Bearer"}),
                methods=["POST"],
            )
        ]
        # literal segments first: `processings/executions` is not a `processings/{processing}`
        for route in sorted(self.routes, key=lambda r: r.path.count("{")):
            routes.append(Route(f"/api{route.path}", self.handler(route.response), methods=["GET"]))
        return Starlette(routes=routes)


@pytest.fixture(scope="module")
def replay() -> Iterator[tuple[Replay, GeoplateformeStore]]:
    replay = Replay(_spec())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(replay.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the replay server did not start"
        time.sleep(0.05)
    settings = GpfSettings(
        values={
            **DEFAULTS,
            "root_url": f"http://127.0.0.1:{port}/api",
            "token_url": f"http://127.0.0.1:{port}/token",
            "login": "user",
            "password": "pw",
            "datastore": DATASTORE,
            "nb_attempts": "1",
            "retry_base": "0.01",
        },
        sources={},
        config_path=None,
    )
    store = GeoplateformeStore(settings)
    yield replay, store
    store.close()
    server.should_exit = True
    thread.join(timeout=10)


TYPES = (
    "upload",
    "stored_data",
    "processing",
    "processing_execution",
    "configuration",
    "offering",
    "static",
    "permission",
    "check",
    "check_execution",
)


def test_store_lists_and_reads_dto_exact_bodies(replay: tuple[Replay, GeoplateformeStore]) -> None:
    _replay, store = replay
    assert store.user_me()["_id"]
    datastore = store.get_datastore()
    assert datastore["_id"] and "endpoints" not in datastore  # optional: absent
    assert store.list_entities("endpoint").items == []
    for entity_type in TYPES:
        page = store.list_entities(entity_type, limit=50)
        assert page.items, entity_type
        assert page.total == len(page.items)
        for item in page.items:
            assert item["x_not_in_any_dto"] == EXTRA["x_not_in_any_dto"]
        got = store.get_entity(entity_type, page.items[0]["_id"])
        assert got["_id"]
    upload = store.list_entities("upload").items[0]["_id"]
    checks = store.upload_checks(upload)
    assert checks.finished in (True, False)
    assert [c["text"] for c in store.list_comments("upload", upload)] == ["text-0"]
    statuses = {i["status"] for i in store.list_entities("processing_execution", limit=50).items}
    assert statuses == {"CREATED", "WAITING", "PROGRESS", "SUCCESS", "FAILURE", "ABORTED"}


def test_execution_followed_through_every_status(replay: tuple[Replay, GeoplateformeStore]) -> None:
    _replay, store = replay
    execution = store.list_entities("processing_execution", limit=50).items[1]["_id"]  # not read yet
    seen: list[str] = []
    lines: list[str] = []
    ended = follow_execution(
        store,
        execution,
        on_status=seen.append,
        on_lines=lambda _offset, new: lines.extend(new),
        schedule=PollSchedule(first=0.01, maximum=0.05),
    )
    # CREATED, WAITING, PROGRESS then SUCCESS (terminal): the detail route answers the next value each time
    assert seen == ["CREATED", "WAITING", "PROGRESS", "SUCCESS"]
    assert ended["status"] == "SUCCESS"
    assert lines == ["log line 0", "log line 1", "log line 2"]


def test_templates_resolve_on_dto_exact_bodies(replay: tuple[Replay, GeoplateformeStore]) -> None:
    from gpf_flow.resolve.context import ResolveContext
    from gpf_flow.resolve.values import resolve_string

    _replay, store = replay
    ctx = ResolveContext(store=store)
    first = store.list_entities("stored_data", limit=50).items[0]
    assert resolve_string("{store_entity.stored_data.infos._id [INFOS(name=name-0)]}", ctx) == first["_id"]
    assert str(resolve_string("{user.last_name}", ctx)).startswith("last_name-")  # a required field
