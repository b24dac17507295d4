"""Reading customers' short answers: is this an attempt at the question asked, which
card operation does a message ask for, which option of a choice does it pick.

The form validation actions use these so that only an attempt at the requested slot
gets a format error; a question, a new request or a change of mind is left to the
dialogue rules (the form asks its question again afterwards).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.nlu.currency import CNY_PATTERN
from bot.nlu.text import normalize_text

_CN_DIGITS = "零〇一二三四五六七八九幺"
_DIGIT_RUN = re.compile(rf"[0-9{_CN_DIGITS}]")
_SEPARATORS = re.compile(r"(?<=[0-9" + _CN_DIGITS + r"])[\s\-－—_.]+(?=[0-9" + _CN_DIGITS + r"])")
# A support ticket's number as the bank writes it (C20261118-0001: complaint, D dispute,
# H hand-off).
TICKET_ID_PATTERN = r"(?<![A-Za-z])[CDHcdh]\d{8}-\d{3,4}"
TICKET_ID = re.compile(TICKET_ID_PATTERN)

RESEND = re.compile(
    r"重新发|重发|再发|没收到|没有收到|收不到|(?:短信|验证码|码).{0,4}(?:没来|没到|还没来|还没到|一直没)|resend",
    re.IGNORECASE,
)


def _clean(text: str | None) -> str:
    return normalize_text(str(text or "")).strip()


def longest_digit_run(text: str | None) -> int:
    """Length of the longest run of digits (Arabic or 一二三 spelled), spaces and
    dashes inside a number ignored: "138 0013 8000" -> 11, "一三八" -> 3."""
    joined = _SEPARATORS.sub("", _clean(text))
    best = current = 0
    for ch in joined:
        current = current + 1 if _DIGIT_RUN.fullmatch(ch) else 0
        best = max(best, current)
    return best


def account_digits(text: str | None) -> str | None:
    """A 16-19 digit account number typed with spaces or dashes anywhere, else None."""
    joined = _SEPARATORS.sub("", _clean(text))
    for match in re.finditer(r"\d+", joined):
        if 16 <= len(match.group(0)) <= 19:
            return match.group(0)
    return None


def looks_like_phone(text: str | None) -> bool:
    """An attempt at a phone number: at least three digits in a row."""
    return longest_digit_run(text) >= 3


def looks_like_code(text: str | None) -> bool:
    """An attempt at a one-time code (digits), or a request to send it again."""
    return longest_digit_run(text) >= 3 or bool(RESEND.search(_clean(text)))


_AMOUNT_WORDS = re.compile(
    rf"[0-9{_CN_DIGITS}两十百千万亿]+\s*(?:元|块|万|千|百|k|w|rmb|人民币)|[¥￥]\s*\d|^\s*\d+(?:\.\d+)?\s*$",
    re.IGNORECASE,
)


def looks_like_amount(text: str | None) -> bool:
    """An attempt at an amount of money: digits, or a Chinese number with a unit."""
    cleaned = _clean(text)
    return bool(_AMOUNT_WORDS.search(cleaned)) or longest_digit_run(cleaned) >= 2


CARD_TYPES = {
    "信用卡": "信用卡",
    "贷记卡": "信用卡",
    "储蓄卡": "储蓄卡",
    "借记卡": "储蓄卡",
    "工资卡": "储蓄卡",
    "储蓄": "储蓄卡",
    "借记": "储蓄卡",
    "信用": "信用卡",
    "debit": "储蓄卡",
    "credit": "信用卡",
}


def card_type_named(text: str | None) -> str | None:
    """储蓄卡 / 信用卡 when the text names a card type (借记卡, 工资卡 ... too)."""
    cleaned = _clean(text).lower()
    for word, card_type in CARD_TYPES.items():
        for match in re.finditer(re.escape(word), cleaned):
            before, after = cleaned[max(0, match.start() - 3):match.start()], cleaned[match.end():]
            # "是储蓄卡 不是信用卡", "储蓄卡没丢 不用动": a card ruled out is not the one named.
            if not (_NOT_THIS_CARD_BEFORE.search(before) or _NOT_THIS_CARD_AFTER.match(after)):
                return card_type
    return None


_NOT_THIS_CARD_BEFORE = re.compile(r"(?:不是|不要|不用|别动|别|不冻|不挂)(?:那张|这张)?$")
_NOT_THIS_CARD_AFTER = re.compile(r"卡?\s*(?:的)?(?:那张|这张)?\s*(?:没丢|没事|不用|不要|别动|还在|没问题|好好的)")


def looks_like_card(text: str | None) -> bool:
    """An attempt at naming a card: four digits, 尾号..., or a card type."""
    cleaned = _clean(text)
    return (
        bool(re.search(r"尾号|后四位|末四位|(?<![零〇一二三四五六七八九幺壹贰叁肆伍陆柒捌玖两十百千万])"
                       r"[零〇一二三四五六七八九幺壹贰叁肆伍陆柒捌玖]{4}(?![零〇一二三四五六七八九幺壹贰叁肆伍陆柒捌玖十百千万])", cleaned))
        or bool(re.search(r"(?<![\d¥])\d{4}(?!\d)(?!\s*(?:元|块|万|千|百|\.\d))", _SEPARATORS.sub("", cleaned)))
        or card_type_named(cleaned) is not None
    )


# ---------------------------------------------------------------------------
# which card operation a message asks for

FREEZE = "freeze_card"
LOST = "report_card_lost"
UNFREEZE = "unfreeze_card"

_UNFREEZE_WORDS = re.compile(
    r"解冻|解除冻结|解锁|解封|解开|打开|恢复使用|恢复正常|重新启用|取消冻结|unfreeze", re.I
)
_FREEZE_WORDS = re.compile(r"冻|锁|暂停|停用|先停|停一下|停掉|止付|封|freeze|lock", re.I)
_REPORT_WORDS = re.compile(r"挂失|挂矢|补卡|补办|补一张|换新卡|作废|注销这张|lost report", re.I)
_LOSS_EVENT_WORDS = re.compile(
    r"丢|掉了|遗失|不见|找不到|找不着|没了|落在|偷|抢|被盗|盗了|被扒|划开|lost|stolen", re.I
)
_THEFT_WORDS = re.compile(r"偷|抢|被盗|盗了|扒手|被扒|划开|划破|stolen", re.I)
# "挂失是不是就不能用了 那算了": a mention the customer turns away from.
_NEGATION_BEFORE = re.compile(r"(?:不|别|不要|不用|不想|先不|没必要)\s*$")
_CLAUSE_SPLIT = re.compile(r"[，,。.!！?？;；\s]+|还是|算了|那就|改成|换成")


@dataclass(frozen=True)
class CardRequest:
    """What a message about a card asks for.

    ``operation`` is set only when the message is unambiguous; ``last`` is the
    operation named last (a change of mind: "那算了 还是先冻结吧").
    """

    operation: str | None
    last: str | None
    stolen: bool
    loss_event: bool


def _mentions(text: str) -> list[tuple[int, str]]:
    """(position, operation) of every operation word not negated right before it."""
    found: list[tuple[int, str]] = []
    for pattern, operation in ((_UNFREEZE_WORDS, UNFREEZE), (_REPORT_WORDS, LOST)):
        for match in pattern.finditer(text):
            if not _NEGATION_BEFORE.search(text[: match.start()]):
                found.append((match.start(), operation))
    unfreeze_spans = [m.span() for m in _UNFREEZE_WORDS.finditer(text)]
    for match in _FREEZE_WORDS.finditer(text):
        if any(s <= match.start() < e for s, e in unfreeze_spans):
            continue
        if not _NEGATION_BEFORE.search(text[: match.start()]):
            found.append((match.start(), FREEZE))
    return sorted(found)


_NEGATED_OPERATION = re.compile(r"(?:不用|不要|不需要|没必要|别|先不)(?:冻结|冻|挂失|解冻|停用|停)")
_UNSURE = re.compile(
    r"是不是|要不要|需不需要|该不该|用不用|得不得|挂失吗|挂失么|挂失嘛|好像|可能|也许|不确定|不知道|说不定"
)


def card_request(text: str | None) -> CardRequest:
    """Reads a card request. Freeze words with a loss (丢/偷/抢) or 挂失 in the same
    message are ambiguous (operation None): the bot asks 临时冻结 or 挂失."""
    # "不用冻 我要申诉": an operation ruled out is not asked for.
    cleaned = _NEGATED_OPERATION.sub("", _clean(text))
    mentions = _mentions(cleaned)
    named = {operation for _, operation in mentions}
    last_clause = next(
        (
            clause
            for clause in reversed(_CLAUSE_SPLIT.split(cleaned))
            if _mentions(clause)
        ),
        "",
    )
    clause_ops = [op for _, op in _mentions(last_clause)]
    last = clause_ops[-1] if clause_ops else None
    loss_event = bool(_LOSS_EVENT_WORDS.search(cleaned))
    stolen = bool(_THEFT_WORDS.search(cleaned))
    operation: str | None = None
    if UNFREEZE in named and LOST not in named and not loss_event:
        operation = UNFREEZE  # "是不是被冻了 帮我解开": 冻 describes the card, 解开 is asked
    elif named == {LOST} and not _UNSURE.search(cleaned):
        operation = LOST  # "是不是要挂失啊", "好像丢了": asked, not taken at its word
    elif named == {FREEZE} and not loss_event:
        operation = FREEZE
    return CardRequest(operation=operation, last=last, stolen=stolen, loss_event=loss_event)


# ---------------------------------------------------------------------------
# picking an option of a multiple-choice question

_LETTERS = "ABCDEFGH"
_CN_ORDINALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6}


_CN_NUMBER = "一二两三四五六七八九十百千"
_NUMBER_RE = re.compile(rf"(百分之)?(\d+(?:\.\d+)?|[{_CN_NUMBER}]+)(多|几)?(万)?")


def _cn_value(run: str) -> float | None:
    import cn2an

    try:
        return float(cn2an.cn2an(run, "smart"))
    except (ValueError, KeyError, IndexError):
        return None


def _numbers(text: str) -> list[int]:
    """Numbers in ``text`` as a person means them: "两年" -> [2], "30岁到50岁" -> [30, 50],
    "二十多万" -> [200000], "10万-30万元" -> [100000, 300000], "百分之十" -> [10]."""
    values: list[int] = []
    for match in _NUMBER_RE.finditer(text):
        raw = match.group(2)
        value = float(raw) if raw[0].isdigit() else _cn_value(raw)
        if value is None:
            continue
        if match.group(4):
            value *= 10000
        values.append(int(value))
    return values


def match_option(text: str | None, options: Sequence[tuple[str, str]]) -> str | None:
    """The id of the option ``text`` picks: a letter ("b", "选B"), a number ("2",
    "第二个"), or free words that fit one option best ("30岁到50岁" -> "31-50岁").
    ``options`` are (id, text) pairs in order. None when nothing fits."""
    cleaned = _clean(text)
    if not cleaned or not options:
        return None
    ids = [option_id for option_id, _ in options]
    letter = re.fullmatch(r"(?:选|选项|答案|我选)?\s*([A-Ha-h])\s*(?:吧|项|选项|。|\.)?", cleaned)
    if letter and letter.group(1).upper() in ids:
        return letter.group(1).upper()
    number = re.fullmatch(r"(?:选|第)?\s*(\d|[一二两三四五六])\s*(?:个|项|条|吧|。|\.)?", cleaned)
    if number:
        raw = number.group(1)
        index = int(raw) if raw.isdigit() else _CN_ORDINALS[raw]
        if 1 <= index <= len(options):
            return ids[index - 1]
        return None  # "9" for four options: a slip, not an age
    # A whole option text typed or pasted ("B. 31-50岁" from a button title).
    for option_id, option_text in options:
        if _clean(option_text) and _clean(option_text) in cleaned:
            return option_id
    return _best_fit(cleaned, options)


_NONE_SAID = re.compile(r"从来没|从没|没有|没买过|没做过|没投过|没碰过|不懂|没经验|无经验|零")
_NONE_OPTION = re.compile(r"没有|无|从未|不了解|不懂")
_NO_LOSS_SAID = re.compile(r"保本|不能亏|不能少|不想亏|不能赔|不亏|一分都不|不能承受|安全第一|稳妥")
_NO_LOSS_OPTION = re.compile(r"保本|不能承受|资金安全")


def _best_fit(text: str, options: Sequence[tuple[str, str]]) -> str | None:
    """"None at all" picks the option that says so; then numbers decide (age or
    amount ranges), then shared characters."""
    for said_words, option_words in ((_NO_LOSS_SAID, _NO_LOSS_OPTION), (_NONE_SAID, _NONE_OPTION)):
        if said_words.search(text) and not re.search(r"\d", text):
            fitting = [oid for oid, option in options if option_words.search(_clean(option))]
            if len(fitting) == 1:
                return fitting[0]
    said = _numbers(text)
    scores: list[tuple[float, str]] = []
    for option_id, option_text in options:
        option = _clean(option_text)
        score = 0.0
        bounds = _numbers(option)
        if said and bounds:
            low, high = min(bounds), max(bounds)
            if "以下" in option or "以内" in option or "不到" in option or "少于" in option:
                low = 0
            if "以上" in option or "超过" in option or "多于" in option:
                high = 10**9
            inside = sum(1 for n in said if low <= n <= high)
            near = sum(1 for n in said if abs(n - low) <= 1 or abs(n - high) <= 1)
            score += 2.0 * inside + 0.5 * near
        shared = set(text) & set(option) - set("的了是我在有和或及与，,。.、 ")
        score += 0.1 * len(shared)
        scores.append((score, option_id))
    scores.sort(reverse=True)
    if not scores or scores[0][0] < 0.3:
        return None
    if len(scores) > 1 and scores[0][0] - scores[1][0] < 0.15:
        return None  # two options fit as well: ask again rather than guess
    return scores[0][1]


# ---------------------------------------------------------------------------
# a person's name typed for a payee ("收款人叫陈明", "陈明 6222...")

# Who a payee is to the customer: never a name, and no part of one.
_RELATIONS = (
    r"表弟|表哥|表姐|表妹|堂弟|堂哥|堂姐|堂妹|老同学|同事|同学|朋友|房东|老板|师傅|"
    r"老婆|老公|媳妇|妈妈|爸爸|儿子|女儿|哥哥|姐姐|弟弟|妹妹"
)
_NAME_NOISE = re.compile(
    r"收款人|收款方|户名|名字|姓名|对方|账户|帐户|账号|帐号|卡号|银行卡|他行|本行|转账|转帐|"
    r"转给|转到|打给|汇给|打到|帮我|一下|我要|我想|麻烦|请|给|转|到|叫|是|的|为|"
    r"不对|错了|应该|改成|换成|^那|那(?=[呢吧]|$)|"
    # Who the payee is to the customer ("我表弟王强"), not part of the name.
    + _RELATIONS + "|"
    # 钱 only as the money ("钱给他吧"), not the surname of 钱芳.
    r"他|她|它|我|钱(?=[吧呢啊了吗转给打汇]|$)|吧|呢|啊|哦|嗯|了|和|跟|"
    r"[0-9\s，,。.!！?？:：、\-]"
)
# Amounts go first, so that 三 in 张三 survives while 两万 / 3千元 do not.
_AMOUNT_NOISE = re.compile(r"[0-9零〇一二三四五六七八九两十百千万亿.]+(?:元|块|万|千|百)+|[0-9]+")
_NOT_NAMES = frozenset(
    {"确认", "取消", "好的", "不对", "算了", "不用", "可以", "没有", "不知道", "知道",
     "不是", "对的", "是的", "行吧", "稍等", "等等", "新的", "新人", "朋友", "家人",
     "老婆", "老公", "妈妈", "爸爸", "儿子", "女儿", "同事", "自己"}
)


_UNSURE_OF_NAME = re.compile(r"不知道|不清楚|不确定|得问|问问|问一下|好像|忘了|记不得|记不清|姓[\u4e00-\u9fff]$")
# Words that are never a person's name, however they are written.
_NOT_NAME_WORDS = re.compile(r"审核|免得|手续|转账|金额|多少|不用|不要|确认|取消|这个|那个|卡|" + _RELATIONS)


# Common surnames (together well over nine in ten people): a name starts with one, so
# that "不在里面" or "只看出去" is never taken for a person.
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章"
    "鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉"
    "骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦"
    "戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄"
    "丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼"
    "盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云"
    "容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉"
    "银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由钮"
)
_COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "慕容", "令狐", "皇甫", "尉迟",
                      "公孙", "长孙", "宇文", "夏侯", "端木", "独孤", "南宫", "西门", "司徒")


def _has_surname(text: str) -> bool:
    """Starts with a surname (after 小/老/阿, as in 小李, 老王)."""
    if text[:2] in _COMPOUND_SURNAMES:
        return True
    if text[0] in "小老阿" and len(text) >= 2 and text[1] in _SURNAMES:
        return True
    return text[0] in _SURNAMES


def plausible_name(value: str | None) -> bool:
    """A 2-4 character Chinese name, not a word that describes someone or something."""
    text = (value or "").strip()
    return (
        bool(re.fullmatch(r"[\u4e00-\u9fff·]{2,4}", text))
        and _has_surname(text)
        and text not in _NOT_NAMES
        and not _NOT_NAME_WORDS.search(text)
    )


_LABELLED_NAME = re.compile(
    r"(?:户名|收款人|收款方|名字|姓名|叫)(?:是|为|叫)?[:：\s]*([\u4e00-\u9fff·]{2,4}?)(?=[\s，,。；;!！]|$)"
)


_SELF_CORRECTION = re.compile(r"(?:哦|噢)?不对|说错了|搞错了|打错了|错了|应该是|改成|改为|(?:哦|噢)不是?|不是不是")


def correction_end(text: str | None) -> int | None:
    """Where the customer's last own correction ends in ``text`` (None without one)."""
    ends = [match.end() for match in _SELF_CORRECTION.finditer(text or "")]
    return ends[-1] if ends else None


