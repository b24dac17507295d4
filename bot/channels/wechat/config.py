"""Typed configuration of the WeChat Official Account channel.

Values come from the channel's section of ``credentials.yml`` and are overridden
by environment variables (never commit real secrets: leave the credentials
values empty and set the variables in the deployment)::

    bot.channels.wechat.WeChatInput:
      token: ""            # WECHAT_TOKEN       (服务器配置 Token)
      aes_key: ""          # WECHAT_AES_KEY     (EncodingAESKey, 43 characters)
      appid: ""            # WECHAT_APPID
      secret: ""           # WECHAT_SECRET      (AppSecret, for the customer-service API)
      api_base: ""         # WECHAT_API_BASE    (default https://api.weixin.qq.com)

Optional keys (same override rule, ``WECHAT_`` + upper-case key):
``reply_wait_seconds`` (3.5), ``max_body_bytes`` (65536),
``timestamp_tolerance_seconds`` (300; 0 switches the check off),
``nonce_ttl_seconds`` (600), ``store`` (``memory`` or ``redis``), ``redis_url``,
``use_msgmenu`` (true), ``kf_quota`` (5), ``event_kf_quota`` (3),
``api_timeout_seconds`` (5), ``option_ttl_seconds`` (1800),
``location_ttl_seconds`` (1800), ``max_concurrent_turns`` (4; 0 = no limit).

``max_concurrent_turns``: how many Rasa turns this channel runs at once. Rasa's
NLU, policies, tracker store and event broker run on the server's event loop, so
with dozens of turns in flight every turn (and every callback's answer to
WeChat) waits behind all the others; later messages wait for a slot instead,
within ``reply_wait_seconds``, and are answered through the customer-service API
if that runs out. Four keep the loop busy while some turns wait for the action
server (two left it idle a third of the time in ``benchmarks/wechat_load.py``)
and its delay under a second; raise it when actions wait on slow back-ends.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

DEFAULT_API_BASE = "https://api.weixin.qq.com"

# Canned channel replies (what the channel itself says, without a Rasa turn).
DEFAULT_TEXTS: dict[str, str] = {
    "unsupported_media": "抱歉，我目前能读懂文字和语音消息。请用文字或语音告诉我您想办理的业务，例如“查余额”或“附近网点”。",
    "voice_unrecognised": "抱歉，这条语音我没能识别出来，请您打字告诉我需要办理什么业务。",
    "options_hint": "请回复序号选择：",
}


class ConfigError(ValueError):
    """The channel configuration is unusable."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class WeChatConfig:
    """Everything the WeChat channel needs, resolved once at start-up."""

    env_prefix: ClassVar[str] = "WECHAT_"

    token: str = ""
    aes_key: str = ""
    appid: str = ""
    secret: str = ""
    api_base: str = DEFAULT_API_BASE
    reply_wait_seconds: float = 3.5
    max_body_bytes: int = 64 * 1024
    timestamp_tolerance_seconds: int = 300
    nonce_ttl_seconds: int = 600
    store: str = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "bankbot:wechat:"
    use_msgmenu: bool = True
    kf_quota: int = 5
    event_kf_quota: int = 3
    api_timeout_seconds: float = 5.0
    max_concurrent_turns: int = 4
    processing_ttl_seconds: int = 300
    completed_ttl_seconds: int = 24 * 3600
    option_ttl_seconds: int = 1800
    location_ttl_seconds: int = 1800
    greet_payload: str = "/greet"
    location_payload: str = "/share_location"
    texts: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TEXTS))

    @property
    def configured(self) -> bool:
        """True when requests can be verified at all (a token is set)."""
        return bool(self.token)

    @property
    def can_call_api(self) -> bool:
        """True when the customer-service API can be used."""
        return bool(self.appid and self.secret)

    def text(self, key: str) -> str:
        return self.texts.get(key) or DEFAULT_TEXTS[key]

    @classmethod
    def from_credentials(
        cls, credentials: Mapping[str, Any] | None, env: Mapping[str, str] | None = None
    ) -> WeChatConfig:
        """Build the configuration: ``WECHAT_<KEY>`` variables win over credentials.

        Empty values (``""`` or ``None``) count as unset, so credentials.yml can
        keep empty placeholders.
        """
        env = os.environ if env is None else env
        creds = dict(credentials or {})
        # Accepted aliases in credentials.yml.
        for alias, key in (("encoding_aes_key", "aes_key"), ("app_id", "appid")):
            if alias in creds and not creds.get(key):
                creds[key] = creds.pop(alias)
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "texts":
                continue
            raw = env.get(f"{cls.env_prefix}{f.name.upper()}")
            if raw is None or raw == "":
                raw = creds.get(f.name)
            if raw is None or raw == "":
                continue
            try:
                if f.type in ("int", int):
                    values[f.name] = int(raw)
                elif f.type in ("float", float):
                    values[f.name] = float(raw)
                elif f.type in ("bool", bool):
                    values[f.name] = _bool(raw)
                else:
                    values[f.name] = str(raw).strip()
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"WeChat setting {f.name} has a bad value {raw!r}") from exc
        texts = dict(DEFAULT_TEXTS)
        if isinstance(creds.get("texts"), Mapping):
            texts.update({str(k): str(v) for k, v in creds["texts"].items() if v})
        config = cls(**values, texts=texts)
        config.validate()
        return config

    def validate(self) -> None:
        """Fail fast on values that can never work."""
        if self.aes_key:
            if len(self.aes_key) != 43:
                raise ConfigError(f"{self.env_prefix}AES_KEY (EncodingAESKey) must be 43 characters")
            try:
                key = base64.b64decode(self.aes_key + "=", validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ConfigError(f"{self.env_prefix}AES_KEY is not valid base64") from exc
            if len(key) != 32:
                raise ConfigError(f"{self.env_prefix}AES_KEY must decode to 32 bytes")
        if self.store not in {"memory", "redis"}:
            raise ConfigError(f"{self.env_prefix}STORE must be 'memory' or 'redis'")
        if self.reply_wait_seconds < 0 or self.reply_wait_seconds > 4.5:
            raise ConfigError(f"{self.env_prefix}REPLY_WAIT_SECONDS must be between 0 and 4.5")
        if self.max_concurrent_turns < 0:
            raise ConfigError(f"{self.env_prefix}MAX_CONCURRENT_TURNS must be 0 (no limit) or more")
        if self.max_body_bytes <= 0:
            raise ConfigError(f"{self.env_prefix}MAX_BODY_BYTES must be positive")
        if not self.api_base.startswith(("http://", "https://")):
            raise ConfigError(f"{self.env_prefix}API_BASE must be an http(s) URL")
