"""Complaints without a category through SupportClient: the bank infers it."""

from __future__ import annotations


async def test_the_bank_infers_a_missing_complaint_category(services):
    support = services.support
    ticket = await support.create_ticket(
        "complaint", "wechat", "o-zhang", text="网点排队等了一个小时", summary="投诉排队"
    )
    assert ticket.category == "排队等候"
    kept = await support.create_ticket(
        "complaint", "wechat", "o-zhang", category="收费", text="排队等了一个小时"
    )
    assert kept.category == "收费问题"
    plain = await support.create_ticket("complaint", "wechat", "o-zhang", text="我要投诉")
    assert plain.category == "其他"
