"""Size + SHA-256 of the files the platform writes, recorded at write time, checked on read.

Every writer of a checkpoint (``checkpoint.pt``, ``strategy.pt``) or a feature cache
(``features.npy``, ``meta.json``) calls ``record(path)`` after writing the file: it writes a
sidecar ``<name>.sha256`` holding ``<sha256>  <size>``. Readers call ``verify(path)``
before loading: a missing file, a size or hash that differs from the record, or (through
``load_or_damaged``) a file the loader cannot parse raises ``DamagedFile`` naming the file,
what was found and expected, and the fix. A file without a sidecar (written by an older
version) is loaded unverified. Shared caches move a damaged entry aside with ``quarantine``
and rebuild it, so one bad entry does not poison every later run.

Needs neither Ray nor torch.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from quantray.data.errors import DataError

SIDECAR_SUFFIX = ".sha256"
_CHUNK = 1 << 20
T = TypeVar("T")


class DamagedFile(DataError):
    """A file the platform wrote is missing, truncated or altered since it was written."""


def sidecar(path: str | Path) -> Path:
    """The record of ``path``: ``<name>.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def digest(path: str | Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file, read in 1 MiB chunks."""
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def replace_atomically(target: str | Path, write: Callable[[Path], object]) -> Path:
    """Write ``target`` by ``write(tmp)`` to a temporary file beside it, then rename it into
    place: a reader, or a run killed half-way, sees the old file or the new one, never half
    of one. The temporary name keeps ``target``'s suffix (``np.savez`` would add one)."""
    target = Path(target)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)  # a failed write leaves neither half a file nor litter
    return target


def record(path: str | Path) -> Path:
    """Write the sidecar of a file just written (atomically). Returns the sidecar path."""
    sha, size = digest(path)
    return replace_atomically(sidecar(path), lambda tmp: tmp.write_text(f"{sha}  {size}\n"))


def verify(path: str | Path) -> bool:
    """Check ``path`` against its sidecar. True: it matches; False: no sidecar (an older file,
    loaded unverified). Raises ``DamagedFile`` when the file is missing or differs."""
    path = Path(path)
    if not path.exists():
        raise DamagedFile(
            str(path),
            "file is missing",
            expected="the file the platform wrote here",
            fix=_FIX,
        )
    stat = path.stat()
    note = sidecar(path)
    noted = note.stat().st_mtime_ns if note.exists() else -1
    return _verify(str(path), stat.st_size, stat.st_mtime_ns, noted)


_FIX = (
    "the file was truncated or changed after it was written (a full disk, an interrupted "
    "copy, a sync conflict): delete it and rerun the step that wrote it"
)


@functools.lru_cache(maxsize=256)
def _verify(path: str, size: int, mtime_ns: int, sidecar_mtime_ns: int) -> bool:
    # Keyed by the file's (size, mtime) and the record's mtime too: a file or record
    # rewritten in place is checked again; an unchanged one is hashed once per process.
    del mtime_ns, sidecar_mtime_ns
    note = sidecar(path)
    if not note.exists():
        return False
    try:
        sha_expected, size_text = note.read_text().split()
        size_expected = int(size_text)
    except ValueError:
        raise DamagedFile(
            str(note),
            "integrity record is unreadable",
            found=repr(note.read_text()[:80]),
            expected="'<sha256>  <size>'",
            fix=_FIX,
        ) from None
    if size != size_expected:
        raise DamagedFile(
            path,
            "file is damaged: its size differs from the size recorded when it was written",
            found=f"{size} bytes",
            expected=f"{size_expected} bytes (recorded in {note.name})",
            fix=_FIX,
        )
    sha, _ = digest(path)
    if sha != sha_expected:
        raise DamagedFile(
            path,
            "file is damaged: its SHA-256 differs from the one recorded when it was written",
            found=f"sha256 {sha[:16]}...",
            expected=f"sha256 {sha_expected[:16]}... (recorded in {note.name})",
            fix=_FIX,
        )
    return True


def load_or_damaged(path: str | Path, load: Callable[[Path], T], what: str) -> T:
    """``verify(path)`` then ``load(path)``; a loader error on an unverified or damaged file
    (truncated zip, bad JSON, short array) becomes ``DamagedFile`` naming the file."""
    path = Path(path)
    verify(path)
    try:
        return load(path)
    except (OSError, EOFError, ValueError, RuntimeError, KeyError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DamagedFile(
            str(path),
            f"cannot be read as {what}",
            found=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}",
            expected=f"a complete {what} written by quantray",
            fix=_FIX,
        ) from None


def quarantine(path: str | Path) -> Path:
    """Move a damaged file or directory aside (``<name>.damaged-<UTC time>-<pid>``) so it is
    rebuilt, keeping it for inspection. Returns where it went."""
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    target = path.with_name(f"{path.name}.damaged-{stamp}-{os.getpid()}")
    os.replace(path, target)
    return target
