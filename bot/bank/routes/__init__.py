"""Route groups of the bank app; :func:`setup_routes` mounts them all."""

from __future__ import annotations

from aiohttp import web

from ..keys import SETTINGS
from . import (
    accounts,
    auth,
    branches,
    cards,
    info,
    meta,
    offers,
    products,
    queues,
    sandbox,
    support,
)


def setup_routes(app: web.Application) -> None:
    """Mount every route group (the sandbox group only under the sandbox profile)."""
    app.add_routes(meta.routes)
    app.add_routes(info.routes)
    app.add_routes(auth.routes)
    app.add_routes(accounts.routes)
    app.add_routes(cards.routes)
    app.add_routes(support.routes)
    app.add_routes(branches.routes)
    app.add_routes(queues.routes)
    app.add_routes(products.routes)
    app.add_routes(offers.routes)
    if app[SETTINGS].sandbox:
        app.add_routes(sandbox.routes)