def after_correction(text: str | None) -> str | None:
    """"转五百给王芳 哦不对 是给李娜": what follows the customer's own correction, which
    overrides what came before it (None without one)."""
    cleaned = _clean(text)
    end = correction_end(cleaned)
    return cleaned[end:].strip() if end is not None else None


_RELATION_NAME = re.compile(
    r"(?:" + _RELATIONS + r")(?:叫|是)?([\u4e00-\u9fff·]{2,4}?)(?=的|转|打|汇|[\s，,。；;!！0-9]|$)"
)


def person_name(text: str | None) -> str | None:
    """A 2-4 character Chinese name left once amounts, account numbers and the words
    around them are taken out, else None."""
    cleaned = _clean(text)
    if re.search(r"[吗么啥什怎哪谁]", cleaned) or _UNSURE_OF_NAME.search(cleaned):
        return None  # "名字我得问问 好像姓陈": no name given yet
    for pattern in (_LABELLED_NAME, _RELATION_NAME):
        labelled = pattern.search(cleaned)
        if labelled and plausible_name(labelled.group(1)):
            # "户名赵敏 装修尾款", "是我朋友刘洋的": the rest of the message is not the name.
            return labelled.group(1)
    rest = _NAME_NOISE.sub("", _AMOUNT_NOISE.sub("", cleaned))
    if re.search(r"这|那个|那张|哪|某", rest) or not plausible_name(rest):
        return None  # "转到这个卡", "免得审核": no name was said
    return rest


