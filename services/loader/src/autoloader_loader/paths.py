"""Resolve a batch's local file paths without ever leaving the allowed roots."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from autoloader_loader.engine import FileLoadError


def resolve_local(source_path: str, relative: str, allowed_roots: Sequence[Path]) -> Path:
    """Return the real path of ``relative`` under ``source_path`` if it is inside an allowed root.

    Symlinks and ``..`` are resolved first, so neither can lead out of the roots.

    Raises:
        FileLoadError: The path escapes every allowed root (or no root is configured).
    """
    resolved = Path(os.path.realpath(Path(source_path) / relative))
    for root in allowed_roots:
        if resolved == root or resolved.is_relative_to(root):
            return resolved
    allowed = ", ".join(str(root) for root in allowed_roots) or "(none configured)"
    raise FileLoadError(
        f"{relative}: resolves to {resolved}, outside the allowed local roots ({allowed}); "
        "move the file or extend AUTOLOADER_LOCAL_ROOTS",
        file=relative,
    )
