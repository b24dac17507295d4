"""Exceptions raised by the service clients.

The bank answers errors as JSON ``{"error": {"code": ..., "message": ..., "details": {...}}}``;
each ``code`` maps to one exception class here so callers can catch what they mean.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class ServiceError(Exception):
    """Base class: a service refused a request or could not be reached."""

    code = "service_error"

    def __init__(
        self, message: str = "", *, status: int = 0, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.status = status
        self.details: dict[str, Any] = details or {}


class ServiceUnavailable(ServiceError):
    """Network error, timeout or a 5xx answer."""

    code = "service_unavailable"


class BadRequest(ServiceError):
    """The request was malformed or a value was out of range (400/422); details.field
    names the field and details.reason, when given, why (e.g. "name_mismatch")."""

    code = "bad_request"

    @property
    def reason(self) -> str | None:
        value = self.details.get("reason")
        return value if isinstance(value, str) else None


class NotFound(ServiceError):
    code = "not_found"


class CustomerNotFound(NotFound):
    code = "customer_not_found"


class CardNotFound(NotFound):
    code = "card_not_found"


class PayeeNotFound(NotFound):
    code = "payee_not_found"


class VerificationRequired(ServiceError):
    """No valid binding token (details.level == "bind") or it is too old for
    a sensitive operation (details.level == "step_up")."""

    code = "verification_required"

    @property
    def level(self) -> str:
        return str(self.details.get("level", "bind"))


class OtpInvalid(ServiceError):
    """Wrong code; details.attempts_left tells how many tries remain."""

    code = "otp_invalid"


class OtpExpired(ServiceError):
    code = "otp_expired"


class OtpLocked(ServiceError):
    """Too many wrong codes or requests; details.retry_after in seconds."""

    code = "otp_locked"


class OtpNotRequested(ServiceError):
    code = "otp_not_requested"


class InsufficientFunds(ServiceError):
    code = "insufficient_funds"


class LimitExceeded(ServiceError):
    """details: kind ("single" or "daily"), channel, limit, remaining (strings)."""

    code = "limit_exceeded"


class InvalidCardState(ServiceError):
    """The card's state does not allow the operation; details.state is the current one."""

    code = "invalid_card_state"


class IdempotencyConflict(ServiceError):
    """The idempotency key was already used for a different request."""

    code = "idempotency_conflict"


class Forbidden(ServiceError):
    code = "forbidden"


class VipOnly(Forbidden):
    """The 贵宾 queue is for VIP customers only."""

    code = "vip_only"


class BranchClosed(ServiceError):
    """details.opens_at: the next opening (ISO 8601) or None."""

    code = "branch_closed"

    @property
    def opens_at(self) -> datetime | None:
        value = self.details.get("opens_at")
        return datetime.fromisoformat(value) if isinstance(value, str) else None


class ServiceNotOffered(ServiceError):
    """The branch does not offer the service type; details.services lists what it does."""

    code = "service_not_offered"


class TicketNotFound(NotFound):
    """Unknown ticket, or it belongs to another chat user."""

    code = "ticket_not_found"


class TicketNotActive(ServiceError):
    """The ticket is no longer waiting; details.status is called, cancelled or expired."""

    code = "ticket_not_active"


class ActiveTicketExists(ServiceError):
    """The chat user already waits at this branch; details.ticket_id and details.number."""

    code = "active_ticket_exists"


class RiskAssessmentRequired(ServiceError):
    """details.reason: "not_assessed" or "expired"."""

    code = "risk_assessment_required"

    @property
    def reason(self) -> str:
        return str(self.details.get("reason", "not_assessed"))


class ProductNotSuitable(ServiceError):
    """details: code, product_risk_level (R1-R5), customer_risk_level (C1-C5),
    max_product_risk."""

    code = "product_not_suitable"


class BelowMinimum(ServiceError):
    """details: code, min_amount, amount (strings)."""

    code = "below_minimum"


class SupportTicketNotFound(NotFound):
    """Unknown support ticket, or it belongs to another chat user."""

    code = "support_ticket_not_found"


class InvalidTicketTransition(ServiceError):
    """The ticket cannot move to that status (409): details.status (current), requested,
    allowed. Also when another staff member took it first."""

    code = "invalid_ticket_transition"


class TicketClosed(ServiceError):
    """The support ticket is closed and takes no more details (409)."""

    code = "ticket_closed"


ERRORS_BY_CODE: dict[str, type[ServiceError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        NotFound,
        CustomerNotFound,
        CardNotFound,
        PayeeNotFound,
        VerificationRequired,
        OtpInvalid,
        OtpExpired,
        OtpLocked,
        OtpNotRequested,
        InsufficientFunds,
        LimitExceeded,
        InvalidCardState,
        IdempotencyConflict,
        Forbidden,
        VipOnly,
        BranchClosed,
        ServiceNotOffered,
        TicketNotFound,
        TicketNotActive,
        ActiveTicketExists,
        RiskAssessmentRequired,
        ProductNotSuitable,
        BelowMinimum,
        SupportTicketNotFound,
        InvalidTicketTransition,
        TicketClosed,
    )
}
