"""Domain exceptions of the sandbox bank.

Each carries a stable ``code`` (the contract with :mod:`bot.services.errors`), a clear
message and JSON-able ``details``. The HTTP status is chosen once, in the error
middleware of :mod:`bot.bank.app`, never here.
"""

from __future__ import annotations

from typing import Any


class BankError(Exception):
    """Base class of every refusal the bank answers with a 4xx JSON error."""

    code = "bank_error"
    default_message = "The request was refused."

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details: dict[str, Any] = details
        super().__init__(self.message)


class BadRequest(BankError):
    """Malformed JSON, a wrong type, a value out of range or an unknown field."""

    code = "bad_request"
    default_message = "The request is invalid."


class NotFound(BankError):
    code = "not_found"
    default_message = "Not found."


class CustomerNotFound(NotFound):
    code = "customer_not_found"
    default_message = "No customer matches this phone number or channel user."


class CardNotFound(NotFound):
    code = "card_not_found"
    default_message = "The customer has no card with this number."


class PayeeNotFound(NotFound):
    code = "payee_not_found"
    default_message = "No such payee."


class VerificationRequired(BankError):
    """details.level: "bind" (no valid token) or "step_up" (verification too old)."""

    code = "verification_required"
    default_message = "Identity verification is required."


class OtpInvalid(BankError):
    code = "otp_invalid"
    default_message = "The verification code is wrong."


class OtpExpired(BankError):
    code = "otp_expired"
    default_message = "The verification code has expired; request a new one."


class OtpLocked(BankError):
    code = "otp_locked"
    default_message = "Too many attempts; try again later."


class OtpNotRequested(BankError):
    code = "otp_not_requested"
    default_message = "No verification code is pending for this user; request one first."


class InsufficientFunds(BankError):
    code = "insufficient_funds"
    default_message = "The account balance is not sufficient."


class LimitExceeded(BankError):
    code = "limit_exceeded"
    default_message = "The amount exceeds the transfer limit of this channel."


class InvalidCardState(BankError):
    code = "invalid_card_state"
    default_message = "The card's state does not allow this operation."


class IdempotencyConflict(BankError):
    code = "idempotency_conflict"
    default_message = "This idempotency key was already used for a different request."


class Forbidden(BankError):
    code = "forbidden"
    default_message = "This operation is not allowed for this customer."


class VipOnly(Forbidden):
    code = "vip_only"
    default_message = "The 贵宾 queue is only for VIP customers."


class BranchClosed(BankError):
    """details.opens_at: the next opening time (ISO 8601) or null."""

    code = "branch_closed"
    default_message = "The branch is closed now."


class ServiceNotOffered(BankError):
    """details.services: what the branch does offer."""

    code = "service_not_offered"
    default_message = "The branch does not offer this service."


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    default_message = "No such queue ticket for this chat user."


class TicketNotActive(BankError):
    """details.status: the ticket's current status (called, cancelled or expired)."""

    code = "ticket_not_active"
    default_message = "The queue ticket is no longer waiting."


class ActiveTicketExists(BankError):
    """details: ticket_id, number, branch_id of the ticket already held."""

    code = "active_ticket_exists"
    default_message = "The chat user already holds a waiting ticket at this branch."


class RiskAssessmentRequired(BankError):
    """details.reason: "not_assessed" or "expired" (then details.expired_at)."""

    code = "risk_assessment_required"
    default_message = "A valid risk assessment is required first."


class ProductNotSuitable(BankError):
    """details: code, product_risk_level (R1-R5), customer_risk_level (C1-C5)."""

    code = "product_not_suitable"
    default_message = "The product's risk level is above the customer's risk level."


class BelowMinimum(BankError):
    """details: code, min_amount, amount."""

    code = "below_minimum"
    default_message = "The amount is below the product's minimum."


class SupportTicketNotFound(NotFound):
    """Unknown support ticket, or it belongs to another chat user."""

    code = "support_ticket_not_found"
    default_message = "No such support ticket."


class InvalidTicketTransition(BankError):
    """details: status (current), requested, allowed (statuses reachable from it)."""

    code = "invalid_ticket_transition"
    default_message = "The support ticket cannot move to this status."


class TicketClosed(BankError):
    """details.status: the ticket is closed and takes no more details."""

    code = "ticket_closed"
    default_message = "The support ticket is closed."
