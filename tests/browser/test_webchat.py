"""End to end: the customer web chat page against the full stack (Rasa, actions, bank).

Needs the ``running_stack`` fixture (tests/conftest.py): an object with
``web_url`` (the console app serving the chat page) and ``rasa_url`` (a Rasa
server with a trained model, the web chat channel from credentials.yml and
``--cors`` allowing the page's origin).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration]

BOT = ".rw-from-response"
INPUT = "textarea.rw-new-message"


def settled_count(page: Any, quiet_ms: int = 2000) -> int:
    """Number of bot messages once none has arrived for ``quiet_ms``."""
    count, quiet = -1, 0
    while quiet < quiet_ms:
        current = page.locator(BOT + " .rw-message").count()
        quiet = quiet + 250 if current == count else 0
        count = current
        page.wait_for_timeout(250)
    return count


def test_balance_request_asks_to_verify_identity(
    running_stack: Any, new_page: Any, results_dir: Path
) -> None:
    page = new_page()
    page.set_default_timeout(30_000)  # the first reply may wait for model warm-up
    page.goto(running_stack.web_url.rstrip("/") + "/")
    page.locator(INPUT).wait_for()
    page.wait_for_selector("#webchat-status[data-state=connected]", state="attached")
    # initPayload /greet makes the bot greet first; let the greeting finish so
    # that only messages after it count as the answer.
    page.locator(BOT).first.wait_for()
    greeting = settled_count(page)

    page.fill(INPUT, "查余额")
    page.press(INPUT, "Enter")
    page.locator(".rw-from-client", has_text="查余额").wait_for()
    page.wait_for_function(
        """([selector, skip]) => Array.from(document.querySelectorAll(selector))
            .slice(skip).some((node) => node.innerText.includes("验证"))""",
        arg=[BOT + " .rw-message", greeting],
    )
    settled_count(page)  # let the rest of the answer arrive before the screenshot
    page.screenshot(path=str(results_dir / "webchat.png"))
