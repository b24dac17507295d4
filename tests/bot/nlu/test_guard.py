"""The intent guard: unmistakable urgent wordings never end in a fallback."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.guard import IntentGuard, guarded_intent


@pytest.mark.parametrize(
    "text, predicted, expected",
    [
        ("我被詐騙了 對方說是客服 我把驗證碼給他了", "nlu_fallback", "report_fraud"),
        ("有人说帮我退款 让我把手机收到的验证码发给他 可以发吗", "faq", "report_fraud"),
        ("我根本没转过账 怎么显示转走了4500", "check_balance", "report_fraud"),
        ("刚在路上被抢了 钱包手机全没了", "nlu_fallback", "report_card_lost"),
        ("钱包丢了 信用卡帮我停了吧", "cancel", "freeze_card"),
        ("信用卡有一笔3000多的消费我根本没刷过", "complain", "dispute_charge"),
        ("我眼睛不好 字打不清楚 有没有人能帮我", "nlu_fallback", "human_handoff"),
        # DIET already right (kept, made sure), or a question the guard leaves alone
        ("卡被偷了", "report_card_lost", "report_card_lost"),
        ("卡被偷了 先冻上", "freeze_card", "freeze_card"),
        ("我被詐騙了 對方說是客服 我把驗證碼給他了", "report_fraud", "report_fraud"),
        ("为什么要手机号啊 安全吗 不会是骗子吧", "ask_explain", "ask_explain"),
        ("为啥要手机号 不会是骗子吧 安全不", "faq", "ask_explain"),
        ("手机丢了 手机银行还登着 怕钱被转走", "faq", "lost_phone"),
        ("我手机号换了", "faq", None),
        ("算了 今天不去了", "nlu_fallback", "cancel"),
        ("不转了", "deny", "cancel"),
        ("那算了 我再找找", "nlu_fallback", "cancel"),
        ("算了 还是先冻结吧", "nlu_fallback", "freeze_card"),
        ("嗯 那还是冻一下算了 永久停用太狠了", "cancel", "freeze_card"),
        ("要五十分钟啊 有没有电话能直接打过去问", "nlu_fallback", "ask_hotline"),
        ("有人打电话说是你们银行的", "faq", None),
        ("卡里还有1000块钱 挂失了钱会不会没了", "cancel", "nlu_fallback"),
        ("算了 取消吧", "cancel", "cancel"),
        ("不去了能退号吗", "faq", None),
        ("我想问问 我卡里的钱还剩多少 上回去网点等了半天", "branch_queue_status", "check_balance"),
        ("信用卡还剩多少额度", "credit_card_bill", None),
        ("上个月花了多少", "transaction_history", None),
        ("为啥要审核啊 我又不是转给骗子", "ask_explain", None),
        ("我老伴的卡找不着了 我不会弄这个手机 你们能不能找个人帮帮我", "ticket_status", "human_handoff"),
        ("怎么防止被骗", "faq", None),
        ("为什么要人工审核", "faq", None),
        ("网点能停车吗", "find_branch", None),
        ("？？？ 😂😂 asdfgh", "recommend_product", "nlu_fallback"),
        ("从来没买过这些", "inform", None),
        ("下周去美国 想在你们这取1000美元现钞 得多少人民币", "faq", "exchange_rate"),
        ("换外币要带什么证件", "faq", None),  # a risk-questionnaire answer, not a dispute
        ("阿姨不会用这个 想直接打电话问 你们电话是多少啊", "ask_hotline", "ask_hotline"),
        ("ok", "affirm", None),
        ("check balance", "check_balance", None),
        ("卡找到了 帮我解冻", "unfreeze_card", None),
        ("换500美刀得多少钱", "faq", "exchange_rate"),
        ("信用卡先帮我锁一下 不知道塞哪去了", "faq", "freeze_card"),
        ("有人打电话问我要这个验证码 说是你们银行的 能给他吗", "complain", "report_fraud"),
        ("冻结和挂失有什么区别", "faq", None),
        ("冻结以后还能不能用", "faq", None),
        ("我是晚报记者 想了解你们银行被骗客户的情况 有没有官方回应", "media_inquiry", "media_inquiry"),
        ("电视台栏目组 关于重复扣款的投诉想采访一下", "media_inquiry", "media_inquiry"),
        ("我这边是第一财经的 想就你们最近关网点的事做个采访", "find_branch", "media_inquiry"),
        ("1000 GBP想换成RMB", "faq", "exchange_rate"),
        ("500软妹币能换多少刀", "faq", "exchange_rate"),
        ("我换了500块钱", "faq", None),
        ("一定要名字吗 我只知道他姓陈", "faq", "ask_explain"),
        ("名字叫刘洋", "inform", None),
        ("好的 那我现在要干嘛", "nlu_fallback", "ask_explain"),
        ("卡丢了怎么办", "report_card_lost", "report_card_lost"),
        ("我现在要转账", "transfer_money", None),
        ("回来发现那个银行卡不见了 不晓得是掉了还是怎么的 怎么办呀", "help", "report_card_lost"),
        ("卡丢了补卡要多久", "faq", None),
        ("补充下 是昨天下午三点左右 3号窗口", "branch_queue_status", "complain"),
        ("订单号是JD88812345 补充一下", "nlu_fallback", "complain"),
        ("我想办张补充卡", "faq", None),
        ("建设银行的客服热线多少", "ask_hotline", "out_of_scope"),
        ("你们的客服电话多少", "ask_hotline", None),
        ("最近买什么股票好", "recommend_product", "out_of_scope"),
        ("股票型基金风险大吗", "faq", None),
        ("给我推荐部电影", "recommend_product", "out_of_scope"),
        ("附近哪里好玩", "find_branch", "out_of_scope"),
        ("附近哪个网点人少", "find_branch", None),
        ("账上还有多少", "transaction_history", "transaction_history"),
        ("账上还有多少", "faq", "check_balance"),
        ("太麻烦了 下回再弄", "nlu_fallback", "cancel"),
        ("现在先不办", "nlu_fallback", "cancel"),
        ("我想转笔钱", "nlu_fallback", "transfer_money"),
        ("给李娜转个两百五 转完告诉我还剩多少", "nlu_fallback", "transfer_money"),
        ("给李娜转了500 怎么还没到", "faq", None),
        ("我刚刚转了2800到一个新账户 账号输错了一位 钱能要回来吗", "faq", "report_fraud"),
        ("我没被骗啊 我就是问问", "faq", None),
        ("我咋知道你是不是真的银行 万一是骗子呢", "report_fraud", "ask_explain"),
        ("那算了 这题c", "cancel", "inform"),
        ("算了 13800138000", "cancel", "inform"),
        ("那先取消吧 到时候再取", "goodbye", "cancel"),
        ("我上次的编号是C20261110-0005 帮我查下进度", "complain", "ticket_status"),
        ("那8000多被盗刷的钱怎么办 我不认这笔", "report_fraud", "dispute_charge"),
    ],
)
def test_guarded_intents(text: str, predicted: str, expected: str | None) -> None:
    assert guarded_intent(text, predicted) == expected


def test_the_guard_sets_the_intent_and_keeps_a_consistent_ranking() -> None:
    message = Message(
        data={
            "text": "我好像被骗了",
            "intent": {"name": "inform", "confidence": 0.41},
            "intent_ranking": [
                {"name": "inform", "confidence": 0.41},
                {"name": "report_fraud", "confidence": 0.39},
                {"name": "faq", "confidence": 0.2},
            ],
        }
    )
    (out,) = IntentGuard({}).process([message])
    assert out.get("intent") == {"name": "report_fraud", "confidence": 0.95}
    ranking = out.get("intent_ranking")
    assert [r["name"] for r in ranking] == ["report_fraud", "inform", "faq"]
    assert abs(sum(r["confidence"] for r in ranking) - 1.0) < 1e-9


def test_a_button_payload_is_left_alone() -> None:
    message = Message(data={"text": "/faq", "intent": {"name": "faq", "confidence": 1.0}})
    (out,) = IntentGuard({}).process([message])
    assert out.get("intent") == {"name": "faq", "confidence": 1.0}
