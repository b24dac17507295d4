"""The blind NLU set (tests/nlu/blind.yml) must stay blind.

It was written from the intent definitions only. These tests fail when a blind
example is close to any training (data/nlu/*.yml) or held-out
(tests/nlu/heldout.yml) example, whatever the intents: the blind set then no
longer measures how the model understands unseen customers, either because it
was written too close to the data or because a training example was added
later that close to a blind one. Rewrite the blind example (or, when the
training example was copied from the blind set, remove it from training).

Closeness is the Jaccard similarity of the character-bigram sets of the two
texts, after entity markup is removed (Rasa's YAML reader), the text is
normalised as the NLU pipeline does (bot.nlu.text.normalize_text: traditional ->
simplified, full-width -> half-width), lower-cased, and everything but letters
and digits (punctuation, spaces, emoji) is dropped. A pair at or above
THRESHOLD fails. The bigrams are indexed, so the comparison of ~1,400 blind
examples with ~4,000 others takes well under a second.

No model is needed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest

from bot.nlu.text import normalize_text

ROOT = Path(__file__).resolve().parents[2]
TRAIN_DIR = ROOT / "data" / "nlu"
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
BLIND = ROOT / "tests" / "nlu" / "blind.yml"

THRESHOLD = 0.6
MIN_PER_INTENT = 20
MIN_OUT_OF_SCOPE = 60

INTENTS = [
    # conversation and support
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "cancel",
    "help",
    "bot_challenge",
    "out_of_scope",
    "inform",
    "ask_explain",
    "human_handoff",
    "complain",
    "ticket_status",
    "report_fraud",
    "dispute_charge",
    "ask_hotline",
    "media_inquiry",
    "ask_manager",
    "lost_phone",
    "card_retained",
    # accounts and cards
    "bind_account",
    "check_balance",
    "transaction_history",
    "transfer_money",
    "report_card_lost",
    "freeze_card",
    "unfreeze_card",
    "credit_card_bill",
    # branches
    "find_branch",
    "branch_queue_status",
    "take_queue_ticket",
    "check_queue_ticket",
    "cancel_queue_ticket",
    "share_location",
    # products
    "product_inquiry",
    "recommend_product",
    "risk_assessment",
    "exchange_rate",
    "ask_mortgage",
]
FAQ_TOPICS = [
    "open_account_materials",
    "forgot_password",
    "transfer_fee",
    "atm_limit",
    "mobile_banking_download",
    "foreign_currency_exchange",
    "credit_card_application_status",
    "card_replacement",
    "working_hours_holiday",
    "deposit_insurance",
    "change_phone_number",
    "card_annual_fee",
    "large_withdrawal_appointment",
    "overseas_card_use",
    "anti_fraud",
    "wealth_redemption",
    "close_account",
    "insurance_cooling_off",
    "credit_card_apply",
    "credit_card_repayment",
    "transfer_arrival_time",
    "wealth_basics",
    "freeze_vs_loss",
    "transfer_limit",
]
EXPECTED = {*INTENTS, *(f"faq/{t}" for t in FAQ_TOPICS)}


class Example(NamedTuple):
    source: str  # file name relative to the project root
    label: str  # intent, or faq/<topic> for retrieval intents
    text: str  # as written, entity markup removed


class Match(NamedTuple):
    similarity: float
    blind: Example
    other: Example


# ---------------------------------------------------------------- similarity


def canonical(text: str) -> str:
    """The text as compared: normalised like the NLU pipeline does, lower-cased,
    only letters and digits kept (Chinese characters count as letters)."""
    return "".join(ch for ch in normalize_text(text).lower() if ch.isalnum())


@cache
def bigrams(text: str) -> frozenset[str]:
    """Character bigrams of the canonical text; a one-character text is its own
    single "bigram" so that identical short messages still match."""
    chars = canonical(text)
    if len(chars) < 2:
        return frozenset([chars]) if chars else frozenset()
    return frozenset(chars[i : i + 2] for i in range(len(chars) - 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def similarity(text_a: str, text_b: str) -> float:
    """Character-bigram Jaccard similarity of two texts."""
    return jaccard(bigrams(text_a), bigrams(text_b))


def close_pairs(
    blind: Iterable[Example], others: Iterable[Example], threshold: float = THRESHOLD
) -> list[Match]:
    """Every (blind, other) pair with similarity >= threshold, most similar first.

    An inverted index from bigram to the other examples containing it gives, for
    each blind example, the size of the intersection with every example that
    shares at least one bigram; pairs sharing none have similarity 0."""
    others = list(others)
    grams = [bigrams(o.text) for o in others]
    index: dict[str, list[int]] = defaultdict(list)
    for i, gs in enumerate(grams):
        for g in gs:
            index[g].append(i)
    found: list[Match] = []
    for b in blind:
        bg = bigrams(b.text)
        shared: Counter[int] = Counter()
        for g in bg:
            shared.update(index.get(g, ()))
        for i, inter in shared.items():
            sim = inter / (len(bg) + len(grams[i]) - inter)
            if sim >= threshold:
                found.append(Match(sim, b, others[i]))
    found.sort(key=lambda m: (-m.similarity, m.blind.text))
    return found


def describe(matches: Iterable[Match]) -> str:
    return "\n".join(
        f"{m.similarity:.2f}  blind [{m.blind.label}] {m.blind.text!r}  ~  "
        f"{m.other.source} [{m.other.label}] {m.other.text!r}"
        for m in matches
    )


# ---------------------------------------------------------------- loading


def _yaml_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml"))


def load(path: Path) -> list[Example]:
    """Examples of a Rasa NLU YAML file or folder, markup removed by Rasa's reader."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    examples = []
    for file in _yaml_files(path):
        try:
            name = str(file.relative_to(ROOT))
        except ValueError:
            name = file.name
        data = RasaYAMLReader().read(str(file))
        for message in data.intent_examples:
            label = message.get("intent_response_key") or message.get("intent")
            examples.append(Example(name, label, message.get("text")))
    return examples


