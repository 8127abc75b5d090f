"""Real processes seen through Linux ``/proc``: the children of a process, and whether one lives.

Kill tests start a stage, SIGKILL it, and look for what it left running. A process is named
by ``(pid, start time)`` so that a pid the kernel hands to a new process is not mistaken for
the old one, and a zombie (dead, waiting to be reaped by whoever adopted it) counts as dead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

#: A process as ``(pid, start time in clock ticks since boot)``.
Proc = tuple[int, int]


def _stat(pid: int) -> tuple[str, int, int] | None:
    """``(state, ppid, start time)`` of ``pid`` from ``/proc/<pid>/stat``, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def children(pid: int) -> set[Proc]:
    """The live direct children of ``pid``."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        st = _stat(int(entry.name))
        if st is not None and st[1] == pid and st[0] != "Z":
            out.add((int(entry.name), st[2]))
    return out


def cmdline(pid: int) -> str:
    """The command line of ``pid``, arguments joined by spaces ("" when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def alive(proc: Proc) -> bool:
    """Whether ``proc`` still runs (not gone, not a zombie, not a new process with its pid)."""
    st = _stat(proc[0])
    return st is not None and st[0] != "Z" and st[2] == proc[1]


def wait_for(check: Callable[[], bool], seconds: float, step: float = 0.05) -> bool:
    """Poll ``check`` until it is true or ``seconds`` pass; return its last value."""
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return check()
        time.sleep(step)
