"""Typed settings, read once from an injectable environment mapping."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{key} must be an integer, got {raw!r}") from exc


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{key} must be a boolean (1/0, true/false), got {raw!r}")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-case, without a default port.

    Raises ``ValueError`` for anything but an http(s) URL with a host.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def parse_origins(raw: str | None, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Origins from a comma- or space-separated list (``*`` means any origin).

    Each entry must be an origin as browsers send it: ``https://www.example.com``
    or ``http://127.0.0.1:8000``, no path. Empty or unset: ``default``.
    """
    if raw is None or not raw.strip():
        return default
    origins: list[str] = []
    for entry in raw.replace(",", " ").split():
        if entry == "*":
            origins.append("*")
            continue
        parts = urlsplit(entry)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(
                f"{key}: {entry!r} is not an origin (no path), e.g. https://www.example.com"
            )
        try:
            origins.append(origin_of(entry))
        except ValueError as exc:
            raise ValueError(
                f"{key}: {entry!r} is not an origin like https://www.example.com"
            ) from exc
    return tuple(dict.fromkeys(origins))


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
    # Public address of the web app (chat page, embed.js) as browsers see it;
    # defaults to http://host:web_port. Its origin may always open the chat socket.
    web_public_url: str = ""
    # Other sites that may embed the web chat (embed.js) and open its socket:
    # exact origins, or "*" for any. Default: "*" in the sandbox profile, none
    # otherwise (then only the web app itself). See docs/embed.md.
    webchat_allowed_origins: tuple[str, ...] = ()
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
    # Staff console: its own database, where it reads Rasa's events, and the
    # Rasa HTTP API token it uses for takeover (empty: the API is unauthenticated,
    # acceptable only on loopback in the sandbox profile).
    console_db_url: str = ""
    event_source: str = "sql"  # "sql" (Rasa's SQL broker table) or "rabbitmq" (pika broker)
    events_db_url: str = ""
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    rabbitmq_queue: str = "rasa_events"
    rasa_token: str = ""
    console_session_seconds: int = 8 * 3600
    login_max_failures: int = 5  # per account, then locked for login_lockout_seconds
    login_lockout_seconds: int = 900
    # Failed logins allowed from one client address per login_ip_window_seconds.
    login_ip_max_failures: int = 20
    login_ip_window_seconds: int = 900
    # Session cookies only over HTTPS (default: on outside the sandbox profile).
    console_secure_cookies: bool = False
    # Argon2id cost of staff passwords; defaults are argon2-cffi's (RFC 9106 low-memory).
    # Tests lower them to keep hashing cheap.
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    handoff_timeout_seconds: int = 300  # waiting longer than this -> apology to the customer
    low_confidence_threshold: float = 0.6
    conversation_idle_seconds: int = 3600  # no message for this long -> "closed"
    handoff_check_seconds: float = 5.0  # how often waiting handoffs are checked for timeouts
    rasa_api_timeout: float = 10.0  # console -> Rasa HTTP API calls (takeover)
    # Event ingestion (bot/console/ingest.py): events per transaction, SQL polling interval.
    ingest_batch_size: int = 500
    ingest_poll_seconds: float = 0.3
    # Trainer workflow (bot/trainer, console /console/trainer): the project whose data/,
    # domain/ and config.yml the console edits and trains (tests point it at a copy).
    project_root: Path = PROJECT_ROOT
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

    @property
    def web_origins(self) -> tuple[str, ...]:
        """The web app's own origin(s): its public URL's, plus the other loopback
        name when that is 127.0.0.1 or localhost."""
        own = origin_of(self.web_public_url or f"http://{self.host}:{self.web_port}")
        parts = urlsplit(own)
        other = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(parts.hostname or "")
        if other is None:
            return (own,)
        port = f":{parts.port}" if parts.port is not None else ""
        return (own, f"{parts.scheme}://{other}{port}")

    @property
    def webchat_socket_origins(self) -> tuple[str, ...]:
        """Browser origins the web chat socket accepts: ``("*",)`` or the web app's
        own origins plus ``webchat_allowed_origins``."""
        if "*" in self.webchat_allowed_origins:
            return ("*",)
        return tuple(dict.fromkeys([*self.web_origins, *self.webchat_allowed_origins]))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (defaults to ``os.environ``)."""
        env = os.environ if env is None else env
        host = env.get("BANKBOT_HOST", "127.0.0.1")
        data_dir = Path(env.get("BANKBOT_DATA_DIR", str(PROJECT_ROOT / "var")))
        bank_port = _int(env, "BANK_PORT", 8090)
        rasa_port = _int(env, "RASA_PORT", 5005)
        rasa_url = env.get("RASA_URL", f"http://{host}:{rasa_port}")
        profile = env.get("BANKBOT_PROFILE", "sandbox")
        web_port = _int(env, "WEB_PORT", 8080)
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
            profile=profile,
            host=host,
            rasa_port=rasa_port,
            action_port=_int(env, "ACTION_PORT", 5055),
            bank_port=bank_port,
            web_port=web_port,
            data_dir=data_dir,
            bank_db_url=env.get("BANK_DB_URL", f"sqlite:///{data_dir / 'bank.db'}"),
            bank_url=env.get("BANK_URL", f"http://{host}:{bank_port}"),
            rasa_url=rasa_url,
            webchat_socket_url=env.get("WEBCHAT_SOCKET_URL", rasa_url),
            web_public_url=env.get("WEB_PUBLIC_URL") or f"http://{host}:{web_port}",
            webchat_allowed_origins=parse_origins(
                env.get("WEBCHAT_ALLOWED_ORIGINS"),
                "WEBCHAT_ALLOWED_ORIGINS",
                default=("*",) if profile == "sandbox" else (),
            ),
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
            console_db_url=env.get("CONSOLE_DB_URL", f"sqlite:///{data_dir / 'console.db'}"),
            event_source=env.get("CONSOLE_EVENT_SOURCE", "sql"),
            events_db_url=env.get("EVENTS_DB_URL", f"sqlite:///{data_dir / 'events.db'}"),
            rabbitmq_url=env.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
            rabbitmq_queue=env.get("RABBITMQ_QUEUE", "rasa_events"),
            rasa_token=env.get("RASA_TOKEN", ""),
            console_session_seconds=_int(env, "CONSOLE_SESSION_SECONDS", 8 * 3600),
            login_max_failures=_int(env, "LOGIN_MAX_FAILURES", 5),
            login_lockout_seconds=_int(env, "LOGIN_LOCKOUT_SECONDS", 900),
            login_ip_max_failures=_int(env, "LOGIN_IP_MAX_FAILURES", 20),
            login_ip_window_seconds=_int(env, "LOGIN_IP_WINDOW_SECONDS", 900),
            console_secure_cookies=_bool(
                env,
                "CONSOLE_SECURE_COOKIES",
                env.get("BANKBOT_PROFILE", "sandbox") != "sandbox",
            ),
            password_hash_time_cost=_int(env, "PASSWORD_HASH_TIME_COST", 3),
            password_hash_memory_kib=_int(env, "PASSWORD_HASH_MEMORY_KIB", 65536),
            handoff_timeout_seconds=_int(env, "HANDOFF_TIMEOUT_SECONDS", 300),
            low_confidence_threshold=float(env.get("LOW_CONFIDENCE_THRESHOLD", "0.6")),
            conversation_idle_seconds=_int(env, "CONVERSATION_IDLE_SECONDS", 3600),
            handoff_check_seconds=float(env.get("HANDOFF_CHECK_SECONDS", "5")),
            rasa_api_timeout=float(env.get("RASA_API_TIMEOUT", "10")),
            ingest_batch_size=_int(env, "INGEST_BATCH_SIZE", 500),
            ingest_poll_seconds=float(env.get("INGEST_POLL_SECONDS", "0.3")),
            project_root=Path(env.get("BANKBOT_PROJECT_ROOT") or PROJECT_ROOT),
        )
