"""End to end: the customer web chat page, and the one-line embed on a page of
another origin, against the full stack (Rasa, actions, bank).

Needs the ``running_stack`` fixture (tests/conftest.py): an object with
``web_url`` (the console app serving the chat page) and ``rasa_url`` (a Rasa
server with a trained model and the web chat channel from credentials.yml, whose
socket accepts the web app's origin).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_webchat_embed import FRAME, LAUNCHER, host_page, host_site, one_line

pytestmark = [pytest.mark.browser, pytest.mark.integration]

BOT = ".rw-from-response"
INPUT = "textarea.rw-new-message"


def settled_count(page: Any, quiet_ms: int = 2000, root: Any = None) -> int:
    """Number of bot messages (in ``root``, default the page) once none has
    arrived for ``quiet_ms``."""
    root = root or page
    count, quiet = -1, 0
    while quiet < quiet_ms:
        current = root.locator(BOT + " .rw-message").count()
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
    # The answer asks for the phone number to verify, and shows no balance before that.
    answer = "\n".join(page.locator(BOT + " .rw-message").all_inner_texts()[greeting:])
    assert "验证" in answer and "手机号" in answer, answer
    assert "¥" not in answer and "余额为" not in answer, answer


def test_one_line_embed_on_another_origin_talks_to_the_bot(
    running_stack: Any, new_page: Any, results_dir: Path
) -> None:
    web_url = running_stack.web_url.rstrip("/")
    with host_site({"/": host_page(one_line(web_url))}) as site:
        page = new_page()
        page.set_default_timeout(30_000)
        page.goto(site + "/")
        assert page.evaluate("() => location.origin") != web_url
        page.locator(LAUNCHER).click()
        frame = page.frame_locator(FRAME)
        frame.locator(BOT).first.wait_for()  # the greeting (initPayload /greet)
        before = settled_count(page, root=frame)

        frame.locator(INPUT).fill("你好")
        frame.locator(INPUT).press("Enter")
        frame.locator(".rw-from-client", has_text="你好").wait_for()
        frame.locator(BOT + " .rw-message").nth(before).wait_for()
        before = settled_count(page, root=frame)

        # A real multi-line answer (a list of documents) shows on several lines.
        frame.locator(INPUT).fill("开户要带什么材料")
        frame.locator(INPUT).press("Enter")
        answer = frame.locator(BOT + " .rw-message", has_text="身份证").last
        answer.wait_for()
        settled_count(page, root=frame)
        tops = answer.evaluate(
            """(node) => { const r = document.createRange(); r.selectNodeContents(node);
                 return new Set(Array.from(r.getClientRects()).filter((b) => b.width > 0)
                   .map((b) => Math.round(b.top))).size; }"""
        )
        assert tops >= 3, answer.inner_text()
        page.screenshot(path=str(results_dir / "webchat-embed-real.png"))
