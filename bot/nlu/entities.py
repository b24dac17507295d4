"""Rule-based extraction of amounts, card tails, phone numbers, one-time codes and
full account numbers.

spaCy's blank Chinese pipeline (character segmenter, no download) tokenises the
text; ``Matcher`` patterns find numeral runs and ``PhraseMatcher`` patterns the
context words around them (currency markers, 尾号, 验证码 ...). cn2an converts
Chinese and mixed numerals. The component runs after DIET, which handles the
learnt entities (payee, account_type, time_range, ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.currency import CODES as CURRENCY_CODES
from bot.nlu.normalizer import source_fingerprint

AMOUNT, CARD_LAST4, PHONE, OTP_CODE = "amount", "card_last4", "phone", "otp_code"
ACCOUNT_NUMBER = "account_number"
ALL_DIMENSIONS = (AMOUNT, CARD_LAST4, PHONE, OTP_CODE, ACCOUNT_NUMBER)
TIME_RANGE = "time_range"

CN_DIGITS = "零〇一二三四五六七八九两壹贰叁肆伍陆柒捌玖十拾"
CN_MAGNITUDES = "十拾百佰千仟万亿"
_NUM_CHAR = r"^[0-9" + CN_DIGITS + CN_MAGNITUDES + r".,]$"
_MULTIPLIERS = {"k": 1000, "K": 1000, "w": 10000, "W": 10000}

# Context phrases (matched on lower-cased characters).
CARD_CONTEXT = [
    "尾号",
    "卡尾号",
    "尾数",
    "尾数是",
    "后四位",
    "后4位",
    "末四位",
    "末4位",
    "最后四位",
    "最后4位",
    "卡号后四位",
    "卡号末四位",
    "后四位数",
    "末尾",
]
OTP_CONTEXT = [
    "验证码",
    "校验码",
    "动态码",
    "短信码",
    "动态密码",
    "code",
    "otp",
    "验证号",
]
CURRENCY_BEFORE = ["¥", "$", *(name for name in CURRENCY_CODES if len(name) > 1)]
CURRENCY_AFTER = ["元", "块", "圆", "毛", "角", *CURRENCY_CODES]
# A numeral directly followed by one of these counts something else (time, items).
NOT_AMOUNT_AFTER = [
    "月",
    "天",
    "日",
    "号",
    "周",
    "年",
    "个",
    "张",
    "次",
    "笔",
    "位",
    "点",
    "分",
    "秒",
    "岁",
    "楼",
    "期",
    "条",
    "倍",
    "%",
    "折",
    "星期",
    "小时",
    "遍",
    "份",
    "人",
    "家",
    "种",
    "项",
    "礼拜",
    "季度",
    "多月",
    "多天",
    "多年",
    "下",
]
NOT_AMOUNT_BEFORE = ["第", "初"]
# Place names with numerals in them (五角场 is not 五角 = 0.5 元); never amounts.
PLACE_NAMES = [
    "五角场",
    "八佰伴",
    "七宝",
    "九亭",
    "三林",
    "十六铺",
    "四平路",
    "四川北路",
    "三门路",
    "一大会址",
    "二号线",
    "一号线",
]
WEEKDAY_BEFORE = ["周", "星期", "礼拜"]
CARD_TAIL_AFTER = ["的卡", "那张", "的那张", "这张", "的储蓄卡", "的信用卡", "的借记卡"]
CHAT_SLANG = frozenset(["88", "886"])  # 拜拜 / 拜拜了 in numbers
FILLERS = frozenset(["是", "为", ":", "：", "=", "的"])

PHONE_RE = re.compile(r"^(?:86)?(1[3-9]\d{9})$")
ARABIC_RE = re.compile(r"^\d+(?:\.\d+)?$")
GROUPED_RE = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
ELLIPSIS_RE = re.compile(r"^(.*?)([十百千万])([一二三四五六七八九两])$")
_UNIT_VALUE = {"十": 10, "百": 100, "千": 1000, "万": 10000}
CENT = Decimal("0.01")
_RANGE_GAP_RE = re.compile(r"^[0-9零〇一二三四五六七八九十两半]+个?$")
# 20万两年 / 5万一年: an amount run into the count of a following period (两年).
_AMOUNT_THEN_COUNT_RE = re.compile(r"^(.*[0-9万千亿])([一二三四五六七八九两])$")


def format_amount(value: Decimal) -> str:
    """Money string: integers without decimals, otherwise exactly two decimals."""
    value = value.quantize(CENT, rounding=ROUND_HALF_UP)
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value:.2f}"


def _cn2an(text: str) -> Optional[Decimal]:
    """cn2an in smart mode (Chinese, Arabic or mixed numerals), None if invalid."""
    import cn2an

    try:
        return Decimal(str(cn2an.cn2an(text, "smart")))
    except (ValueError, KeyError, IndexError, InvalidOperation):
        return None


def parse_number(text: str) -> Optional[Decimal]:
    """Parses an Arabic, Chinese or mixed numeral such as 3,500.50, 两千三 or 1.5万."""
    text = text.strip()
    if not text:
        return None
    if GROUPED_RE.match(text):
        text = text.replace(",", "")
    if ARABIC_RE.match(text):
        return Decimal(text)
    value = _cn2an(text)
    if value is not None:
        return value
    # Colloquial ellipsis (两千三 = 2300): the last digit counts a tenth of the unit.
    match = ELLIPSIS_RE.match(text)
    if match and match.group(1):
        head = _cn2an(match.group(1) + match.group(2))
        digit = _cn2an(match.group(3))
        if head is not None and digit is not None:
            return head + digit * _UNIT_VALUE[match.group(2)] / 10
    return None


@dataclass
class _Run:
    """A run of numeral characters: token indices and character offsets."""

    start: int
    end: int
    char_start: int
    char_end: int
    text: str

    @property
    def is_arabic(self) -> bool:
        return bool(ARABIC_RE.match(self.text.replace(",", "")))

    @property
    def digits(self) -> str:
        return self.text if self.text.isdigit() else ""


class NumeralAnalyzer:
    """Finds amount, card_last4, phone, otp_code and account_number mentions in
    (normalised) text."""

    def __init__(self) -> None:
        """The spaCy pipeline is built lazily on first use."""
        self._nlp: Any = None  # spaCy pipeline, matchers: built on first use
        self._runs: Any = None
        self._phrases: Any = None

    def _setup(self) -> None:
        import spacy
        from spacy.matcher import Matcher, PhraseMatcher

        nlp = spacy.blank("zh")  # character segmenter, needs no download
        runs = Matcher(nlp.vocab)
        num = {"TEXT": {"REGEX": _NUM_CHAR}}
        runs.add(
            "NUM",
            [[{**num, "SPACY": False, "OP": "*"}, num]],
            greedy="LONGEST",
        )
        phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        for label, words in (
            ("CARD", CARD_CONTEXT),
            ("OTP", OTP_CONTEXT),
            ("CUR_BEFORE", CURRENCY_BEFORE),
            ("CUR_AFTER", CURRENCY_AFTER),
            ("NOT_AFTER", NOT_AMOUNT_AFTER),
            ("NOT_BEFORE", NOT_AMOUNT_BEFORE),
            ("WEEKDAY", WEEKDAY_BEFORE),
            ("TAIL_AFTER", CARD_TAIL_AFTER),
            ("PLACE", PLACE_NAMES),
        ):
            phrases.add(label, [nlp.make_doc(w) for w in words])
        self._nlp, self._runs, self._phrases = nlp, runs, phrases

    def analyze(
        self, text: str, dimensions: Sequence[str] = ALL_DIMENSIONS
    ) -> list[dict[str, Any]]:
        """Returns Rasa-style entity dicts (entity, start, end, value)."""
        if not text or not any(ch.isdigit() or ch in CN_DIGITS for ch in text):
            return []
        if self._nlp is None:
            self._setup()
        doc = self._nlp.make_doc(text)
        vocab = self._nlp.vocab.strings
        ends: dict[str, dict[int, int]] = {}  # label -> end token -> start token
        starts: dict[str, dict[int, int]] = {}  # label -> start token -> end token
        context_tokens: set[int] = set()
        for match_id, s, e in self._phrases(doc):
            label = vocab[match_id]
            ends.setdefault(label, {})[e] = s
            starts.setdefault(label, {})[s] = e
            if label in ("CARD", "OTP", "PLACE"):
                context_tokens.update(range(s, e))

        runs = []
        not_after = starts.get("NOT_AFTER", {})
        for _, run_start, run_end in sorted(self._runs(doc), key=lambda m: m[1]):
            for s, e in self._pieces(doc, run_start, run_end):
                while s < e and doc[s].text in ".,":
                    s += 1
                while e > s and doc[e - 1].text in ".,":
                    e -= 1
                if s == e or any(i in context_tokens for i in range(s, e)):
                    continue
                if e in not_after and e - s > 1:
                    split = _AMOUNT_THEN_COUNT_RE.match(doc[s:e].text)
                    if split:  # 20万两年: the amount is 20万, 两年 a period
                        e -= len(split.group(2))
                span = doc[s:e]
                if not any(t.like_num or t.is_digit or t.text in CN_DIGITS for t in span):
                    continue  # e.g. 千万 (= "by all means"): magnitudes only
                runs.append(_Run(s, e, span.start_char, span.end_char, span.text))

        found: list[dict[str, Any]] = []
        used: set = set()
        for group in self._digit_groups(doc, runs):
            account = self._account_number(group)
            if account:
                used.update(id(r) for r in group)
                found.append(account)
                continue
            phone = self._find_phone(doc, group)
            if phone:
                entity, members = phone
                used.update(id(r) for r in members)
                found.append(entity)
            elif (
                len(group) > 1
                and all(len(r.digits) <= 4 for r in group)
                and sum(len(r.digits) for r in group) >= 7
            ):
                used.update(id(r) for r in group)  # a card number or a date
        consumed = -1
        for run in runs:
            if id(run) in used or run.char_start < consumed:
                continue
            classified = self._classify(doc, run, ends, starts)
            if classified:
                found.append(classified)
                consumed = classified["end"]
        found.sort(key=lambda e: e["start"])
        return [e for e in found if e["entity"] in dimensions]

    @staticmethod
    def _pieces(doc, start: int, end: int) -> list[tuple[int, int]]:
        """Splits a numeral run at a , or . that is not between two Arabic digits
        (五百,一会儿 is 五百 then 一; 3,500 and 1.5 stay whole)."""
        pieces, left = [], start
        for i in range(start + 1, end - 1):
            if doc[i].text in ".," and not (doc[i - 1].is_digit and doc[i + 1].is_digit):
                pieces.append((left, i))
                left = i + 1
        pieces.append((left, end))
        return pieces

    @staticmethod
    def _digit_groups(doc, runs: list[_Run]) -> list[list[_Run]]:
        """Chains Arabic digit runs separated only by a space or a dash."""
        groups: list[list[_Run]] = []
        for run in runs:
            if not run.digits:
                continue
            if groups:
                prev = groups[-1][-1]
                gap = doc[prev.end : run.start]
                joined = prev.end == run.start or (len(gap) == 1 and gap[0].text in "-")
                if joined:
                    groups[-1].append(run)
                    continue
            groups.append([run])
        return groups

    @staticmethod
    def _account_number(group: list[_Run]) -> Optional[dict[str, Any]]:
        """A full 16-19 digit account or card number, typed whole or in groups."""
        digits = "".join(r.digits for r in group)
        if not 16 <= len(digits) <= 19:
            return None
        return {
            "entity": ACCOUNT_NUMBER,
            "start": group[0].char_start,
            "end": group[-1].char_end,
            "value": digits,
        }

    @classmethod
    def _find_phone(cls, doc, group: list[_Run]) -> Optional[tuple[dict[str, Any], list[_Run]]]:
        """The first sub-chain of ``group`` that spells a mobile number."""
        for i in range(len(group)):
            for j in range(i + 1, len(group) + 1):
                entity = cls._phone(doc, group[i:j])
                if entity:
                    return entity, group[i:j]
        return None

    @staticmethod
    def _phone(doc, group: list[_Run]) -> Optional[dict[str, Any]]:
        """A mainland mobile number, possibly spaced, dashed or with +86."""
        digits = "".join(r.digits for r in group)
        match = PHONE_RE.match(digits)
        if not match:
            return None
        start = group[0]
        before = doc[start.start - 1].text if start.start > 0 else ""
        if len(digits) == 11 and before == "+":
            return None  # +1 3800138000 ... is a foreign number
        char_start = start.char_start
        if len(digits) == 13 and before == "+":
            char_start -= 1
        return {
            "entity": PHONE,
            "start": char_start,
            "end": group[-1].char_end,
            "value": match.group(1),
        }

    @staticmethod
    def _context_before(doc, run: _Run, ends: dict[int, int]) -> bool:
        """A context phrase ends right before the run, maybe with 是/为/: between."""
        i, skipped = run.start, 0
        while True:
            if i in ends:
                return True
            if i == 0 or skipped >= 2 or doc[i - 1].text not in FILLERS:
                return False
            i -= 1
            skipped += 1

    def _classify(
        self,
        doc,
        run: _Run,
        ends: dict[str, dict[int, int]],
        starts: dict[str, dict[int, int]],
    ) -> Optional[dict[str, Any]]:
        """Decides what a single numeral run is: card tail, code, amount or nothing."""
        entity = {"start": run.char_start, "end": run.char_end}
        digits = run.digits
        if self._context_before(doc, run, ends.get("CARD", {})):
            if len(digits) == 4:
                return {**entity, "entity": CARD_LAST4, "value": digits}
            return None  # numbers after 尾号 are never amounts
        if self._context_before(doc, run, ends.get("OTP", {})):
            if 4 <= len(digits) <= 8:
                return {**entity, "entity": OTP_CODE, "value": digits}
            return None

        nxt = run.end
        multiplier = 1
        if nxt < len(doc) and doc[nxt].text in _MULTIPLIERS and run.is_arabic:
            after = doc[nxt + 1] if nxt + 1 < len(doc) else None
            if after is None or not after.is_alpha or not after.is_ascii:
                multiplier = _MULTIPLIERS[doc[nxt].text]
                entity["end"] = doc[nxt].idx + 1
                nxt += 1
        currency = run.start in ends.get("CUR_BEFORE", {}) or nxt in starts.get("CUR_AFTER", {})
        if not currency and multiplier == 1:
            if self._after_code_letter(doc, run):
                return None  # risk levels C3 / R2, queue numbers A018
            if len(digits) == 6:
                return {**entity, "entity": OTP_CODE, "value": digits}
            if len(digits) >= 7:
                return None  # phone/account numbers are never amounts
            if run.start == 0 and digits in CHAT_SLANG:
                return None  # "88" / "886" open a goodbye, not a transfer
            if nxt in starts.get("NOT_AFTER", {}) or run.start in ends.get("NOT_BEFORE", {}):
                return None
            if run.end - run.start == 1 and run.start in ends.get("WEEKDAY", {}):
                return None
            if len(digits) == 4 and nxt in starts.get("TAIL_AFTER", {}):
                return {**entity, "entity": CARD_LAST4, "value": digits}
            if not run.is_arabic and not any(c in CN_MAGNITUDES for c in run.text):
                return None  # a lone 一/三 is rarely money
        if PHONE_RE.match(digits) and len(digits) == 11:
            return None
        value = parse_number(run.text)
        if value is None:
            return None
        value *= multiplier
        dime = self._dimes_after(doc, nxt)
        if dime is not None:  # 两块五 = 2.5
            value += dime[0]
            entity["end"] = dime[1]
        return {**entity, "entity": AMOUNT, "value": format_amount(value)}

    @staticmethod
    def _after_code_letter(doc, run: _Run) -> bool:
        """The run follows a single Latin letter, as in C3, R2 or A018 (not Tom500)."""
        i = run.start - 1
        if i < 0 or not (doc[i].is_ascii and doc[i].is_alpha and len(doc[i].text) == 1):
            return False
        return i == 0 or not (doc[i - 1].is_ascii and doc[i - 1].is_alpha)

    @staticmethod
    def _dimes_after(doc, i: int) -> Optional[tuple[Decimal, int]]:
        """The colloquial tenths in 两块五 / 三块5毛: (value, end char) or None."""
        if i + 1 >= len(doc) or doc[i].text != "块":
            return None
        digit = parse_number(doc[i + 1].text)
        if digit is None or not 0 < digit < 10 or doc[i + 1].text in CN_MAGNITUDES:
            return None
        if i + 2 < len(doc) and re.match(_NUM_CHAR, doc[i + 2].text):
            return None
        return digit / 10, doc[i + 1].idx + 1


def _overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("start", -1) < b.get("end", -1) and b.get("start", -1) < a.get("end", -1)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class ChineseEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Extracts amount, card_last4, phone, otp_code and account_number with normalised
    values."""

    def __init__(self, config: dict[str, Any]) -> None:
        """Keeps the config; the spaCy pipeline is created on first use."""
        self._config = config
        self._dimensions: tuple[str, ...] = tuple(config.get("dimensions") or ALL_DIMENSIONS)
        self._analyzer = NumeralAnalyzer()

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """``dimensions``: the entity types to extract (default: all of them)."""
        return {"dimensions": list(ALL_DIMENSIONS)}

    @staticmethod
    def required_packages() -> list[str]:
        """spaCy tokenises, cn2an converts numerals."""
        return ["spacy", "cn2an"]

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> Optional[str]:
        """Re-run downstream nodes when the rules change."""
        return source_fingerprint([Path(__file__), Path(__file__).with_name("currency.py")])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ChineseEntityExtractor:
        """Creates the component."""
        return cls(config)

    def extract(self, text: str) -> list[dict[str, Any]]:
        """Entities found in ``text``, tagged with this extractor's name."""
        return self.add_extractor_name(self._analyzer.analyze(text, self._dimensions))

    def process(self, messages: list[Message]) -> list[Message]:
        """Adds the extracted entities to each message.

        Entities from other extractors that overlap ours are dropped: this
        component is authoritative for numbers. time_range pieces that DIET
        split around a number (近 / 7 / 天) are joined again.
        """
        for message in messages:
            text = message.get(TEXT) or ""
            ours = self.extract(text)
            entities = message.get(ENTITIES, [])
            others = [e for e in entities if not any(_overlaps(e, o) for o in ours)]
            others = self._join_split_ranges(text, others)
            if ours or others != entities:
                message.set(ENTITIES, others + ours, add_to_output=True)
        return messages

    def _join_split_ranges(self, text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Merges two time_range entities separated only by a numeral (近7天)."""
        result: list[dict[str, Any]] = []
        for entity in entities:
            previous = result[-1] if result else None
            if (
                previous is not None
                and entity.get("entity") == previous.get("entity") == TIME_RANGE
                and "start" in entity
                and "end" in previous
                and 0 < entity["start"] - previous["end"] <= 4
                and _RANGE_GAP_RE.match(text[previous["end"] : entity["start"]])
            ):
                merged = {**previous, "end": entity["end"]}
                merged["value"] = text[merged["start"] : merged["end"]]
                self.add_processor_name(merged)
                result[-1] = merged
                continue
            result.append(entity)
        return result
