"""Currency names as customers write them."""

from __future__ import annotations

import pytest

from bot.nlu.currency import code_of, currencies_in


@pytest.mark.parametrize(
    "text, codes",
    [
        ("1000 GBP想换成RMB", ["GBP", "CNY"]),
        ("500软妹币能换多少刀", ["CNY", "USD"]),
        ("换500欧", ["EUR"]),
        ("人民币换港纸", ["CNY", "HKD"]),
        ("欧洲旅游要带什么", []),
        ("刀子", []),
        ("美元汇率", ["USD"]),
    ],
)
def test_currencies_named_in_order(text: str, codes: list[str]) -> None:
    assert currencies_in(text) == codes


def test_codes_of_names_and_unknown_names() -> None:
    assert code_of("美刀") == "USD"
    assert code_of("Euro") == "EUR"
    assert code_of("chf") == "CHF"
