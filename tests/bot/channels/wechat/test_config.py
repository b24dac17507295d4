"""Configuration: credentials.yml values, environment overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.utils.io import read_yaml_file

from bot.channels.wechat import WeChatConfig, WeChatInput, WeComConfig
from bot.channels.wechat.config import DEFAULT_API_BASE, ConfigError
from bot.channels.wechat.menu import CHANNEL_KEY, load_config
from bot.settings import PROJECT_ROOT

from .simulator import TEST_AES_KEY


def test_environment_overrides_credentials() -> None:
    creds = {"token": "from-yml", "aes_key": "", "appid": "wx-yml", "secret": None}
    env = {
        "WECHAT_TOKEN": "from-env",
        "WECHAT_AES_KEY": TEST_AES_KEY,
        "WECHAT_SECRET": "s",
        "WECHAT_API_BASE": "http://127.0.0.1:1234",
        "WECHAT_REPLY_WAIT_SECONDS": "0.25",
        "WECHAT_USE_MSGMENU": "false",
        "WECHAT_APPID": "",  # empty counts as unset
    }
    config = WeChatConfig.from_credentials(creds, env)
    assert config.token == "from-env"
    assert config.appid == "wx-yml"
    assert config.aes_key == TEST_AES_KEY
    assert config.secret == "s"
    assert config.api_base == "http://127.0.0.1:1234"
    assert config.reply_wait_seconds == 0.25
    assert config.use_msgmenu is False
    assert config.configured and config.can_call_api


def test_defaults_and_empty_placeholders() -> None:
    config = WeChatConfig.from_credentials({"token": "", "appid": ""}, {})
    assert not config.configured
    assert config.api_base == DEFAULT_API_BASE
    assert config.reply_wait_seconds == 3.5
    assert config.max_body_bytes == 65536
    assert config.store == "memory"


def test_texts_can_be_overridden_in_credentials() -> None:
    config = WeChatConfig.from_credentials({"texts": {"options_hint": "回复数字："}}, {})
    assert config.text("options_hint") == "回复数字："
    assert "文字" in config.text("unsupported_media")


@pytest.mark.parametrize(
    "env",
    [
        {"WECHAT_AES_KEY": "short"},
        {"WECHAT_AES_KEY": "!" * 43},
        {"WECHAT_STORE": "memcached"},
        {"WECHAT_REPLY_WAIT_SECONDS": "6"},
        {"WECHAT_REPLY_WAIT_SECONDS": "soon"},
        {"WECHAT_API_BASE": "ftp://x"},
    ],
)
def test_bad_values_fail_fast(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        WeChatConfig.from_credentials({}, env)


def test_wecom_reads_its_own_variables() -> None:
    config = WeComConfig.from_credentials(
        {"corp_id": "ww-yml"},
        {"WECOM_TOKEN": "t", "WECOM_AGENT_ID": "1000002", "WECHAT_TOKEN": "not-this"},
    )
    assert (config.token, config.corp_id, config.agent_id) == ("t", "ww-yml", 1000002)
    assert config.api_base == "https://qyapi.weixin.qq.com"


def test_credentials_yml_registers_the_channel_without_secrets() -> None:
    data = read_yaml_file(PROJECT_ROOT / "credentials.yml")
    assert CHANNEL_KEY in data
    section = data[CHANNEL_KEY] or {}
    for key in ("token", "aes_key", "appid", "secret"):
        assert not section.get(key), f"{key} must stay an empty placeholder"
    channel = WeChatInput.from_credentials(section)
    assert channel.name() == "wechat"


def test_menu_cli_config_uses_the_same_rules(tmp_path: Path) -> None:
    creds = tmp_path / "credentials.yml"
    creds.write_text(f"{CHANNEL_KEY}:\n  appid: wx-file\n  secret: ''\n", encoding="utf-8")
    config = load_config(creds, {"WECHAT_SECRET": "env-secret"})
    assert (config.appid, config.secret) == ("wx-file", "env-secret")
