"""One place that builds the service clients from settings and closes them."""

from __future__ import annotations

from ..console.rasa_client import RasaClient
from ..settings import Settings
from .accounts import AccountsClient
from .branches import BranchesClient
from .http import ServiceClient
from .products import ProductsClient
from .support import SupportClient


class ServiceFactory:
    """Lazily built clients (each with its own HTTP session); ``await aclose()`` at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._accounts: AccountsClient | None = None
        self._branches: BranchesClient | None = None
        self._products: ProductsClient | None = None
        self._support: SupportClient | None = None
        self._rasa: RasaClient | None = None

    @property
    def accounts(self) -> AccountsClient:
        if self._accounts is None:
            self._accounts = AccountsClient.from_settings(self.settings)
        return self._accounts

    @property
    def branches(self) -> BranchesClient:
        if self._branches is None:
            self._branches = BranchesClient.from_settings(self.settings)
        return self._branches

    @property
    def products(self) -> ProductsClient:
        if self._products is None:
            self._products = ProductsClient.from_settings(self.settings)
        return self._products

    @property
    def support(self) -> SupportClient:
        if self._support is None:
            self._support = SupportClient.from_settings(self.settings)
        return self._support

    @property
    def rasa(self) -> RasaClient:
        """Rasa's HTTP API (the NLU, for a second request in one message)."""
        if self._rasa is None:
            self._rasa = RasaClient(
                self.settings.rasa_url,
                self.settings.rasa_token,
                timeout=self.settings.rasa_api_timeout,
            )
        return self._rasa

    def _built(self) -> list[ServiceClient]:
        clients: list[ServiceClient | None] = [
            self._accounts,
            self._branches,
            self._products,
            self._support,
        ]
        return [c for c in clients if c is not None]

    async def aclose(self) -> None:
        """Close every client built so far."""
        for client in self._built():
            await client.close()
        if self._rasa is not None:
            await self._rasa.close()
        self._accounts = self._branches = self._products = self._support = None
        self._rasa = None

    async def __aenter__(self) -> ServiceFactory:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
