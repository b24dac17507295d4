"""Shared by the benchmark scripts: where the CPU time of a running stack goes."""

from __future__ import annotations

import os
from pathlib import Path

from bot.run import Stack


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def stack_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each process of ``stack`` and by this one."""
    cpu = {p.name: cpu_seconds(p.popen.pid) for p in stack.processes if p.popen}
    cpu["benchmark"] = cpu_seconds(os.getpid())
    return cpu


def load_average() -> float:
    """The 1-minute load average (a busy machine makes every latency meaningless)."""
    return os.getloadavg()[0]
