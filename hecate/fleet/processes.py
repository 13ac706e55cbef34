"""This host's processes, as the rollout's locks judge their holders: a holder is alive while
its process exists and is not a zombie. A runner killed in CI leaves its process a zombie until
something reaps it, and where the container's first process does not reap orphans, nothing
ever does: taken for alive, it would hold the fleet until its lease ran out, or for good."""

from __future__ import annotations

import os
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command's name (state first), None when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    fields = _stat(pid)
    if fields is None:
        try:  # no /proc (not Linux): ask the kernel
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return fields[0] not in ("Z", "X")


def started(pid: int) -> str:
    """The process's start time (clock ticks since boot), so that a reused pid is not taken for
    it; "" when it is gone or a zombie."""
    fields = _stat(pid)
    if fields is None or len(fields) < 20 or fields[0] in ("Z", "X"):
        return ""
    return fields[19]
