"""FX conversion on the bank's side of the spread, in both phrasings, spot and cash."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.bank.db import make_engine
from bot.bank.testing import sqlite_url


async def convert(bank, **params):
    resp = await bank.client.get("/fx/convert", params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_rates_carry_cash_sell_equal_to_sell(bank):
    rates = await (await bank.client.get("/fx-rates")).json()
    usd = next(r for r in rates if r["currency"] == "USD")
    assert (usd["buy"], usd["sell"], usd["cash_buy"], usd["cash_sell"]) == (
        "711.20",
        "714.20",
        "705.40",
        "714.20",
    )
    assert all(r["cash_sell"] == r["sell"] for r in rates)


@pytest.mark.parametrize(
    ("params", "pay", "get", "direction", "label", "price"),
    [
        # 换5000欧元要多少钱: buy 5000 EUR, the amount is what the customer wants
        (
            {"amount": "5000", "from": "CNY", "to": "EUR", "amount_currency": "to"},
            "41595.00",
            "5000.00",
            "buy_foreign",
            "现汇卖出价",
            "831.90",
        ),
        # the currency itself may name the side the amount is in
        (
            {"amount": "5000", "from": "人民币", "to": "欧元", "amount_currency": "欧元"},
            "41595.00",
            "5000.00",
            "buy_foreign",
            "现汇卖出价",
            "831.90",
        ),
        # 我要买1000美元现钞: 现钞卖出价 = 现汇卖出价
        (
            {"amount": "1000", "from": "CNY", "to": "USD", "amount_currency": "to", "cash": "true"},
            "7142.00",
            "1000.00",
            "buy_foreign",
            "现钞卖出价",
            "714.20",
        ),
        # 500美元现钞能换多少人民币: the bank buys cash at 现钞买入价
        (
            {"amount": "500", "from": "USD", "to": "CNY", "cash": "true"},
            "500.00",
            "3527.00",
            "sell_foreign",
            "现钞买入价",
            "705.40",
        ),
        # 1000美元是多少人民币 (unchanged default): spot, amount in from
        (
            {"amount": "1000", "from": "USD"},
            "1000.00",
            "7112.00",
            "sell_foreign",
            "现汇买入价",
            "711.20",
        ),
        # 我想卖美元换到7112元人民币: how many dollars
        (
            {"amount": "7112", "from": "USD", "to": "CNY", "amount_currency": "to"},
            "1000.00",
            "7112.00",
            "sell_foreign",
            "现汇买入价",
            "711.20",
        ),
        # 1万人民币能买多少美元
        (
            {"amount": "10000", "from": "CNY", "to": "USD"},
            "10000.00",
            "1400.17",
            "buy_foreign",
            "现汇卖出价",
            "714.20",
        ),
    ],
)
async def test_conversions_price_the_right_side(bank, params, pay, get, direction, label, price):
    result = await convert(bank, **params)
    assert (result["from_amount"], result["to_amount"]) == (pay, get)
    assert result["direction"] == direction
    assert result["direction_label"] == {
        "buy_foreign": "购汇（银行卖出）",
        "sell_foreign": "结汇（银行买入）",
    }[direction]
    assert result["rate_label"] == result["rate"]["label"] == label
    assert result["rate"]["price"] == price
    assert result["rate"]["side"] == ("sell" if direction == "buy_foreign" else "buy")
    assert result["cash"] is (params.get("cash") == "true")
    # amount/result keep their meaning: the given amount and the other one
    given = f"{float(params['amount']):.2f}"
    assert result["amount"] == given
    assert result["result"] == (get if result["amount_currency"] == "from" else pay)


async def test_bad_conversion_parameters(bank, error):
    for params, field in (
        ({"amount": "100", "from": "USD", "amount_currency": "EUR"}, "amount_currency"),
        ({"amount": "100", "from": "USD", "amount_currency": "both"}, "amount_currency"),
        ({"amount": "100", "from": "USD", "cash": "yes please"}, "cash"),
    ):
        resp = await bank.client.get("/fx/convert", params=params)
        assert resp.status == 400, params
        assert (await error(resp))["details"]["field"] == field


async def test_a_rate_without_a_stored_cash_sell_sells_cash_at_sell(bank, db_path):
    engine = make_engine(sqlite_url(db_path))
    try:
        with engine.begin() as conn:  # a row from before the column existed
            conn.execute(text("UPDATE fx_rates SET cash_sell = NULL"))
    finally:
        engine.dispose()
    result = await convert(bank, amount="1000", **{"from": "CNY", "to": "USD"},
                           amount_currency="to", cash="1")
    assert (result["rate"]["price"], result["from_amount"]) == ("714.20", "7142.00")
    rates = await (await bank.client.get("/fx-rates")).json()
    assert rates[0]["cash_sell"] == rates[0]["sell"]
