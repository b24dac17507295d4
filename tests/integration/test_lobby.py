"""The lobby manager through the REST channel: branches, queues, products, FAQ, complaints."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from bot.services.accounts import AccountsClient
from bot.services.branches import BranchesClient
from bot.services.errors import TicketNotActive
from bot.services.support import SupportClient

pytestmark = pytest.mark.integration


class Chat:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.sender = f"lobby-{uuid.uuid4().hex[:10]}"

    async def say(self, text: str, metadata: dict | None = None) -> tuple[str, list[dict]]:
        body = {"sender": self.sender, "message": text}
        if metadata:
            body["metadata"] = metadata
        async with self.session.post(self.url, json=body) as resp:
            assert resp.status == 200, await resp.text()
            replies = await resp.json()
        text_out = "\n".join(m.get("text", "") for m in replies)
        buttons = [b for m in replies for b in m.get("buttons", [])]
        return text_out, buttons


async def test_location_finds_the_nearest_branch(running_stack) -> None:
    async with aiohttp.ClientSession() as http:
        chat = Chat(http, running_stack.rest_url)
        reply, _ = await chat.say(
            "/share_location", metadata={"location": {"lat": 31.1955, "lng": 121.4365}}
        )
        assert reply.index("徐家汇支行") < reply.index("公里") + 40
        assert "营业中" in reply


async def test_busy_branch_diverts_and_the_ticket_survives(running_stack) -> None:
    branches = BranchesClient(running_stack.bank_url)
    async with aiohttp.ClientSession() as http:
        chat = Chat(http, running_stack.rest_url)
        reply, buttons = await chat.say("人民广场支行现在排队多吗")
        assert "人民广场支行" in reply and "静安寺支行" in reply
        assert any("静安寺" in b["title"] for b in buttons)
        divert = next(b for b in buttons if "静安寺" in b["title"])
        reply, _ = await chat.say(divert["payload"])
        assert "取号成功" in reply and "静安寺支行" in reply
        number = reply.split("号码是 ")[1][:4]

        reply, _ = await chat.say("我的号还要等多久")
        assert number in reply and "前面还有" in reply

        # A second ticket at another branch is allowed; the bank refuses duplicates per branch.
        # 人民广场 is busy for 个人业务, so the bot suggests 静安寺 again; the customer stays.
        reply, _ = await chat.say("帮我在人民广场也取个号")
        assert "办理哪类业务" in reply, reply
        reply, buttons = await chat.say("个人业务")
        assert "人民广场支行" in reply and "要改到静安寺支行取号吗" in reply, reply
        assert [b["title"] for b in buttons] == ["改到静安寺支行", "仍在人民广场支行"], buttons
        reply, _ = await chat.say("不用，就在人民广场")
        assert "取号成功" in reply and "人民广场支行" in reply, reply
        second = reply.split("号码是 ")[1][:4]
        assert second != number

        # Both tickets are in the bank, each at its own branch, both waiting.
        tickets = await branches.list_tickets("web", chat.sender)
        held = {t.number: (t.branch_name, t.status) for t in tickets}
        assert held == {number: ("静安寺支行", "waiting"), second: ("人民广场支行", "waiting")}
        ids = {t.number: t.ticket_id for t in tickets}

        # Two tickets: the bot asks which one (one button each) and cancels the one chosen.
        reply, buttons = await chat.say("取消排号")
        assert "要取消哪一个" in reply, reply
        assert sorted(b["title"] for b in buttons) == sorted(
            [f"{number} 静安寺支行", f"{second} 人民广场支行"]
        ), buttons
        reply, _ = await chat.say(next(b["payload"] for b in buttons if "人民广场" in b["title"]))
        assert f"已为您取消 人民广场支行 的号码 {second}" in reply, reply

    # The 人民广场 ticket is cancelled in the bank; the 静安寺 one still waits.
    left = await branches.list_tickets("web", chat.sender)
    assert [(t.number, t.branch_name, t.status) for t in left] == [(number, "静安寺支行", "waiting")]
    with pytest.raises(TicketNotActive) as refused:
        await branches.cancel_ticket(ids[second], "web", chat.sender)
    assert refused.value.details.get("status") == "cancelled", refused.value.details
    await branches.close()


async def test_products_disclosure_and_suitability(running_stack) -> None:
    bank = AccountsClient(running_stack.bank_url)
    async with aiohttp.ClientSession() as http:
        chat = Chat(http, running_stack.rest_url)
        reply, _ = await chat.say("有什么低风险的理财产品")
        assert "理财非存款，产品有风险，投资须谨慎" in reply
        assert "业绩比较基准仅供参考，不代表未来表现，也不是收益承诺" in reply, reply

        reply, _ = await chat.say("1000美元是多少人民币")
        # Selling dollars: priced at the bank's buying rate, and said so.
        assert "现汇买入价" in reply and "711.20" in reply and "¥7,112.00" in reply

        reply, _ = await chat.say("推荐个理财")
        reply, _ = await chat.say("13800138000")
        outbox = await bank.sms_outbox("13800138000")
        reply, _ = await chat.say(str(outbox[0]["code"]))
        assert "C3" in reply and "理财非存款" in reply
        assert "R4" not in reply and "R5" not in reply

        reply, _ = await chat.say("我想买科技创新股票基金")
        assert "超出了您的风险承受能力" in reply
    await bank.close()


async def test_faq_and_complaint(running_stack) -> None:
    async with aiohttp.ClientSession() as http:
        chat = Chat(http, running_stack.rest_url)
        reply, _ = await chat.say("开户需要带什么材料")
        assert "身份证" in reply

        reply, _ = await chat.say("我要投诉")
        assert "具体" in reply
        reply, _ = await chat.say("在人民广场支行排队两个小时都没人管")
        assert "投诉编号" in reply and "2个工作日" in reply
        ticket_id = reply.split("投诉编号：")[1].split()[0]
    support = SupportClient(running_stack.bank_url)
    tickets = await support.list_tickets(chat.sender)
    assert any(t.ticket_id == ticket_id and t.kind == "complaint" for t in tickets)
    await support.close()


async def test_out_of_scope_gets_a_boundary(running_stack) -> None:
    async with aiohttp.ClientSession() as http:
        chat = Chat(http, running_stack.rest_url)
        reply, _ = await chat.say("明天上海会下雨吗")
        assert "帮不上" in reply and "查余额" in reply


async def test_vip_is_greeted_as_such_and_others_are_not(running_stack) -> None:
    bank = AccountsClient(running_stack.bank_url)
    async with aiohttp.ClientSession() as http:
        vip = Chat(http, running_stack.rest_url)
        await vip.say("我要绑定账户")
        await vip.say("13900139000")
        reply, _ = await vip.say(str((await bank.sms_outbox("13900139000"))[0]["code"]))
        assert "贵宾" in reply
        reply, _ = await vip.say("你好")
        assert "王敏" in reply and "贵宾" in reply

        ordinary = Chat(http, running_stack.rest_url)
        reply, _ = await ordinary.say("你好")
        assert "贵宾" not in reply and "王敏" not in reply
    await bank.close()
