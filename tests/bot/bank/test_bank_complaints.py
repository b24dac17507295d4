"""Complaints without a category get the one their words name."""

from __future__ import annotations

import pytest

from bot.bank.service.support import (
    COMPLAINT_CATEGORIES,
    DEFAULT_COMPLAINT_CATEGORY,
    infer_complaint_category,
)


async def complain(bank, **fields):
    resp = await bank.client.post(
        "/support/tickets",
        json={"kind": "complaint", "channel": "wechat", "channel_user_id": "o-c1", **fields},
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("在人民广场支行排队等了一个多小时", "排队等候"),
        ("信用卡年费乱扣，要求退还", "收费问题"),
        ("柜员态度很差", "服务态度"),
        ("手机银行app一直闪退", "系统故障"),  # case-insensitive: app -> APP
        ("我的卡被盗刷了两笔", "账户资金"),
        ("理财经理销售时误导我买了基金", "产品销售"),
        ("开户要的材料太多", "业务办理"),
        ("你们的广告太吵了", "其他"),
        ("   ", "其他"),
    ],
)
async def test_the_text_names_the_category(bank, text, category):
    ticket = await complain(bank, text=text)
    assert ticket["category"] == category


async def test_the_first_category_in_order_wins(bank):
    # 排队等候 and 收费问题 are both named; 排队等候 comes first in the list
    ticket = await complain(bank, text="排队太久还收了手续费")
    assert ticket["category"] == "排队等候"
    order = list(COMPLAINT_CATEGORIES)
    assert order.index("排队等候") < order.index("收费问题")


async def test_an_explicit_category_is_kept(bank, error):
    ticket = await complain(bank, category="收费", text="排队等了一个小时")
    assert ticket["category"] == "收费问题"
    ticket = await complain(bank, category="服务态度", text="手机银行闪退")
    assert ticket["category"] == "服务态度"
    resp = await bank.client.post(
        "/support/tickets",
        json={
            "kind": "complaint",
            "channel": "wechat",
            "channel_user_id": "o-c1",
            "category": "天气不好",
            "text": "排队太久",
        },
    )
    assert resp.status == 400
    assert (await error(resp))["details"]["field"] == "category"


async def test_the_summary_helps_when_the_text_does_not(bank):
    ticket = await complain(bank, text="你们必须给我一个说法", summary="客户投诉网点排队时间过长")
    assert ticket["category"] == "排队等候"
    # the text wins over the summary
    ticket = await complain(bank, text="被扣了年费", summary="客户投诉排队")
    assert ticket["category"] == "收费问题"
    assert (await complain(bank))["category"] == "其他"  # nothing to go on


async def test_hand_offs_are_not_categorised(bank):
    resp = await bank.client.post(
        "/support/tickets",
        json={
            "kind": "handoff",
            "channel": "wechat",
            "channel_user_id": "o-c1",
            "text": "排队太久，想找人工",
        },
    )
    assert resp.status == 201 and (await resp.json())["category"] is None


def test_infer_complaint_category():
    assert infer_complaint_category(None) == DEFAULT_COMPLAINT_CATEGORY == "其他"
    assert infer_complaint_category("", "") == "其他"
    assert infer_complaint_category("ATM吞卡") == "系统故障"
    assert infer_complaint_category("其它问题") == "其他"
    # The category most of the words name, not the first one mentioned.
    assert infer_complaint_category("你们app转账老是闪退") == "系统故障"
    assert infer_complaint_category("办理转账还多收了手续费 收费不透明") == "收费问题"
    for category, words in COMPLAINT_CATEGORIES.items():
        assert infer_complaint_category(f"关于{words[0]}的意见") == category
