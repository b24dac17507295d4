"""Shared by the benchmark scripts: where the CPU time of a running stack goes."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from bot.run import Stack
from bot.settings import Settings


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback_settings(data_dir: str, **env: str) -> Settings:
    """Settings for a stack on free loopback ports with its data in ``data_dir``."""
    return Settings.from_env({
        "BANKBOT_DATA_DIR": data_dir,
        "RASA_PORT": str(free_port()),
        "ACTION_PORT": str(free_port()),
        "BANK_PORT": str(free_port()),
        "WEB_PORT": str(free_port()),
        **env,
    })