# ---------------------------------------------------------------------------
# elliptical follow-ups ("港币呢", "那饿了么呢")

_FOLLOW_UP = re.compile(r"(?:呢|的呢|呢\?|呢？|的呢\?|呢吗)\s*$|^\s*(?:那|那么|还有|再|也)")


def is_follow_up(text: str | None) -> bool:
    """A short message that changes one thing of the previous question."""
    cleaned = _clean(text)
    return bool(cleaned) and len(cleaned) <= 14 and bool(_FOLLOW_UP.search(cleaned))


# What customers call the kinds of a statement -> the bank's kind filter.
_KIND_WORDS = (
    (re.compile(r"转出|转出去|转走|转给"), "转出"),
    (re.compile(r"转入|转进|别人转"), "转入"),
    (re.compile(r"收入|进账|入账|到账|工资|收到"), "收入"),
    (re.compile(r"缴费|水电|电费|水费|燃气|煤气|话费|交了多少"), "缴费"),
    (re.compile(r"转账|汇款"), "转账"),
    (re.compile(r"消费|购物|刷卡|买东西|买了"), "消费"),
    (re.compile(r"支出|花|开销|开支|用了|出账"), "支出"),
)


_BOTH_WAYS = re.compile(r"(?:收入|进账).{0,4}(?:和|跟|与|及|、).{0,4}(?:支出|花|消费)|(?:支出|消费|花).{0,4}(?:和|跟|与|及|、).{0,4}(?:收入|进账)|收支")


