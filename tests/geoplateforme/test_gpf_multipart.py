"""The streamed multipart body: parsed back by python-multipart, exact length, progress once per byte."""

from __future__ import annotations

from pathlib import Path

from python_multipart import MultipartParser

from gpf_flow.store.geoplateforme.multipart import MultipartFile


def test_gpf_multipart_body_round_trips_and_reports_progress(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB
    path = tmp_path / "ZONES.shp"
    path.write_bytes(data)
    reported: list[int] = []
    body = MultipartFile(path, progress=reported.append, chunk=100_000)
    first = b"".join(body.body())
    assert len(first) == body.length == int(body.headers["content-length"])
    assert sum(reported) == len(data)
    # a retry streams the same bytes again without reporting them twice
    second = b"".join(body.body())
    assert second == first and sum(reported) == len(data)

    boundary = body.content_type.split("boundary=")[1].encode()
    parts: list[dict[str, object]] = []
    current: dict[str, object] = {}

    def on_part_begin() -> None:
        current.clear()
        current["data"] = b""
        current["headers"] = []

    def on_header_field(buf: bytes, start: int, end: int) -> None:
        current.setdefault("field", b"")
        current["field"] = buf[start:end]

    def on_header_value(buf: bytes, start: int, end: int) -> None:
        headers = current["headers"]
        assert isinstance(headers, list)
        headers.append((current["field"], buf[start:end]))

    def on_part_data(buf: bytes, start: int, end: int) -> None:
        chunk = current["data"]
        assert isinstance(chunk, bytes)
        current["data"] = chunk + buf[start:end]

    def on_part_end() -> None:
        parts.append(dict(current))

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    parser.write(first)
    parser.finalize()
    assert len(parts) == 1
    headers = dict(parts[0]["headers"])  # type: ignore[arg-type]
    assert headers == {b"Content-Disposition": b'form-data; name="file"; filename="ZONES.shp"'}
    assert parts[0]["data"] == data
