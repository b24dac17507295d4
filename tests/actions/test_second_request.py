"""Two requests in one message: where the message is cut, and when nothing follows.

The whole path (the NLU reading the second half, the rules serving it) is played in
the customer conversations of tests/e2e (context::two-requests-*)."""

from __future__ import annotations

import pytest

from actions.base import has_second_request, message_halves, second_request
from tests.actions.conftest import make_tracker


@pytest.mark.parametrize(
    ("text", "halves"),
    [
        ("美元汇率多少 还有人广几点关门", ("美元汇率多少", "人广几点关门")),
        ("帮我查下余额顺便给李娜转两百", ("帮我查下余额", "给李娜转两百")),
        ("信用卡账单多少，另外我想挂个号", ("信用卡账单多少", "我想挂个号")),
        ("看看理财产品 同时帮我查一下流水", ("看看理财产品", "帮我查一下流水")),
    ],
)
def test_two_requests_are_cut_at_the_joining_word(text: str, halves: tuple[str, str]) -> None:
    assert message_halves(text) == halves
    assert has_second_request(text)


@pytest.mark.parametrize(
    "text",
    [
        "我那个卡里的钱还有多少",  # 还有 inside one request
        "还有别的吗",  # nothing before the joining word
        "再给她转一千",
        "查余额顺便",  # nothing after it
        "转了钱然后对方就不回了",
        "",
    ],
)
def test_one_request_is_not_cut(text: str) -> None:
    assert message_halves(text) is None
    assert not has_second_request(text)


async def test_nothing_follows_inside_a_form() -> None:
    # A side question inside a form gets its answer and the step is asked again; a
    # second request must not break into the form (and Rasa is not even asked).
    tracker = make_tracker(text="美元汇率多少 还有人广几点关门", active_loop="transfer_form")
    assert await second_request(tracker, "exchange_rate", tracker.latest_message["text"]) == []


async def test_nothing_follows_a_single_request() -> None:
    tracker = make_tracker(text="美元汇率多少")
    assert await second_request(tracker, "exchange_rate", "美元汇率多少") == []
