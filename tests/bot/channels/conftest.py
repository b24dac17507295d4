"""Fixtures for the web chat channel: the echo socket.io server in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ECHO_SERVER = Path(__file__).resolve().parent / "echo_server.py"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers 200; fail early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


@contextmanager
def echo_server(*, upstream: bool = False, cors: str = "*", **extra_env: str) -> Iterator[str]:
    """Run ``echo_server.py`` on a free loopback port; yield its base URL.

    ``extra_env`` reaches the channel's settings (e.g. ``WEBCHAT_ALLOWED_ORIGINS``).
    """
    port = free_port()
    args = [sys.executable, str(ECHO_SERVER), "--port", str(port), "--cors", cors]
    if upstream:
        args.append("--upstream")
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra_env}
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                wait_http(f"{url}/health", process)
            except Exception as exc:
                process.kill()
                process.wait()
                log.seek(0)
                output = log.read().decode(errors="replace")[-3000:]
                raise RuntimeError(f"echo server failed: {exc}\n{output}") from exc
            yield url
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    """Base URL of an echo server using ``bot.channels.socketio.WebChatInput``."""
    with echo_server() as url:
        yield url


@pytest.fixture(scope="module")
def restricted_echo_url() -> Iterator[str]:
    """An echo server whose socket accepts only the web app (WEB_PUBLIC_URL) and
    one other site, behind ``rasa run --cors '*'`` as in ``make run``."""
    with echo_server(
        WEB_PUBLIC_URL="https://bank.example.cn",
        WEBCHAT_ALLOWED_ORIGINS="https://shop.example.cn, http://localhost:8000",
    ) as url:
        yield url


@pytest.fixture(scope="module")
def upstream_echo_url() -> Iterator[str]:
    """Base URL of an echo server using Rasa's own ``SocketIOInput``."""
    with echo_server(upstream=True) as url:
        yield url
