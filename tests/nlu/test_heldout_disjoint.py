"""The held-out NLU set must not leak into training, and every intent is covered."""

from pathlib import Path

import pytest

from bot.nlu.dupcheck import canonical, load_examples, overlaps, problems

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "data" / "nlu"
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
BLIND = ROOT / "tests" / "nlu" / "blind.yml"

INTENTS = [
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
    "human_handoff",
    "bind_account",
    "check_balance",
    "transaction_history",
    "transfer_money",
    "report_card_lost",
    "freeze_card",
    "unfreeze_card",
    "credit_card_bill",
]


@pytest.fixture(scope="module")
def train():
    return load_examples(TRAIN)


@pytest.fixture(scope="module")
def heldout():
    return load_examples(HELDOUT)


def test_no_heldout_text_in_training_data(train, heldout):
    assert overlaps(train, heldout) == []


def test_every_intent_has_enough_examples(train, heldout):
    assert problems(train, heldout, INTENTS, min_train=30, min_heldout=10) == []


def test_contract_intents_present(train, heldout):
    assert set(INTENTS) <= set(train)
    assert set(INTENTS) <= set(heldout)


def test_blind_set_is_disjoint_from_training_and_heldout(train, heldout):
    blind = load_examples(BLIND)
    assert overlaps(train, blind) == []
    assert overlaps(heldout, blind) == []
    assert problems(train, blind, INTENTS, min_train=30, min_heldout=8) == []


def test_no_duplicates_within_training_data(train):
    texts = [canonical(t) for examples in train.values() for t in examples]
    dupes = sorted({t for t in texts if texts.count(t) > 1})
    assert dupes == []


def test_markup_is_removed_before_comparing(tmp_path):
    data = tmp_path / "nlu.yml"
    data.write_text(
        'version: "3.1"\nnlu:\n- intent: transfer_money\n  examples: |\n'
        "    - 轉帳給[李娜](payee)！\n",
        encoding="utf-8",
    )
    texts = load_examples(data)["transfer_money"]
    assert texts == ["轉帳給李娜！"]
    assert overlaps({"transfer_money": ["转帐给李娜"]}, {"x": texts}) == texts


def test_overlap_is_detected():
    train = {"check_balance": ["查询余额"]}
    heldout = {"check_balance": ["查詢餘額？"], "greet": ["你好"]}
    assert overlaps(train, heldout) == ["查詢餘額？"]
    assert any("greet: 0 training" in p for p in problems(train, heldout))