def both_ways(text: str | None) -> bool:
    """"收入和支出各多少": a statement of money in and out."""
    return bool(_BOTH_WAYS.search(_clean(text)))


def statement_kind(value: str | None) -> str | None:
    """转出 / 转入 / 收入 / 缴费 / 转账 / 消费 / 支出 for what the customer said, else
    None (nothing said, or both ways: "收入和支出各多少")."""
    cleaned = _clean(value)
    if not cleaned or _BOTH_WAYS.search(cleaned):
        return None
    # "就消费 不算转账还款那些": the kinds ruled out are not the kind asked.
    cleaned = _KINDS_RULED_OUT.sub("", cleaned)
    return next((kind for pattern, kind in _KIND_WORDS if pattern.search(cleaned)), None)


_KINDS_RULED_OUT = re.compile(r"(?:不算|不要|不含|不包括|除了|除去|去掉|排除|不看)[^，,。；;\s]{0,12}")
_REFINES = re.compile(r"^\s*(?:就|只|光|单|仅|那|那么)|呢\s*[?？]?\s*$|只看|只要")


def statement_refinement(text: str | None) -> bool:
    """"就消费呢 不算转账还款那些": a short message narrowing the statement just given to
    one kind of item."""
    cleaned = _clean(text)
    return len(cleaned) <= 24 and bool(_REFINES.search(cleaned)) and statement_kind(cleaned) is not None


