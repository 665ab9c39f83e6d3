"""A streamed single-part ``multipart/form-data`` body that reports the bytes it sends.

The Entrepôt takes exactly one part named ``file`` with the file's base name and no part
``Content-Type`` (as the official SDK sends it). The file is read chunk by chunk while the request
is written, so big files never sit in memory, and the length is known in advance so the request
carries a ``Content-Length``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from gpf_flow.store.base import ProgressCallback

CHUNK_SIZE = 256 * 1024


class MultipartFile:
    """A body factory for one file: each call of :meth:`body` streams it again (retries).

    Progress is reported once per byte of the file even across retries: a repeated attempt only
    reports what goes beyond the furthest point an earlier attempt reached.
    """

    def __init__(
        self,
        path: Path,
        *,
        field: str = "file",
        progress: ProgressCallback | None = None,
        chunk: int = CHUNK_SIZE,
    ) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.progress = progress
        self.chunk = chunk
        boundary = uuid.uuid4().hex
        name = path.name.replace('"', "%22")
        self._head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n\r\n'
        ).encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._reported = 0

    @property
    def length(self) -> int:
        """The exact byte length of the body."""
        return len(self._head) + self.size + len(self._tail)

    @property
    def headers(self) -> dict[str, str]:
        """Headers of the request carrying this body."""
        return {"content-type": self.content_type, "content-length": str(self.length)}

    def body(self) -> Iterator[bytes]:
        """A fresh generator over the whole body."""
        yield self._head
        sent = 0
        with self.path.open("rb") as handle:
            while True:
                block = handle.read(self.chunk)
                if not block:
                    break
                yield block
                sent += len(block)
                self._report(sent)
        yield self._tail

    def _report(self, sent: int) -> None:
        if self.progress is not None and sent > self._reported:
            self.progress(sent - self._reported)
            self._reported = sent

    def factory(self) -> Callable[[], Iterator[bytes]]:
        """The callable the client calls for each attempt."""
        return self.body
