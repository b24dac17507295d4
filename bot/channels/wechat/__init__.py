"""WeChat Official Account channel, and the WeCom (企业微信) self-built app variant.

``credentials.yml`` registers them as ``bot.channels.wechat.WeChatInput`` and
``bot.channels.wechat.WeComInput``.
"""

from .channel import WeChatInput, WeChatOutput
from .config import WeChatConfig
from .wecom import WeComConfig, WeComInput

__all__ = ["WeChatConfig", "WeChatInput", "WeChatOutput", "WeComConfig", "WeComInput"]