# ---------------------------------------------------------------------------
# foreign exchange: which way, spot or cash, which currency the amount is in

BUY_FOREIGN = "buy"  # the customer pays CNY and gets foreign currency (bank sells)
SELL_FOREIGN = "sell"  # the customer gets CNY for foreign currency (bank buys)

# Explicit verbs decide first ("我想买1000美元 要多少人民币" buys), then question forms.
_CNY = CNY_PATTERN
_SELL_VERBS = re.compile(
    r"卖|结汇|(?:换回|换成|兑成|兑换成|换)" + _CNY + r"|换回来|换回去|兑回来|换回国内", re.IGNORECASE
)
_BUY_VERBS = re.compile(r"买|购汇|购买|取.{0,6}(?:现钞|现金)")
_SELL_QUESTIONS = re.compile(
    r"(?:能换|可以换|是|等于)多少" + _CNY + r"|能兑多少|合多少|折合|值多少", re.IGNORECASE
)
_BUY_QUESTIONS = re.compile(r"要多少|需要多少|得多少|花多少|多少钱|用多少")
_CASH_WORDS = re.compile(r"(?<!不是)(?<!不要)(?<!不用)(?:现钞|现金|纸币|钞票|cash)", re.IGNORECASE)
_NOT_THIS_WAY = re.compile(r"(?:不是|不要|不想|不|别)(?:要|想)?(?:卖|买|结汇|购汇)")
_CNY_AFTER = re.compile(r"^\s*(?:元|块|圆|" + _CNY + ")", re.IGNORECASE)


