"""Client of the bank's product catalogue and FX reference rates."""

from __future__ import annotations

from typing import Any

from ..settings import Settings
from .http import ServiceClient, segment, to_datetime, to_decimal, to_optional_decimal
from .types import FxRate, Product


def _product(data: dict[str, Any]) -> Product:
    term = data.get("term_days")
    return Product(
        code=data["code"],
        name=data["name"],
        type=data["type"],
        category=data.get("category", ""),
        risk_level=data.get("risk_level"),
        term_days=None if term is None else int(term),
        min_amount=to_decimal(data["min_amount"]),
        reference_rate=to_optional_decimal(data.get("reference_rate")),
        rate_label=data.get("rate_label", ""),
        currency=data.get("currency", "CNY"),
        description=data.get("description", ""),
        disclosure=data.get("disclosure"),
    )


def _fx(data: dict[str, Any]) -> FxRate:
    return FxRate(
        currency=data["currency"],
        name=data["name"],
        unit=int(data["unit"]),
        buy=to_decimal(data["buy"]),
        sell=to_decimal(data["sell"]),
        cash_buy=to_decimal(data["cash_buy"]),
        middle=to_decimal(data["middle"]),
        updated_at=to_datetime(data["updated_at"]),
    )


class ProductsClient(ServiceClient):
    """Products (filter by type and maximum risk level) and FX reference rates."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ProductsClient:
        return cls(settings.bank_url, timeout=settings.service_timeout)

    async def list_products(
        self, *, type: str | None = None, max_risk: str | None = None
    ) -> list[Product]:
        """``type``: deposit|wealth|fund|loan|credit_card (or 存款/理财/基金/贷款/信用卡);
        ``max_risk``: R1..R5 or the customer's C1..C5."""
        params = {"type": type, "max_risk": max_risk}
        return [_product(p) for p in await self.request("GET", "/products", params=params)]

    async def get_product(self, code: str) -> Product:
        return _product(await self.request("GET", f"/products/{segment(code)}"))

    async def fx_rates(self) -> list[FxRate]:
        """CNY per 100 units of USD, EUR, HKD, JPY, GBP."""
        return [_fx(r) for r in await self.request("GET", "/fx-rates")]
