"""The same adapter for a WeCom (企业微信) self-built app's callbacks (wechatpy.enterprise).

Register it in ``credentials.yml`` (values from ``WECOM_*`` variables)::

    bot.channels.wechat.WeComInput:
      token: ""      # WECOM_TOKEN
      aes_key: ""    # WECOM_AES_KEY
      corp_id: ""    # WECOM_CORP_ID
      agent_id: ""   # WECOM_AGENT_ID
      secret: ""     # WECOM_SECRET  (the app's Secret, for /cgi-bin/message/send)

Endpoint: ``/webhooks/wechat_work/webhook``. What differs from the Official
Account (R18/R19):

* Every callback is encrypted, and there is no plain ``signature``: GET carries
  ``msg_signature`` and an encrypted ``echostr`` that must be decrypted and
  returned as plain text; POST carries ``msg_signature`` only.
* The id at the end of the plaintext is the CorpID.
* Messages carry ``AgentID``; passive replies echo it.
* Answers after the 5-second window go through ``/cgi-bin/message/send`` with
  the app's ``agentid`` (token from ``/cgi-bin/gettoken``). There is no
  msgmenu, so buttons become numbered options.

The channel is named ``wechat_work``: the actions' ``channel_of`` puts it under
the WeChat limits, and bindings are kept apart from the Official Account's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from wechatpy.enterprise import parse_message as parse_enterprise_message
from wechatpy.enterprise.crypto import PrpCrypto as EnterprisePrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as EnterpriseCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.enterprise.replies import TextReply as EnterpriseTextReply

from .api import WeChatAPI
from .channel import CallbackRequest, Reply, WeChatInput
from .config import WeChatConfig
from .security import RequestRejected, check_msg_signature, signature_ok

WECOM_API_BASE = "https://qyapi.weixin.qq.com"


@dataclass(frozen=True)
class WeComConfig(WeChatConfig):
    """WeChatConfig with the CorpID and AgentID of the self-built app."""

    env_prefix: ClassVar[str] = "WECOM_"

    api_base: str = WECOM_API_BASE
    corp_id: str = ""
    agent_id: int = 0
    use_msgmenu: bool = False

    @property
    def can_call_api(self) -> bool:
        return bool(self.corp_id and self.secret and self.agent_id)


class WeComAPI(WeChatAPI):
    """Token from ``/cgi-bin/gettoken``; sends through ``/cgi-bin/message/send``."""

    def __init__(self, corp_id: str, secret: str, agent_id: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(corp_id, secret, *args, **kwargs)
        self.agent_id = agent_id

    def _token_request(self) -> tuple[str, dict[str, str]]:
        return "/cgi-bin/gettoken", {"corpid": self.appid, "corpsecret": self.secret}

    async def send_custom(self, payload: dict[str, Any]) -> dict[str, Any]:
        message = {k: v for k, v in payload.items() if k != "touser"}
        body = {"touser": payload["touser"], "agentid": self.agent_id, **message}
        return await self.call("/cgi-bin/message/send", body)


class WeComInput(WeChatInput):
    """WeCom self-built app callbacks; the rest is the Official Account channel."""

    config: WeComConfig
    receive_id_label = "CorpID"
    prp_class = EnterprisePrpCrypto
    id_exception = InvalidCorpIdException
    reply_class = EnterpriseTextReply

    @classmethod
    def name(cls) -> str:
        return "wechat_work"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> WeComInput:
        return cls(WeComConfig.from_credentials(credentials))

    @property
    def receive_id(self) -> str:
        return self.config.corp_id

    def _make_crypto(self) -> Any:
        cfg = self.config
        if not (cfg.token and cfg.aes_key and cfg.corp_id):
            return None
        return EnterpriseCrypto(cfg.token, cfg.aes_key, cfg.corp_id)

    def _make_api(self) -> WeChatAPI | None:
        cfg = self.config
        if not cfg.can_call_api:
            return None
        return WeComAPI(
            cfg.corp_id,
            cfg.secret,
            cfg.agent_id,
            cfg.api_base,
            timeout=cfg.api_timeout_seconds,
            store=self.store if cfg.store == "redis" else None,
        )

    def _check_query_signature(self, args: Mapping[str, str], timestamp: str, nonce: str) -> None:
        """No plain signature in WeCom callbacks; ``msg_signature`` is checked on decrypt."""

    def _is_encrypted(self, args: Mapping[str, str]) -> bool:
        return True

    def _parse(self, xml: str) -> Any:
        return parse_enterprise_message(xml)

    async def handle_get(self, req: CallbackRequest) -> Reply:
        """Decrypt ``echostr`` and return the plaintext (no quotes, BOM or newline)."""
        if not self.config.configured or self.crypto is None:
            return Reply(503, "wecom channel not configured")
        args = req.args
        timestamp = args.get("timestamp") or ""
        nonce = args.get("nonce") or ""
        echostr = args.get("echostr") or ""
        signature = args.get("msg_signature")
        # A '+' that was not URL-encoded arrives as a space.
        if not signature_ok((self.config.token, timestamp, nonce, echostr), signature):
            echostr = echostr.replace(" ", "+")
        try:
            check_msg_signature(self.config.token, signature, timestamp, nonce, echostr)
            self.freshness.check(timestamp)
            plain = self._decrypt(echostr)
        except RequestRejected as exc:
            return self._rejected(exc, req)
        return Reply(200, plain)