@dataclass(frozen=True)
class FxRequest:
    direction: str | None  # BUY_FOREIGN, SELL_FOREIGN, or None (not said)
    cash: bool | None  # True 现钞, False 现汇 said outright, None not said
    amount_in_cny: bool  # the amount is of CNY ("1万块能换多少美元")


def fx_request(text: str | None, amount_end: int | None = None) -> FxRequest:
    """Reads an exchange question. ``amount_end``: where the amount entity ends in
    ``text`` (what follows it says which currency the amount is in)."""
    cleaned = _clean(text)
    amount_in_cny = False
    if amount_end is not None and 0 <= amount_end <= len(cleaned):
        amount_in_cny = bool(_CNY_AFTER.match(cleaned[amount_end:]))
    direction: str | None = None
    # "不是卖 是买欧元": a way ruled out is not the way asked.
    cleaned = _NOT_THIS_WAY.sub("", cleaned)
    if amount_in_cny or _BUY_VERBS.search(cleaned):
        direction = BUY_FOREIGN
    elif _SELL_VERBS.search(cleaned) or _SELL_QUESTIONS.search(cleaned):
        direction = SELL_FOREIGN
    elif _BUY_QUESTIONS.search(cleaned):
        direction = BUY_FOREIGN
    cash: bool | None = None
    if _CASH_WORDS.search(cleaned):
        cash = True
    elif "现汇" in cleaned:
        cash = False
    return FxRequest(direction=direction, cash=cash, amount_in_cny=amount_in_cny)


