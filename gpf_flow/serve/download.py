"""``/download/{layer_name}``: listing and files of DOWNLOAD offerings (ARCHIVE stored data).

Files are grouped by the used data's ``sub_name`` (the stored data's name when it has none);
``/download/{layer_name}/{sub_name}/{path}`` sends one file, with HTTP Range support.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from gpf_flow.serve.ows import render
from gpf_flow.serve.published import DOWNLOAD, PublishedIndex, PublishedLayer


@dataclass(frozen=True)
class DownloadFile:
    """One downloadable file."""

    sub_name: str
    path: str
    """Relative to the archive's ``files/`` folder, with ``/`` separators."""
    size: int
    local: Path


def _sub_name(spec_name: object, stored_name: object, index: int) -> str:
    return str(spec_name or stored_name or f"data{index}").replace("/", "_")


def files_of(layer: PublishedLayer) -> list[DownloadFile]:
    """Every file of the layer's archives, sorted by sub name and path."""
    out = []
    for i, used in enumerate(layer.used_data):
        root = used.path / "files"
        if not root.is_dir():
            continue
        sub = _sub_name(used.spec.get("sub_name"), used.stored_data.get("name"), i)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            out.append(DownloadFile(sub, rel, path.stat().st_size, path))
    return out


def find_file(layer: PublishedLayer, wanted: str) -> DownloadFile | None:
    """The file listed by :func:`files_of` as ``{sub_name}/{path}``, found without walking the archives."""
    for i, used in enumerate(layer.used_data):
        sub = _sub_name(used.spec.get("sub_name"), used.stored_data.get("name"), i)
        if not wanted.startswith(sub + "/"):
            continue
        rel = wanted[len(sub) + 1 :]
        # Only the exact relative paths the listing shows: no "..", "." or empty parts.
        parts = rel.split("/")
        if any(part in ("", ".", "..") for part in parts):
            continue
        local = used.path.joinpath("files", *parts)
        if local.is_file():
            return DownloadFile(sub, rel, local.stat().st_size, local)
    return None


class DownloadService:
    """Listing and file routes."""

    def __init__(self, index: PublishedIndex) -> None:
        self.index = index

    def _layer(self, name: str) -> PublishedLayer | None:
        return self.index.snapshot().layers(DOWNLOAD).get(name)

    async def listing(self, request: Request) -> Response:
        """HTML listing (JSON with ``?f=json`` or ``Accept: application/json``)."""
        name = request.path_params["layer_name"]
        layer = await run_in_threadpool(self._layer, name)
        if layer is None:
            return PlainTextResponse(f"no published download named {name!r}", status_code=404)
        files = await run_in_threadpool(files_of, layer)
        base = str(request.base_url).rstrip("/") + f"/download/{quote(name)}"
        entries = [
            {
                "sub_name": f.sub_name,
                "path": f.path,
                "size": f.size,
                "url": f"{base}/{quote(f.sub_name)}/{quote(f.path)}",
            }
            for f in files
        ]
        wants_json = request.query_params.get("f") == "json" or "application/json" in request.headers.get(
            "accept", ""
        )
        if wants_json:
            return JSONResponse({"layer_name": name, "title": layer.title, "files": entries})
        return render("download.html.j2", media_type="text/html; charset=utf-8", layer=layer, files=entries)

    async def file(self, request: Request) -> Response:
        """One file; Range requests are answered with 206 by ``FileResponse``."""
        name = request.path_params["layer_name"]
        wanted = request.path_params["path"]
        layer = await run_in_threadpool(self._layer, name)
        if layer is None:
            return PlainTextResponse(f"no published download named {name!r}", status_code=404)
        found = await run_in_threadpool(find_file, layer, wanted)
        if found is not None:
            return FileResponse(found.local, filename=Path(found.path).name)
        return PlainTextResponse(f"no file {wanted!r} in download {name!r}", status_code=404)
