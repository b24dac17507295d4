"""A full customer conversation through the REST channel against the real processes."""

from __future__ import annotations

import uuid
from decimal import Decimal

import aiohttp
import pytest

from bot.services.accounts import AccountsClient

pytestmark = pytest.mark.integration


class Chat:
    """One customer talking to the Rasa REST channel."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.sender = f"it-{uuid.uuid4().hex[:10]}"

    async def say(self, text: str) -> str:
        async with self.session.post(self.url, json={"sender": self.sender, "message": text}) as r:
            assert r.status == 200, await r.text()
            replies = await r.json()
        return "\n".join(m.get("text", "") for m in replies)


async def latest_code(bank: AccountsClient, phone: str) -> str:
    outbox = await bank.sms_outbox(phone)
    assert outbox, "the sandbox sent no SMS"
    return str(outbox[0]["code"])


async def balance_of(bank: AccountsClient, phone: str, last4: str) -> Decimal:
    """Binds a throwaway chat user to the customer and reads one account."""
    user = f"probe-{uuid.uuid4().hex[:8]}"
    await bank.request_otp("web", user, phone=phone)
    session = await bank.verify_otp("web", user, await latest_code(bank, phone))
    accounts = await bank.list_accounts(session.token)
    return next(a.balance for a in accounts if a.last4 == last4)


async def test_bind_balance_transfer_and_card_loss(running_stack) -> None:
    bank = AccountsClient(running_stack.bank_url)
    async with aiohttp.ClientSession() as http:
        chat = Chat(http, running_stack.rest_url)

        reply = await chat.say("查余额")
        assert "验证" in reply and "手机号" in reply
        # Nothing was typed yet, so nothing may be called malformed.
        assert "6位数字" not in reply and "格式" not in reply

        reply = await chat.say("13800138000")
        assert "138****8000" in reply and "13800138000" not in reply

        reply = await chat.say(await latest_code(bank, "13800138000"))
        assert "张伟" in reply
        assert "¥52,380.15" in reply
        assert "尾号1234" in reply

        li_before = await balance_of(bank, "13900139000", "8888")

        reply = await chat.say("给李娜转500")
        assert "李娜（尾号8888）" in reply and "¥500.00" in reply and "确认" in reply

        first = await chat.say("确认")
        assert "转账成功" in first and "¥51,880.15" in first
        second = await chat.say("确认")
        assert "转账成功" not in second

        assert await balance_of(bank, "13800138000", "1234") == Decimal("51880.15")
        assert await balance_of(bank, "13900139000", "8888") == li_before + Decimal("500")

        # 挂失 said outright, and 银行卡 is the debit card: straight to the confirmation.
        reply = await chat.say("我的银行卡丢了，要挂失")
        assert "确认挂失储蓄卡（尾号1234）吗" in reply, reply
        assert "永久停用" in reply and "尾号5678" not in reply
        reply = await chat.say("确认")
        assert "已为您挂失" in reply

        # A lost card cannot be unfrozen, and 张伟 has no frozen card: the bot says so
        # (it neither asks to confirm an unfreeze nor fails with a generic error).
        reply = await chat.say("帮我把卡解冻")
        assert "您名下没有被冻结的卡片，不需要解冻" in reply, reply
        assert "已挂失的卡无法解冻，需要补办新卡" in reply, reply
        assert "已解冻" not in reply and "确认解冻" not in reply

    user = f"probe-{uuid.uuid4().hex[:8]}"
    await bank.request_otp("web", user, phone="13800138000")
    session = await bank.verify_otp("web", user, await latest_code(bank, "13800138000"))
    cards = {c.last4: c.state for c in await bank.list_cards(session.token)}
    assert cards == {"1234": "lost", "5678": "active"}  # nothing unfrozen, nothing else touched
    await bank.close()


async def test_wrong_code_is_explained_and_nothing_is_bound(running_stack) -> None:
    async with aiohttp.ClientSession() as http:
        chat = Chat(http, running_stack.rest_url)
        await chat.say("我要查余额")
        await chat.say("13800138000")
        reply = await chat.say("12345")
        assert "6位数字" in reply
        reply = await chat.say("000000")
        assert "不正确" in reply and "¥" not in reply


async def test_transfer_over_the_limit_is_re_asked(running_stack) -> None:
    bank = AccountsClient(running_stack.bank_url)
    async with aiohttp.ClientSession() as http:
        chat = Chat(http, running_stack.rest_url)
        await chat.say("我要转账")
        await chat.say("13900139000")
        reply = await chat.say(await latest_code(bank, "13900139000"))
        assert "李娜" in reply
        # 张伟's full account number: a new payee for 李娜, whose holder's name is asked.
        reply = await chat.say("6216 6102 0000 0561 234")
        assert "姓名" in reply and "尾号1234" in reply
        reply = await chat.say("张伟")
        assert "多少" in reply
        reply = await chat.say("十万")
        assert "限额" in reply and "¥50,000.00" in reply
        reply = await chat.say("两万")
        assert "人工审核" in reply
        reply = await chat.say("算了")
        assert "取消" in reply
    await bank.close()