_QUESTION = re.compile(
    r"多久|多长时间|怎么|为什么|为啥|什么时候|几天|啥意思|什么意思|吗\s*[？?]?$|呢\s*[？?]?$|[？?]\s*$|"
    # "解冻要不要手续费", "冻了还用还款不": asking by A-not-A or a final 不.
    r"要不要|能不能|会不会|是不是|有没有|可不可以|收不收|用不用|还不还|算不算|多不多|远不远|快不快|"
    r"久不久|行不行|来不来得及|来得及吗|在不在|还在吗|有没有了|丢不丢|没了吗|"
    r"(?:用|能|要|会|收|行)[^，,。\s]{0,6}不\s*[？?]?$"
)


def is_question(text: str | None) -> bool:
    """A question rather than an answer ("这个评估做完多久有效啊")."""
    return bool(_QUESTION.search(_clean(text)))


# ---------------------------------------------------------------------------
# a typed confirmation ("确认挂失", "好的 转吧") or refusal ("先不挂了")

_NO = re.compile(r"不要|不用|取消|算了|先不|不转|不挂|不冻|不办|别|等等|等一下|不对|不行|no\b", re.I)
_YES = re.compile(
    r"确认|确定|没问题|可以|好的|是的|对的|行|办吧|转吧|挂失吧|冻结吧|解冻吧|挂吧|冻吧|ok|okay|yes|嗯",
    re.I,
)
_BARE_YES = re.compile(
    r"^\s*(?:是|好|对|嗯+|恩|确|行|冻|挂|解|冻吧|挂吧|yes|y)(?:[\s,，。！!.~～]|的|啊|吧|呀|嘞|谢谢|$)", re.I
)


