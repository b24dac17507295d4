"""Typed settings, read once from an injectable environment mapping."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{key} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class ChannelLimits:
    """Per-channel transfer limits in CNY."""

    single: Decimal
    daily: Decimal


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one bankbot deployment."""

    profile: str = "sandbox"
    host: str = "127.0.0.1"
    rasa_port: int = 5005
    action_port: int = 5055
    bank_port: int = 8090
    web_port: int = 8080
    data_dir: Path = PROJECT_ROOT / "var"
    bank_db_url: str = ""
    bank_url: str = ""
    rasa_url: str = ""
    # Socket.io URL the customer's browser uses for web chat (the public
    # address of the Rasa server); defaults to rasa_url.
    webchat_socket_url: str = ""
    service_timeout: float = 5.0
    verify_window_seconds: int = 600
    bind_ttl_seconds: int = 30 * 24 * 3600  # lifetime of a binding-level bank token
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 5
    otp_cooldown_seconds: int = 600
    otp_resend_seconds: int = 60
    review_threshold: Decimal = Decimal("10000")
    # 分流: suggest another branch when the chosen queue's estimated wait is at least
    # queue_divert_wait_minutes and a branch within queue_divert_radius_km is shorter by
    # at least queue_divert_min_saving_minutes and at most queue_divert_max_ratio of it.
    queue_divert_wait_minutes: int = 30
    queue_divert_radius_km: float = 5.0
    queue_divert_min_saving_minutes: int = 15
    queue_divert_max_ratio: float = 0.5
    risk_assessment_valid_days: int = 365  # a risk assessment (C1-C5) expires after this
    # Next-best offer: a savings balance of at least offer_balance_threshold, or an
    # incoming payment of at least offer_incoming_threshold within 7 days (CNY).
    offer_balance_threshold: Decimal = Decimal("50000")
    offer_incoming_threshold: Decimal = Decimal("10000")
    # Sandbox only: the bank's clock starts here (ISO time) instead of now.
    sandbox_clock_start: datetime | None = None
    limits: Mapping[str, ChannelLimits] = field(
        default_factory=lambda: {
            "web": ChannelLimits(Decimal("50000"), Decimal("200000")),
            "wechat": ChannelLimits(Decimal("5000"), Decimal("20000")),
        }
    )

    @property
    def sandbox(self) -> bool:
        """True when sandbox-only features (the SMS outbox) are enabled."""
        return self.profile == "sandbox"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (defaults to ``os.environ``)."""
        env = os.environ if env is None else env
        host = env.get("BANKBOT_HOST", "127.0.0.1")
        data_dir = Path(env.get("BANKBOT_DATA_DIR", str(PROJECT_ROOT / "var")))
        bank_port = _int(env, "BANK_PORT", 8090)
        rasa_port = _int(env, "RASA_PORT", 5005)
        rasa_url = env.get("RASA_URL", f"http://{host}:{rasa_port}")
        limits = {
            "web": ChannelLimits(
                Decimal(env.get("LIMIT_WEB_SINGLE", "50000")),
                Decimal(env.get("LIMIT_WEB_DAILY", "200000")),
            ),
            "wechat": ChannelLimits(
                Decimal(env.get("LIMIT_WECHAT_SINGLE", "5000")),
                Decimal(env.get("LIMIT_WECHAT_DAILY", "20000")),
            ),
        }
        return cls(
            profile=env.get("BANKBOT_PROFILE", "sandbox"),
            host=host,
            rasa_port=rasa_port,
            action_port=_int(env, "ACTION_PORT", 5055),
            bank_port=bank_port,
            web_port=_int(env, "WEB_PORT", 8080),
            data_dir=data_dir,
            bank_db_url=env.get("BANK_DB_URL", f"sqlite:///{data_dir / 'bank.db'}"),
            bank_url=env.get("BANK_URL", f"http://{host}:{bank_port}"),
            rasa_url=rasa_url,
            webchat_socket_url=env.get("WEBCHAT_SOCKET_URL", rasa_url),
            service_timeout=float(env.get("SERVICE_TIMEOUT", "5")),
            verify_window_seconds=_int(env, "VERIFY_WINDOW_SECONDS", 600),
            bind_ttl_seconds=_int(env, "BIND_TTL_SECONDS", 30 * 24 * 3600),
            otp_ttl_seconds=_int(env, "OTP_TTL_SECONDS", 300),
            otp_max_attempts=_int(env, "OTP_MAX_ATTEMPTS", 5),
            otp_cooldown_seconds=_int(env, "OTP_COOLDOWN_SECONDS", 600),
            otp_resend_seconds=_int(env, "OTP_RESEND_SECONDS", 60),
            review_threshold=Decimal(env.get("REVIEW_THRESHOLD", "10000")),
            queue_divert_wait_minutes=_int(env, "QUEUE_DIVERT_WAIT_MINUTES", 30),
            queue_divert_radius_km=float(env.get("QUEUE_DIVERT_RADIUS_KM", "5")),
            queue_divert_min_saving_minutes=_int(env, "QUEUE_DIVERT_MIN_SAVING_MINUTES", 15),
            queue_divert_max_ratio=float(env.get("QUEUE_DIVERT_MAX_RATIO", "0.5")),
            risk_assessment_valid_days=_int(env, "RISK_ASSESSMENT_VALID_DAYS", 365),
            offer_balance_threshold=Decimal(env.get("OFFER_BALANCE_THRESHOLD", "50000")),
            offer_incoming_threshold=Decimal(env.get("OFFER_INCOMING_THRESHOLD", "10000")),
            sandbox_clock_start=(
                datetime.fromisoformat(env["SANDBOX_CLOCK_START"])
                if env.get("SANDBOX_CLOCK_START")
                else None
            ),
            limits=limits,
        )