@pytest.fixture(scope="module")
def blind() -> list[Example]:
    return load(BLIND)


@pytest.fixture(scope="module")
def others() -> list[Example]:
    return load(TRAIN_DIR) + load(HELDOUT)


# ---------------------------------------------------------------- the checks


def test_blind_examples_are_not_close_to_training_or_heldout(blind, others):
    assert len(others) > 0, "no training or held-out examples found"
    matches = close_pairs(blind, others)
    if matches:
        # pytrace=False: the message lists the pairs; a traceback would also dump
        # the fixtures (thousands of examples) into the report.
        pytest.fail(
            f"{len(matches)} blind/other pair(s) have bigram Jaccard >= {THRESHOLD}; "
            "rewrite the blind examples:\n" + describe(matches),
            pytrace=False,
        )


def count_problems(examples: Iterable[Example]) -> list[str]:
    counts = Counter(e.label for e in examples)
    found = [f"unexpected intent in the blind set: {label}" for label in sorted(set(counts) - EXPECTED)]
    for label in sorted(EXPECTED):
        need = MIN_OUT_OF_SCOPE if label == "out_of_scope" else MIN_PER_INTENT
        if counts[label] < need:
            found.append(f"{label}: {counts[label]} blind examples (< {need})")
    return found


def test_blind_set_covers_every_intent_and_topic(blind):
    assert count_problems(blind) == []


def test_no_duplicates_within_blind_set(blind):
    seen = Counter(canonical(e.text) for e in blind)
    assert sorted(t for t, n in seen.items() if n > 1) == []


# ---------------------------------------------------------------- the guard can fail


def test_similarity_above_and_below_threshold():
    # one bigram apart in a long text: above
    above = similarity("请帮我查一下储蓄卡余额", "请帮我查一下储蓄卡的余额")
    assert above >= THRESHOLD
    # same topic, different wording: below
    below = similarity("我卡里还有多少钱", "查询余额")
    assert below < THRESHOLD
    # normalisation: traditional, full-width, punctuation and case do not matter
    assert similarity("查詢餘額！", "查询余额") == 1.0
    assert similarity("ＡＴＭ取现", "atm 取现") == 1.0
    # one-character texts still compare
    assert similarity("嗯", "嗯") == 1.0
    assert similarity("嗯", "好") == 0.0


def test_close_pairs_reports_the_offending_pair():
    blind = [Example("blind", "check_balance", "帮我查一下卡里的余额"), Example("blind", "greet", "早上好")]
    others = [
        Example("train", "check_balance", "帮我查一下卡里余额"),
        Example("train", "thank", "谢谢"),
    ]
    matches = close_pairs(blind, others)
    assert [(m.blind.text, m.other.text) for m in matches] == [("帮我查一下卡里的余额", "帮我查一下卡里余额")]
    assert "train [check_balance]" in describe(matches)
    # the index agrees with the brute-force computation
    brute = [(b.text, o.text) for b in blind for o in others if similarity(b.text, o.text) >= THRESHOLD]
    assert brute == [(m.blind.text, m.other.text) for m in matches]


def test_markup_is_removed_before_comparing(tmp_path):
    data = tmp_path / "nlu.yml"
    data.write_text(
        'version: "3.1"\nnlu:\n- intent: transfer_money\n  examples: |\n'
        "    - 轉帳給[李娜](payee)[五千](amount)\n"
        "- intent: faq/atm_limit\n  examples: |\n"
        "    - ATM一天能取多少\n",
        encoding="utf-8",
    )
    examples = load(data)
    assert [(e.label, e.text) for e in examples] == [
        ("transfer_money", "轉帳給李娜五千"),
        ("faq/atm_limit", "ATM一天能取多少"),
    ]
    assert similarity(examples[0].text, "转帐给李娜五千") == 1.0


def test_count_check_can_fail():
    problems = count_problems([Example("blind", "greet", "你好"), Example("blind", "nonsense", "x")])
    assert "unexpected intent in the blind set: nonsense" in problems
    assert "greet: 1 blind examples (< 20)" in problems
    assert "out_of_scope: 0 blind examples (< 60)" in problems
