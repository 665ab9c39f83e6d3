"""Receiving one file sent as multipart (a single part, named ``file`` by default, no part content-type).

The body is parsed as it arrives (python-multipart, the parser starlette itself uses) and the file
part is written straight into a private temporary folder on the store's disk: one write, whatever
the file's size.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from gpf_flow.serve.api_common import ApiError, env_int

FILE_FIELD = "file"

MAX_UPLOAD_BYTES = env_int("GPF_FLOW_SERVE_MAX_UPLOAD_BYTES", 20 * 1024**3)
"""Largest file one request may send (413 above): 20 GiB unless ``GPF_FLOW_SERVE_MAX_UPLOAD_BYTES``
says otherwise."""


@dataclass
class ReceivedFile:
    """A received file, saved under its sent base name in a private temporary folder."""

    path: Path
    size: int


@dataclass
class _PartState:
    """What the parser callbacks know about the part being read."""

    folder: Path
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    headers: dict[bytes, bytes] = field(default_factory=dict)
    out: BinaryIO | None = None
    chosen: ReceivedFile | None = None
    chosen_field: str | None = None
    error: str | None = None

    def on_part_begin(self) -> None:
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _kind, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if b"filename" not in options:
            return  # a plain form field: not a file
        name = options.get(b"name", b"").decode("utf-8", "replace")
        # the `file` part wins; otherwise the first file part, whatever its field name
        if self.chosen is not None and (self.chosen_field == FILE_FIELD or name != FILE_FIELD):
            return
        base = PurePath(options[b"filename"].decode("utf-8", "replace").replace("\\", "/")).name
        if not base or base in (".", ".."):
            self.error = f"multipart field {name!r} must carry a file name"
            return
        if self.chosen is not None:
            self.chosen.path.unlink(missing_ok=True)
        target = self.folder / base
        self.chosen, self.chosen_field = ReceivedFile(target, 0), name
        self.out = target.open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.out is not None and self.chosen is not None:
            self.out.write(data[start:end])
            self.chosen.size += end - start

    def on_part_end(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


class FileReceiver:
    """Saves the file part of multipart requests into temporary folders under ``tmp_dir``."""

    def __init__(self, tmp_dir: Path, max_bytes: int | None = None) -> None:
        self.tmp_dir = tmp_dir
        self.max_bytes = max_bytes if max_bytes is not None else MAX_UPLOAD_BYTES

    @asynccontextmanager
    async def receive(self, request: Request) -> AsyncIterator[ReceivedFile]:
        """The request's file, kept on disk while the ``async with`` block runs."""
        kind, options = parse_options_header(request.headers.get("content-type", ""))
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise ApiError(400, "the file must be sent as multipart/form-data with one part named 'file'")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ApiError(
                413, f"the request body is {declared} bytes, more than the limit of {self.max_bytes}"
            )
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        state = _PartState(Path(tempfile.mkdtemp(prefix="recv-", dir=self.tmp_dir)))
        try:
            parser = MultipartParser(
                boundary,
                callbacks={
                    "on_part_begin": state.on_part_begin,
                    "on_header_field": state.on_header_field,
                    "on_header_value": state.on_header_value,
                    "on_header_end": state.on_header_end,
                    "on_headers_finished": state.on_headers_finished,
                    "on_part_data": state.on_part_data,
                    "on_part_end": state.on_part_end,
                },
            )
            received = 0
            try:
                async for chunk in request.stream():
                    received += len(chunk)
                    if received > self.max_bytes:
                        raise ApiError(413, f"the file is more than the limit of {self.max_bytes} bytes")
                    parser.write(chunk)
                parser.finalize()
            except ApiError:
                raise
            except OSError as exc:  # the disk is full, or the store cannot be written: no path shown
                raise ApiError(507, f"the server cannot store the file: {exc.strerror or exc}") from None
            except Exception as exc:  # python-multipart raises its own parse errors
                raise ApiError(400, f"the multipart body is malformed: {exc}") from exc
            if state.error:
                raise ApiError(400, state.error)
            if state.chosen is None:
                raise ApiError(400, "multipart field 'file' is required and must be a file part")
            yield state.chosen
        finally:
            if state.out is not None:
                state.out.close()
            shutil.rmtree(state.folder, ignore_errors=True)
