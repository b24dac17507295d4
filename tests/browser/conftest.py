"""Headless Chromium (Debian's, never downloaded) and a Rasa-free web chat stack."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_ports

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "test-results"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ECHO_SERVER = ROOT / "tests" / "bot" / "channels" / "echo_server.py"


@contextmanager
def serve(args: list[str], health_url: str, env: dict[str, str], timeout: float = 60.0):
    """Run ``args`` in a subprocess until ``health_url`` answers; stop it afterwards."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    log.seek(0)
                    output = log.read().decode(errors="replace")[-3000:]
                    raise RuntimeError(f"{args} did not come up at {health_url}:\n{output}")
                try:
                    with urllib.request.urlopen(health_url, timeout=2) as reply:
                        if reply.status == 200:
                            break
                except OSError:
                    time.sleep(0.2)
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@dataclass(frozen=True)
class WebChatStack:
    """Echo socket.io server (the real channel, no Rasa) plus the console app."""

    web_url: str
    rasa_url: str


@contextmanager
def webchat_stack(cors: str = "*", **extra_env: str) -> Iterator[WebChatStack]:
    """Start the echo server and ``python -m bot.console`` pointed at it.

    ``extra_env`` goes to both (e.g. ``WEBCHAT_ALLOWED_ORIGINS``); the console
    keeps its database in a temporary folder, not in the project's ``var/``.
    """
    rasa_port, web_port = free_ports(2)
    rasa_url = f"http://127.0.0.1:{rasa_port}"
    web_url = f"http://127.0.0.1:{web_port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BANKBOT_HOST": "127.0.0.1",
        "WEB_PORT": str(web_port),
        **extra_env,
    }
    console_env = {
        **env,
        "RASA_URL": rasa_url,
        "WEBCHAT_SOCKET_URL": rasa_url,
    }
    echo_args = [sys.executable, str(ECHO_SERVER), "--port", str(rasa_port), "--cors", cors]
    with ExitStack() as stack:
        console_env.setdefault(
            "BANKBOT_DATA_DIR", stack.enter_context(tempfile.TemporaryDirectory(prefix="webchat-"))
        )
        stack.enter_context(serve(echo_args, f"{rasa_url}/health", env))
        stack.enter_context(
            serve([sys.executable, "-m", "bot.console"], f"{web_url}/health", console_env)
        )
        yield WebChatStack(web_url=web_url, rasa_url=rasa_url)


# Module scope: Playwright's sync API keeps an event loop running in this thread
# while it is open, and pytest-asyncio refuses async fixtures in later modules then.
@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Debian's headless Chromium through Playwright (no browser download)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(chromium):
    """Factory for pages in fresh browser contexts (own localStorage), closed afterwards."""
    contexts = []

    def make(**options):
        settings = {"locale": "zh-CN", "viewport": {"width": 1200, "height": 800}}
        settings.update(options)
        context = chromium.new_context(**settings)
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def start_webchat_stack():
    """``webchat_stack`` as a fixture, for tests that need their own (e.g. without CORS)."""
    return webchat_stack


@pytest.fixture(scope="module")
def echo_stack() -> Iterator[WebChatStack]:
    """Echo server with Rasa's CORS settings for ``--cors '*'`` plus the console app."""
    with webchat_stack() as stack:
        yield stack


@pytest.fixture(scope="session")
def results_dir() -> Path:
    """Where screenshots go (``test-results/``, git-ignored)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    return RESULTS_DIR