def accepts_offer(text: str | None) -> bool:
    """A short yes to a question the bot just asked ("要", "嗯 也解了吧"), never a no."""
    cleaned = _clean(text)
    if not cleaned or len(cleaned) > 10 or _NO.search(cleaned) or is_question(cleaned):
        return False
    return confirmation(cleaned) is True or bool(
        re.fullmatch(r"(?:嗯+|恩|好的?|行|对)?[\s,，]*(?:要|需要|也要|都要)(?:的|吧|啊)?[\s。!！]*", cleaned)
        or re.fullmatch(r"(?:嗯+|恩|好的?|行)?[\s,，]*(?:也|都|一起)[\u4e00-\u9fff]{1,3}(?:吧|呗)[\s。!！]*", cleaned)
    )


# A yes that commits: an explicit word, or a bare yes opening the reply. "哦 钱还在就行"
# (relief about an answer) and "卡里钱可以取吗" are not one.
_FIRM_YES = re.compile(
    r"确认|确定|没问题|是的|对的|好的|办吧|转吧|挂失吧|冻结吧|解冻吧|挂吧|冻吧|^(?:可以|行)(?:的|吧|啊)?"
    r"(?:[\s,，。！!]|$)|ok|okay|yes",
    re.I,
)


def firm_confirmation(text: str | None) -> bool:
    """A confirmation that an irreversible step may run on (a loss report, a transfer)."""
    cleaned = _clean(text)
    if confirmation(cleaned) is not True or is_question(cleaned):
        return False
    return bool(_FIRM_YES.search(cleaned) or _BARE_YES.match(cleaned))


def confirmation(text: str | None) -> bool | None:
    """True for a confirmation, False for a refusal, None when the text is neither."""
    cleaned = _clean(text)
    if not cleaned:
        return None
    if _NO.search(cleaned):
        return False
    if _YES.search(cleaned) or _BARE_YES.match(cleaned):
        return True
    return None


# Plain and financial (大写) numerals, and 幺 as said for 1 over the phone.
_CN_DIGIT_VALUES = str.maketrans("零〇一二三四五六七八九幺两壹贰叁肆伍陆柒捌玖", "0012345678912123456789")


def spelled_digits(text: str | None) -> str:
    """Digits spelled in Chinese turned into Arabic ones ("一三八零零" -> "13800")."""
    return _clean(text).translate(_CN_DIGIT_VALUES)


# ---------------------------------------------------------------------------
# what freezing or reporting a card does to the money ("锁了以后工资还能打进来吗")

_CARD_STOPPED = r"(?:挂失|冻结|冻上|冻了|冻住|锁了|锁卡|锁住|停卡|停用|止付)"
_MONEY_EFFECT = r"(?:钱|余额|工资|打进|转进|转入|收款|到账|入账|还能|会不会|能不能|影响|扣款|自动扣|账单|还款|要还|用还|还在)"
_CARD_EFFECT = re.compile(
    _CARD_STOPPED + r".{0,12}" + _MONEY_EFFECT + "|" + r"(?:钱|余额|工资).{0,8}" + _CARD_STOPPED
)


def card_effect_question(text: str | None) -> bool:
    """A question about what a frozen or reported card still does (money in, money kept)."""
    cleaned = _clean(text)
    return is_question(cleaned) and bool(_CARD_EFFECT.search(cleaned)) or bool(
        re.search(_CARD_STOPPED + r".{0,12}(?:还能|会不会|能不能|影响)", cleaned)
    )
