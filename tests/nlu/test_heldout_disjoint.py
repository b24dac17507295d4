"""The held-out NLU set must not leak into training, and every intent is covered."""

from pathlib import Path

import pytest

from bot.nlu.dupcheck import canonical, load_examples, overlaps, problems, topic_problems

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
    "complain",
    "find_branch",
    "branch_queue_status",
    "take_queue_ticket",
    "check_queue_ticket",
    "cancel_queue_ticket",
    "share_location",
    "product_inquiry",
    "recommend_product",
    "risk_assessment",
    "exchange_rate",
    "faq",
]
# Retrieval topics (faq/<topic>, answered by the ResponseSelector); at least 16.
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


def test_every_faq_topic_has_enough_examples():
    train = load_examples(TRAIN, by_topic=True)
    heldout = load_examples(HELDOUT, by_topic=True)
    assert {f"faq/{t}" for t in FAQ_TOPICS} <= set(train)
    assert topic_problems(train, heldout, min_train=12, min_heldout=4) == []
    blind = load_examples(BLIND, by_topic=True)
    assert topic_problems(train, blind, min_train=12, min_heldout=2) == []


def test_faq_topics_have_answers():
    import yaml

    domain = yaml.safe_load((ROOT / "domain" / "faq.yml").read_text(encoding="utf-8"))
    answered = {name.removeprefix("utter_faq/") for name in domain["responses"]}
    topics = {k.removeprefix("faq/") for k in load_examples(TRAIN, by_topic=True) if "/" in k}
    assert topics == answered
    assert "faq" in domain["intents"]


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
