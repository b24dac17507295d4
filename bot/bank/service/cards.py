"""Card listing and the card state machine (active <-> frozen, anything -> lost)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import BadRequest, CardNotFound, InvalidCardState
from ..models import Card, Customer
from . import Ctx

log = logging.getLogger(__name__)

# action -> (states it may start from, resulting state)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "report_lost": (frozenset({"active", "frozen"}), "lost"),
    "freeze": (frozenset({"active"}), "frozen"),
    "unfreeze": (frozenset({"frozen"}), "active"),
}


def card_view(card: Card) -> dict[str, Any]:
    return {
        "card_id": card.id,
        "card_type": card.card_type,
        "last4": card.last4,
        "state": card.state,
    }


def list_cards(session: Session, ctx: Ctx, customer: Customer) -> list[dict[str, Any]]:
    stmt = select(Card).where(Card.customer_id == customer.id).order_by(Card.id)
    return [card_view(c) for c in session.execute(stmt).scalars()]


def change_state(
    session: Session, ctx: Ctx, customer: Customer, last4: str, action: str
) -> dict[str, Any]:
    """Apply ``action`` (report_lost, freeze, unfreeze) to the customer's card ``last4``."""
    if action not in TRANSITIONS:  # pragma: no cover - routes only pass known actions
        raise BadRequest(f"Unknown card action {action!r}.")
    stmt = (
        select(Card)
        .where(Card.customer_id == customer.id, Card.last4 == last4)
        .order_by(Card.id)
        .limit(1)
        .with_for_update()
    )
    card = session.execute(stmt).scalar_one_or_none()
    if card is None:
        raise CardNotFound(f"The customer has no card ending {last4}.", last4=last4)
    allowed_from, target = TRANSITIONS[action]
    if card.state not in allowed_from:
        raise InvalidCardState(
            f"Cannot {action.replace('_', ' ')} a card that is {card.state}.",
            state=card.state,
            action=action,
        )
    previous, card.state, card.updated_at = card.state, target, ctx.now
    log.info("card 尾号%s: %s -> %s (%s)", card.last4, previous, target, action)
    return card_view(card)
