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
