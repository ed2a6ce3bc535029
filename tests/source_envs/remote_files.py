"""Writing files for FTP/SFTP places straight through the server's filesystem."""

from __future__ import annotations

import os
from pathlib import Path


def write_file(target: Path, data: bytes) -> None:
    """Create or overwrite ``target`` so that a rewrite always changes size or mtime.

    FTP's MLSD and SFTP v3 report whole-second mtimes, so a same-size rewrite within one second
    would look unchanged; the mtime is moved one second past the previous one.
    """
    previous = target.stat().st_mtime_ns if target.exists() else None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    if previous is not None:
        stat = target.stat()
        bumped = max(stat.st_mtime_ns, previous + 1_000_000_000)
        os.utime(target, ns=(stat.st_atime_ns, bumped))
