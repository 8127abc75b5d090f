"""Permission bits of what a stage wrote (the permissions tests run stages under umask 022)."""

from __future__ import annotations

import stat
from pathlib import Path


def modes_other_than(root: Path, file_mode: int, dir_mode: int) -> dict[str, str]:
    """Every file or directory under ``root`` (and ``root``) whose permission bits differ from those given.

    Example:
        >>> modes_other_than(Path("data/triplets"), 0o644, 0o755)  # doctest: +SKIP
        {}
    """
    wrong = {}
    for p in [root, *sorted(root.rglob("*"))]:
        want = dir_mode if p.is_dir() else file_mode
        got = stat.S_IMODE(p.lstat().st_mode)
        if got != want:
            wrong[str(p.relative_to(root)) or "."] = oct(got)
    return wrong
