"""One-time codes, channel bindings and bearer tokens."""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..errors import (
    BadRequest,
    CustomerNotFound,
    NotFound,
    OtpExpired,
    OtpInvalid,
    OtpLocked,
    OtpNotRequested,
    VerificationRequired,
)
from ..masking import mask_phone
from ..models import AuthToken, Binding, Customer, OtpCode, SmsMessage
from . import Ctx, sha256_hex

log = logging.getLogger(__name__)

SMS_TEMPLATE = "【沪银】您的验证码为{code}，{minutes}分钟内有效，请勿告诉他人。"


def normalize_phone(raw: str) -> str:
    """Accept ``13800138000``, ``138 0013 8000``, ``+86 138-0013-8000``; refuse the rest."""
    digits = re.sub(r"[\s\-()]", "", raw)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not re.fullmatch(r"1[3-9]\d{9}", digits):
        raise BadRequest("'phone' must be a mainland mobile number.", field="phone")
    return digits


def _hash_code(code: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    return f"{salt}${sha256_hex(salt + code)}"


def _code_matches(code: str, stored: str) -> bool:
    salt, _, _digest = stored.partition("$")
    return hmac.compare_digest(_hash_code(code, salt), stored)


def _seconds_until(ctx: Ctx, when: Any) -> int:
    return max(1, int((when - ctx.now).total_seconds() + 0.999))


def _latest_code(session: Session, channel: str, channel_user_id: str) -> OtpCode | None:
    stmt = (
        select(OtpCode)
        .where(OtpCode.channel == channel, OtpCode.channel_user_id == channel_user_id)
        .order_by(OtpCode.id.desc())
        .limit(1)
        .with_for_update()
    )
    return session.execute(stmt).scalar_one_or_none()


def _binding(session: Session, channel: str, channel_user_id: str) -> Binding | None:
    stmt = select(Binding).where(
        Binding.channel == channel, Binding.channel_user_id == channel_user_id
    )
    return session.execute(stmt).scalar_one_or_none()


def request_otp(
    session: Session, ctx: Ctx, channel: str, channel_user_id: str, phone: str | None
) -> dict[str, Any]:
    """Send a 6-digit code to the customer's phone (binding when ``phone`` is given,
    step-up for the already bound customer otherwise)."""
    settings = ctx.settings
    if phone is not None:
        number = normalize_phone(phone)
        customer = session.execute(
            select(Customer).where(Customer.phone == number)
        ).scalar_one_or_none()
        if customer is None:
            raise CustomerNotFound(
                "No customer is registered with this phone number.",
                masked_phone=mask_phone(number),
            )
        purpose = "bind"
    else:
        binding = _binding(session, channel, channel_user_id)
        if binding is None:
            raise VerificationRequired(
                "This chat user is not bound to a customer; bind with a phone number first.",
                level="bind",
            )
        customer = binding.customer
        purpose = "step_up"

    latest = _latest_code(session, channel, channel_user_id)
    if latest is not None and latest.locked_until is not None and latest.locked_until > ctx.now:
        raise OtpLocked(
            "Too many wrong codes; verification is paused.",
            retry_after=_seconds_until(ctx, latest.locked_until),
            reason="cooldown",
        )
    resend_gap = timedelta(seconds=settings.otp_resend_seconds)
    last_to_phone = session.execute(
        select(OtpCode).where(OtpCode.phone == customer.phone).order_by(OtpCode.id.desc()).limit(1)
    ).scalar_one_or_none()
    for previous in (latest, last_to_phone):
        if (
            previous is not None
            and previous.used_at is None
            and previous.created_at + resend_gap > ctx.now
        ):
            raise OtpLocked(
                "A code was sent moments ago; wait before requesting another.",
                retry_after=_seconds_until(ctx, previous.created_at + resend_gap),
                reason="resend_too_soon",
            )

    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(
        OtpCode(
            channel=channel,
            channel_user_id=channel_user_id,
            customer_id=customer.id,
            phone=customer.phone,
            purpose=purpose,
            code_hash=_hash_code(code),
            attempts=0,
            created_at=ctx.now,
            expires_at=ctx.now + timedelta(seconds=settings.otp_ttl_seconds),
        )
    )
    minutes = max(1, settings.otp_ttl_seconds // 60)
    session.add(
        SmsMessage(
            phone=customer.phone,
            text=SMS_TEMPLATE.format(code=code, minutes=minutes),
            code=code,
            sent_at=ctx.now,
        )
    )
    log.info("OTP (%s) sent to %s for %s user", purpose, mask_phone(customer.phone), channel)
    return {
        "masked_phone": mask_phone(customer.phone),
        "expires_in": settings.otp_ttl_seconds,
        "resend_after": settings.otp_resend_seconds,
    }


def verify_otp(
    session: Session, ctx: Ctx, channel: str, channel_user_id: str, code: str
) -> dict[str, Any]:
    """Check the latest code of the channel user; on success bind and issue a token.

    Wrong attempts are committed before the refusal is raised, so they count.
    """
    settings = ctx.settings
    if not re.fullmatch(r"\d{6}", code):
        raise BadRequest("'code' must be 6 digits.", field="code")
    otp = _latest_code(session, channel, channel_user_id)
    if otp is None or otp.used_at is not None:
        raise OtpNotRequested()
    if otp.locked_until is not None:
        if otp.locked_until > ctx.now:
            raise OtpLocked(
                "Too many wrong codes; verification is paused.",
                retry_after=_seconds_until(ctx, otp.locked_until),
                reason="cooldown",
            )
        raise OtpExpired("The code was locked after too many attempts; request a new one.")
    if ctx.now >= otp.expires_at:
        raise OtpExpired()
    if not _code_matches(code, otp.code_hash):
        otp.attempts += 1
        left = settings.otp_max_attempts - otp.attempts
        if left <= 0:
            otp.locked_until = ctx.now + timedelta(seconds=settings.otp_cooldown_seconds)
            session.commit()
            log.warning("OTP locked for a %s user after %d attempts", channel, otp.attempts)
            raise OtpLocked(
                "Too many wrong codes; verification is paused.",
                retry_after=settings.otp_cooldown_seconds,
                attempts_left=0,
                reason="too_many_attempts",
            )
        session.commit()
        raise OtpInvalid(attempts_left=left)

    otp.used_at = ctx.now
    customer = session.get(Customer, otp.customer_id)
    assert customer is not None
    binding = _binding(session, channel, channel_user_id)
    if binding is None:
        session.add(
            Binding(
                channel=channel,
                channel_user_id=channel_user_id,
                customer_id=customer.id,
                created_at=ctx.now,
                updated_at=ctx.now,
            )
        )
    else:
        binding.customer_id = customer.id
        binding.updated_at = ctx.now
    session.execute(
        update(AuthToken)
        .where(
            AuthToken.channel == channel,
            AuthToken.channel_user_id == channel_user_id,
            AuthToken.revoked_at.is_(None),
        )
        .values(revoked_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    ttl = settings.bind_ttl_seconds
    session.add(
        AuthToken(
            token_hash=sha256_hex(token),
            customer_id=customer.id,
            channel=channel,
            channel_user_id=channel_user_id,
            verified_at=ctx.now,
            expires_at=ctx.now + timedelta(seconds=ttl),
        )
    )
    session.flush()
    log.info("%s user verified (%s) for customer %s", channel, otp.purpose, customer.id)
    return {
        "token": token,
        "customer_id": customer.id,
        "customer_name": customer.name,
        "vip": customer.vip,
        "risk_level": customer.risk_level,
        "verified_at": ctx.now,
        "step_up_expires_at": ctx.now + timedelta(seconds=settings.verify_window_seconds),
    }


def get_binding(session: Session, ctx: Ctx, channel: str, channel_user_id: str) -> dict[str, Any]:
    """The customer bound to a chat user."""
    binding = _binding(session, channel, channel_user_id)
    if binding is None:
        raise NotFound("This chat user is not bound to a customer.")
    customer = binding.customer
    return {
        "customer_id": customer.id,
        "customer_name": customer.name,
        "masked_phone": mask_phone(customer.phone),
        "vip": customer.vip,
    }


def authenticate(session: Session, ctx: Ctx, token: str | None, *, step_up: bool) -> Customer:
    """The customer behind a bearer token; ``step_up`` also demands a fresh verification."""
    if not token:
        raise VerificationRequired("A bearer token is required.", level="bind")
    row = session.get(AuthToken, sha256_hex(token))
    if row is None or row.revoked_at is not None or row.expires_at <= ctx.now:
        raise VerificationRequired("The token is unknown or expired; bind again.", level="bind")
    if step_up:
        window = timedelta(seconds=ctx.settings.verify_window_seconds)
        if ctx.now - row.verified_at >= window:
            raise VerificationRequired(
                "This operation needs a fresh verification code.",
                level="step_up",
                verified_at=row.verified_at.isoformat(),
                window_seconds=ctx.settings.verify_window_seconds,
            )
    customer = session.get(Customer, row.customer_id)
    if customer is None:  # pragma: no cover - foreign key guarantees it
        raise VerificationRequired("The token's customer no longer exists.", level="bind")
    return customer
