"""Processing "Recopie d'une archive livrée": ARCHIVE upload → files under ``files/``.

Every data file of the upload is copied at its pushed relative path (the md5 files at the
upload's root are delivery checksums, not data). Zip files are tested first: every member's CRC
is verified and no member may escape its folder (absolute paths, ``..``), so a corrupt or
malicious archive fails the processing instead of being published.
"""

from __future__ import annotations

import shutil
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from gpf_flow.processings.base import ProcessingContext, ProcessingFailed, ProcessingResult

FILES_DIR = "files"
COPY_CHUNK = 4 * 1024 * 1024


def _is_md5(path: Path, root: Path) -> bool:
    return path.parent == root and path.suffix.lower() == ".md5"


def check_zip(path: Path, ctx: ProcessingContext) -> int:
    """Test a zip: member paths stay inside, every CRC matches. Returns the member count."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            for info in members:
                name = PurePosixPath(info.filename.replace("\\", "/"))
                if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
                    raise ProcessingFailed(
                        f"{path.name}: member {info.filename!r} would be extracted outside the archive's "
                        "folder (path traversal); rebuild the zip with relative paths"
                    )
            for info in members:
                ctx.check_abort()
                if info.is_dir():
                    continue
                with archive.open(info) as member:
                    while member.read(COPY_CHUNK):
                        ctx.check_abort()
            return len(members)
    except ProcessingFailed:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        raise ProcessingFailed(f"{path.name}: corrupt zip archive ({exc}); deliver it again") from None


def _copy(src: Path, dst: Path, ctx: ProcessingContext) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(COPY_CHUNK):
            ctx.check_abort()
            fout.write(chunk)
    shutil.copystat(src, dst)


def run(ctx: ProcessingContext) -> ProcessingResult:
    """Copy the ARCHIVE upload's files (zips tested) into ``files/``."""
    started = time.monotonic()
    sources: list[tuple[Path, Path]] = []
    for upload in ctx.uploads:
        root = upload.path
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if not _is_md5(path, root):
                sources.append((path, path.relative_to(root)))
    if not sources:
        raise ProcessingFailed("the archive upload holds no file to copy")
    ctx.log(f"{len(sources)} file(s) to copy")
    for path, rel in sources:
        if path.suffix.lower() == ".zip":
            ctx.check_abort()
            count = check_zip(path, ctx)
            ctx.log(f"{rel}: zip tested, {count} member(s), CRC ok, no path traversal")
    target = ctx.output_dir / FILES_DIR
    staging = ctx.output_dir / (".partial-" + FILES_DIR)
    shutil.rmtree(staging, ignore_errors=True)
    files: list[dict[str, Any]] = []
    try:
        for path, rel in sources:
            _copy(path, staging / rel, ctx)
            size = (staging / rel).stat().st_size
            files.append({"path": f"{FILES_DIR}/{rel.as_posix()}", "size": size})
            ctx.log(f"copied {rel.as_posix()} ({size} bytes)")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    staging.replace(target)
    total = sum(f["size"] for f in files)
    ctx.log(f"copied {len(files)} file(s), {total} bytes, in {time.monotonic() - started:.2f} s")
    declared = next((str(u.entity["srs"]) for u in ctx.uploads if u.entity.get("srs")), None)
    return ProcessingResult(type_infos={"files": files}, srs=declared)
