"""A safety net for the intents that must never be missed (a Rasa graph component).

DIET learns from examples and can miss an urgent message written in an unusual way
("我被詐騙了 對方說是客服 我把驗證碼給他了", "刚在路上被抢了 钱包手机全没了"). A bank
cannot let a fraud victim get a menu, so a few unmistakable wordings set the intent
after DIET, before the fallback classifier decides whether the NLU was sure:

* report_fraud: scams, a code given away, money taken without the customer;
* report_card_lost: a stolen or robbed card or wallet (the card action then asks
  临时冻结 or 挂失, freeze first, with the police advice);
* freeze_card: a card to stop or lock ("信用卡帮我停了吧"; with a loss in the same
  message the card action asks 临时冻结 or 挂失);
* dispute_charge: a charge the customer did not make or that was taken twice;
* exchange_rate: an amount of a foreign currency and what it costs or brings;
* lost_phone: a lost or stolen phone (mobile banking at risk);
* ask_explain: why a step wants a phone number or a code, and a bare "what now";
* cancel: quitting the task at hand in so many words ("算了不转了");
* check_balance: how much money is left, however long the message around it;
* human_handoff: customers who cannot type or read the screen, or ask for a person.

Text without Chinese, digits or a known Latin word (emoji, keyboard mashing) is marked
not understood. Only these; everything else stays DIET's. A question about preventing fraud keeps its
FAQ answer. The intent is kept when DIET already chose it or a close relative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.answers import TICKET_ID_PATTERN
from bot.nlu.currency import CNY_PATTERN, FOREIGN_PATTERN
from bot.nlu.normalizer import source_fingerprint
from bot.nlu.text import normalize_text

INTENT_RANKING = "intent_ranking"
GUARD_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Guard:
    intent: str
    pattern: re.Pattern[str]
    unless: Optional[re.Pattern[str]] = None
    # DIET's choices that already serve the message (kept as they are).
    accepts: frozenset[str] = frozenset()


_CARD_FAMILY = frozenset({"report_card_lost", "freeze_card"})
_CURRENCY = FOREIGN_PATTERN
# A journalist asking about fraud or disputes wants the press office, not a victim's help.
_MEDIA = r"记者|媒体|采访|报社|电视台|栏目组|新闻|官方回应|官方声明|发表声明"
GUARDS = (
    Guard(
        # "我这边是第一财经的 想就你们最近关网点的事做个采访": the press office.
        "media_inquiry",
        re.compile(r"采访|记者|报社|电视台|栏目组|媒体的?(?:人|朋友)?|官方回应|官方声明|发表声明"),
        unless=re.compile(r"冒充|假(?:的)?记者|是不是记者|我被骗|骗了我"),
        accepts=frozenset({"media_inquiry"}),
    ),
    Guard(
        # "我咋知道你是不是真的银行 万一是骗子呢": doubting this chat, not a fraud victim.
        "ask_explain",
        re.compile(
            r"(?:你|你们|这|这个)(?:到底)?(?:是不是|是否|真的是|确定是)(?:真的|正规|官方)?(?:银行|客服|官方)|"
            r"万一(?:你|你们|这)?(?:是)?骗子|(?:你|你们)(?:是不是|不会是|该不会是)骗子|"
            r"怎么(?:知道|证明|确定).{0,8}(?:真的|银行|官方|不是骗)"
        ),
        unless=re.compile(r"被骗了|骗走|转了|给了|已经"),
        accepts=frozenset({"ask_explain"}),
    ),
    Guard(
        "report_fraud",
        re.compile(
            r"被骗|被诈骗|遇到诈骗|遭遇诈骗|上当受骗|骗子|被人骗|骗了我|骗走|刷单被|杀猪盘|"
            r"冒充.{0,8}(?:公安|警察|法院|检察|客服|银行)|安全账户|"
            r"(?:验证码|密码).{0,10}(?:给了|告诉了|发给了|报给了)|"
            r"(?:发给|告诉|给)(?:他|她|对方|别人|陌生人).{0,6}验证码|"
            r"验证码.{0,6}(?:发给|给|告诉)(?:他|她|对方|别人)|"
            r"(?:问我要|找我要|向我要|跟我要|索要|让我(?:说|报|发|念|告诉)).{0,8}(?:验证码|密码)|"
            r"(?:没|没有)(?:转过|操作过|动过).{0,12}(?:转走|扣了|少了|没了)|"
            # A transfer to the wrong account: the same urgent path (disputed transfer).
            r"转错|汇错|错转|(?:账号|卡号|号码)(?:输|打|填|写)错|(?:输|打|填|写)错了?.{0,4}(?:账号|卡号|一位|数字)"
        ),
        unless=re.compile(
            r"怎么防|如何防|防止|防范|预防|识别|分辨|怎么判断|常见.{0,4}骗|"
            r"是不是骗|不会是骗|是骗子吗|骗子吧|怕被骗|担心被骗|会不会被骗|不是.{0,4}骗子|"
            r"没被骗|没有被骗|不是被骗|没上当|不是诈骗|" + _MEDIA
        ),
    ),
    Guard(
        "report_card_lost",
        re.compile(
            r"(?:卡|钱包|包|皮夹|银行卡|信用卡|储蓄卡).{0,12}(?:被偷|被抢|被盗|偷了|抢了|偷走|抢走|划开)|"
            r"(?:被偷|被抢|被盗|偷了|抢了|扒手|划开).{0,16}(?:卡|钱包|包)"
        ),
        accepts=_CARD_FAMILY | {"report_fraud"},
    ),
    Guard(
        "lost_phone",
        re.compile(
            r"手机.{0,3}(?:丢了|丢失|被偷|被抢|偷了|抢了|不见了|掉了|找不到了)|"
            r"手机.{0,8}(?:落在|落到|落下|忘在|丢在|掉在)"
        ),
        unless=re.compile(r"手机号|号码|换号|换了号"),
        accepts=_CARD_FAMILY | {"lost_phone", "report_fraud", "human_handoff"},
    ),
    Guard(
        "freeze_card",
        re.compile(
            r"(?:卡).{0,8}(?:停|冻|锁)|(?:停|冻|锁)(?:掉|了|住|一下)?.{0,3}(?:卡)|"
            # "那还是冻一下算了 永久停用太狠了": a change of mind towards the freeze.
            r"还是(?:先|就)?(?:冻|锁)(?:结|一下|上|住)?"
        ),
        # A question about what freezing means stays DIET's (the FAQ answers it); a
        # request to lock a card is never an FAQ ("信用卡先帮我锁一下 不知道塞哪去了").
        unless=re.compile(
            r"解冻|解锁|恢复|停车|不用冻|不要冻|别冻|不冻|不需要冻|不用停|不用锁|"
            r"区别|什么意思|啥意思|是什么|是啥|有什么不同|会不会|影响|还能不能|能不能用|以后"
        ),
        accepts=_CARD_FAMILY | {"report_fraud", "unfreeze_card"},
    ),
    Guard(
        # "回来发现那个银行卡不见了 不晓得是掉了还是怎么的": a card lost, however long
        # the story around it (the action asks freeze or 挂失).
        "report_card_lost",
        re.compile(
            r"(?:卡|钱包|皮夹).{0,10}(?:丢了|丢失|不见了|找不到了|找不着了|掉了|弄丢|搞丢|没了)|"
            r"(?:丢了|弄丢了|搞丢了|掉了).{0,4}(?:卡|钱包)"
        ),
        unless=re.compile(
            r"手机|找到了|找回来了|补卡|补办|新卡|多久|费用|手续费|流程|区别|什么意思|验证码|"
            r"不是我|盗刷|没刷|钱没了|余额|吞"
        ),
        accepts=_CARD_FAMILY | {"report_fraud", "human_handoff"},
    ),
    Guard(
        # "那8000多被盗刷的钱怎么办 我不认这笔": a charge to dispute (and an urgent hand-off
        # after it), not the advice for someone who paid a scammer.
        "dispute_charge",
        re.compile(r"被盗刷|盗刷的|盗刷了"),
        unless=re.compile(r"怎么防|如何防|防止|防范|预防|" + _MEDIA),
        accepts=frozenset({"dispute_charge"}),
    ),
    Guard(
        "dispute_charge",
        re.compile(
            r"没刷过|不是我刷|不是我消费|没消费过|(?:没买过|不是我买).{0,10}(?:扣|刷|钱|账)|"
            r"重复扣|扣了两次|扣两次|扣了两遍|多扣了|被扣了两|"
            r"不是我买的|我没买过|不是我消费的|不是我花的|不认识的(?:钱|扣款|消费|交易)|不认识这笔|"
            r"(?:扣款|交易|这笔|消费).{0,8}(?:异议|申诉)|(?:异议|申诉).{0,8}(?:扣款|交易|这笔|消费)"
        ),
        unless=re.compile(_MEDIA),
        accepts=frozenset({"report_fraud"}),
    ),
    Guard(
        "exchange_rate",
        re.compile(
            r"[0-9一二两三四五六七八九十百千万]+\s*(?:块|元)?\s*" + _CURRENCY +
            r".{0,16}(?:多少|能换|换成|换回|要几|得几|合人民币|值)|"
            r"(?:买|换|取|兑)\s*[0-9一二两三四五六七八九十百千万]+\s*" + _CURRENCY + "|"
            # "500软妹币能换多少刀": an amount in yuan and the foreign currency wanted.
            r"[0-9一二两三四五六七八九十百千万]+\s*(?:块钱|块|元|" + CNY_PATTERN + r")"
            r".{0,8}(?:换|兑|买).{0,6}(?:" + _CURRENCY + r"|多少刀|几刀)"
        ),
        unless=re.compile(r"额度|限额|手续费|在哪|哪个网点|怎么办理|流程|需要什么|带什么"),
    ),
    Guard(
        # "为啥要手机号 安全吗": why the step asks (not a FAQ that happens to share a word).
        "ask_explain",
        re.compile(
            r"(?:为什么|为啥|干嘛|凭什么|怎么还|咋还|咋又)(?:要|需要|得|还要|非要)?.{0,3}"
            r"(?:手机号|验证码|短信码|号码|验证身份|身份验证)"
        ),
        accepts=frozenset({"ask_explain"}),
    ),
    Guard(
        # "一定要名字吗 我只知道他姓陈": what the step needs, asked, not answered.
        "ask_explain",
        re.compile(
            r"(?:一定要|必须|非得|非要|得要|一定得)(?:知道|填|写|说|提供|有)?.{0,3}(?:名字|姓名|全名|户名)|"
            r"(?:不知道|只知道|记不清|不记得|不清楚)(?:他|她|对方|人家)?(?:的)?(?:全名|名字|姓名|户名|叫什么)"
        ),
        accepts=frozenset({"ask_explain"}),
    ),
    Guard(
        # "补充下 是昨天下午三点 3号窗口": more detail for what was just reported (the
        # complaint, or the dispute it follows), not a new question about its words.
        "complain",
        re.compile(r"(?:^|[\s，,。])(?:我|再|还要){0,2}(?:补充|追加)(?!卡)"),
        unless=re.compile(r"怎么|如何|在哪|吗\s*[?？]?\s*$"),
        accepts=frozenset({"complain", "dispute_charge"}),
    ),
    Guard(
        # "我上礼拜投诉的事到现在都没人联系我", "编号C20261110-0005 帮我查下进度": a
        # follow-up of a ticket, not a new complaint.
        "ticket_status",
        re.compile(
            r"(?:投诉|争议|申诉|反映)的?(?:事|那个|那件事)?.{0,12}"
            r"(?:没人联系|没人理|没回复|没有回复|没消息|没动静|进度|怎么样了|到哪了|处理了没|有结果)|"
            + TICKET_ID_PATTERN
        ),
        unless=re.compile(r"我要投诉|投诉你们|再投诉"),
        accepts=frozenset({"ticket_status"}),
    ),
    Guard(
        # "给李娜转个两百五 转完告诉我还剩多少": a transfer asked for, whatever follows.
        "transfer_money",
        re.compile(
            r"^(?:帮我|麻烦|请)?(?:给|转给)[\u4e00-\u9fff]{2,3}(?:转|打|汇)个?\s*"
            r"[0-9一二两三四五六七八九十百千万]+|"
            r"^(?:我)?(?:想|要|得)(?:转|打|汇)(?:一)?(?:笔|点|个)钱"
        ),
        unless=re.compile(r"了|过|被|骗|错|吗|没到|到没|多久|怎么|为什么|限额|手续费"),
        accepts=frozenset({"transfer_money"}),
    ),
    Guard(
        # What this bank's assistant does not do: other banks' numbers, stock tips, tax
        # returns, books, films and sights (a bank word keeps it in scope).
        "out_of_scope",
        re.compile(
            r"(?:工行|建行|农行|中行|招行|交行|邮储|浦发|中信|民生|兴业|光大|平安银行|"
            r"工商银行|建设银行|农业银行|中国银行|招商银行|交通银行).{0,8}(?:电话|客服|热线|号码)|"
            r"(?:哪个|哪只|什么)股票|股票.{0,4}(?:推荐|能赚|会涨|涨停)|涨停|"
            r"个税|个人所得税|汇算清缴|退税|"
            r"推荐.{0,4}(?:书|电影|电视剧|歌|餐厅|饭店|景点)|"
            r"(?:哪里|哪儿|什么地方)(?:拍照|好玩|好吃|约会)|拍照好看|好玩的地方|景点"
        ),
        unless=re.compile(r"网点|支行|本行|你们|理财|基金|存款|利率|转账|卡"),
        accepts=frozenset({"out_of_scope", "nlu_fallback"}),
    ),
    Guard(
        # "那我现在要干嘛" after a task: what follows it (a bare "what now", nothing else).
        "ask_explain",
        re.compile(
            r"^(?:那|那么|好的?|嗯|哦|噢|ok)?[，,\s]*(?:那)?我?(?:现在|接下来|下一步|然后|之后)?我?还?"
            r"(?:要|该|得|需要|应该)?(?:干嘛|干什么|做什么|做啥|干啥|怎么办|咋办|怎么弄|咋弄|咋整|怎么做)"
            r"(?:呢|啊|呀|吗|嘞)?[?？。!！\s]*$",
            re.IGNORECASE,
        ),
    ),
    Guard(
        # The commonest request: a long message about queues or visits can pull DIET
        # elsewhere ("卡里的钱还有多少 上次去银行排队排了好久").
        "check_balance",
        re.compile(
            r"(?:钱|余额)(?:还有|还剩|剩下|剩|有)多少|还剩多少钱|还有多少钱|余额(?:是)?多少|"
            r"(?:账上|账户上|账户里|卡上|卡里)(?:还|一共)?(?:有|剩|剩下)多少"
        ),
        unless=re.compile(
            r"转|花|消费|支出|收入|到账|明细|流水|额度|限额|理财|利息|汇率|换|手续费|冻|挂失|"
            r"取|存|还款|还了|欠|账单|[上下这本]个?月|昨天|今天|每月|每个月|一共"
        ),
        accepts=frozenset({"check_balance", "transaction_history", "credit_card_bill"}),
    ),
    Guard(
        "human_handoff",
        re.compile(
            r"不会打字|打不了字|字打不|打字(?:太慢|不方便|不会)|看不清|眼睛不好|眼神不好|"
            r"(?:找|叫|换)(?:个)?(?:真人|人工|工作人员|客服)|转(?:个|一下)?人工|人工客服|"
            r"(?:让|叫)(?:人|客服|工作人员).{0,4}(?:打电话|联系我)|跟人工|和人工|找人帮|找个人|"
            r"不会弄|弄不来|不会用这个|搞不懂这个"
        ),
        unless=re.compile(r"人工审核|人工智能|人工服务时间"),
        # The bank's phone numbers asked for: answered with the numbers.
        accepts=frozenset({"ask_hotline"}),
    ),
    Guard(
        # "要五十分钟啊 有没有电话能直接打过去问": the bank's numbers, not a person now.
        "ask_hotline",
        re.compile(r"(?:电话|热线).{0,6}(?:打过去|打进去|直接打)|(?:打|拨)(?:哪个|什么|几号)(?:电话|号码|热线|号)"),
        # Another question in the same message is left to DIET (an FAQ answer may hold both).
        unless=re.compile(r"给我打|打给我|回电|回个电话|打过来|联系我|网点|支行|骗|冒充|带什么|材料|怎么办|多久"),
        accepts=frozenset({"ask_hotline", "human_handoff"}),
    ),
    Guard(
        # "那算了 我再找找": giving up the task, unless another one follows.
        "cancel",
        re.compile(r"^(?:那|哦|唉|哎|嗯)?[\s,，]*算了(?:吧|啊)?(?:[\s,，。!！]|$)"),
        # "那算了 这题c", "算了 13800138000": an answer follows, not giving up.
        unless=re.compile(
            r"冻|挂失|转|查|换|取号|帮我|还是|改|给|人工|客服|[吗么]|\d{3,}|这题|选|[a-eA-E]\s*$"
        ),
        accepts=frozenset({"cancel", "goodbye", "deny"}),
    ),
    Guard(
        # "那先取消吧 到时候再取": the task (or the queue number) goes, never a goodbye.
        "cancel",
        re.compile(r"^(?:那|哦|嗯|好)?[\s,，]*(?:先|就)?取消(?:掉|了)?(?:吧|啊)?(?:[\s,，。!！]|$)"),
        unless=re.compile(r"[吗么]|怎么|能不能|可以|\d{3,}"),
        accepts=frozenset({"cancel", "cancel_queue_ticket"}),
    ),
    Guard(
        # Quitting the task at hand ("不用了 我今天不去了", "算了不转了").
        "cancel",
        re.compile(
            r"不去了|不办了|不转了|不弄了|不排了|不挂失了|不冻了|不投诉了|不换了|不买了|不查了|不取号了|"
            r"先不办|先不弄|先不转|下回再(?:弄|办|说)|下次再(?:弄|办|说)|改天再(?:弄|办|说)|不等了|太麻烦了"
        ),
        unless=re.compile(r"[吗么]|能不能|可不可以|可以.{0,4}[吗么]|还能|还要|怎么"),
        accepts=frozenset({"cancel", "goodbye"}),
    ),
)


# Latin words a customer may write alone; any other Latin-only text without Chinese or
# digits ("？？？ 😂😂 asdfgh") is not understood, whatever DIET guessed.
KNOWN_LATIN = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "ok",
        "okay",
        "yes",
        "no",
        "yep",
        "nope",
        "thanks",
        "thank",
        "thx",
        "bye",
        "byebye",
        "balance",
        "transfer",
        "card",
        "cards",
        "help",
        "vip",
        "app",
        "atm",
        "otp",
        "cash",
        "money",
        "bill",
        "human",
        "person",
        "staff",
        "sorry",
        "please",
        "lost",
        "freeze",
        "unfreeze",
        "rate",
        "rates",
        "usd",
        "eur",
        "hkd",
        "jpy",
        "gbp",
        "rmb",
        "cny",
        "fx",
        "loan",
        "mortgage",
        "fraud",
        "scam",
        "queue",
        "ticket",
        "branch",
    ]
)
NOT_UNDERSTOOD = "nlu_fallback"


def nonsense(text: str) -> bool:
    """Text with no Chinese, no digits and no Latin word a customer would mean."""
    cleaned = normalize_text(text or "")
    if re.search(r"[\u4e00-\u9fff0-9]", cleaned):
        return False
    words = re.findall(r"[A-Za-z]+", cleaned)
    return not any(word.lower() in KNOWN_LATIN for word in words)


def guarded_intent(text: str, predicted: Optional[str]) -> Optional[str]:
    """The intent ``text`` must get (DIET's own when it is the guard's or a relative
    of it, so that a right but unsure prediction is not lost to the fallback), or
    None when no guard applies."""
    cleaned = normalize_text(text or "")
    if cleaned.strip() and nonsense(cleaned):
        return NOT_UNDERSTOOD
    for guard in GUARDS:
        if not guard.pattern.search(cleaned):
            continue
        if guard.unless is not None and guard.unless.search(cleaned):
            continue
        if predicted == guard.intent or predicted in guard.accepts:
            return predicted
        return guard.intent
    if predicted == "cancel" and _QUESTION.search(cleaned) and not _SAYS_CANCEL.search(cleaned):
        # "挂失了钱会不会没了" is a question, never a cancel (the step asked explains).
        return NOT_UNDERSTOOD
    if predicted == "cancel" and _ANSWER_AFTER.search(cleaned):
        # "那算了 这题c", "算了 13800138000": a change of mind about the answer, which
        # the step takes.
        return "inform"
    return None


_QUESTION = re.compile(r"[吗么嘛?？]|会不会|能不能|可不可以|是不是|怎么|为什么|为啥|多少|几")
_ANSWER_AFTER = re.compile(r"(?:算了|不对)[\s,，]*(?:这题|选|是)?\s*(?:\d{3,}|[a-eA-E])\s*$|\d{6,}")
_SAYS_CANCEL = re.compile(r"取消|不办了|不要了|不用了|算了|不弄了|退出")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class IntentGuard(GraphComponent):
    """Sets the intents of :data:`GUARDS` for unmistakable wordings."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> Optional[str]:
        """Re-run downstream nodes when the wordings change."""
        here = Path(__file__)
        return source_fingerprint([here, here.with_name("currency.py"), here.with_name("answers.py")])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> IntentGuard:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue  # a button payload names its intent itself
            current = message.get(INTENT) or {}
            intent = guarded_intent(text, current.get(INTENT_NAME_KEY))
            confidence = float(current.get(PREDICTED_CONFIDENCE_KEY) or 0.0)
            if intent is None or (
                intent == current.get(INTENT_NAME_KEY) and confidence >= GUARD_CONFIDENCE
            ):
                continue
            ranking = [r for r in message.get(INTENT_RANKING) or [] if r.get("name") != intent]
            # The others keep their order, scaled into what is left.
            rest = sum(float(r.get(PREDICTED_CONFIDENCE_KEY) or 0) for r in ranking) or 1.0
            scale = (1.0 - GUARD_CONFIDENCE) / rest
            ranking = [
                {**r, PREDICTED_CONFIDENCE_KEY: float(r.get(PREDICTED_CONFIDENCE_KEY) or 0) * scale}
                for r in ranking
            ]
            top = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: GUARD_CONFIDENCE}
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING, [dict(top), *ranking], add_to_output=True)
        return messages
