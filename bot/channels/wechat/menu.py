"""Install the Official Account's custom menu (自定义菜单) through the API.

    python -m bot.channels.wechat.menu            # or: make wechat-menu
    python -m bot.channels.wechat.menu --dry-run  # print the JSON only

Three top buttons: 账户, 网点排队, 理财 (WeChat allows at most 3, with at most 5
sub-buttons each). Every sub-button is a ``click`` whose key is a Rasa payload
(``/check_balance``); the channel sends the key to Rasa as the user's message.
Credentials come from ``credentials.yml`` with the ``WECHAT_*`` overrides, the
same as the channel's. Clients pick up a new menu within about 5 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.settings import PROJECT_ROOT

from .api import WeChatAPI, WeChatAPIError
from .config import WeChatConfig

CHANNEL_KEY = "bot.channels.wechat.WeChatInput"


def _click(name: str, payload: str) -> dict[str, str]:
    return {"type": "click", "name": name, "key": payload}


MENU: dict[str, Any] = {
    "button": [
        {
            "name": "账户",
            "sub_button": [
                _click("查余额", "/check_balance"),
                _click("查明细", "/transaction_history"),
                _click("转账", "/transfer_money"),
                _click("挂失/冻结", "/report_card_lost"),
                _click("信用卡账单", "/credit_card_bill"),
            ],
        },
        {
            "name": "网点排队",
            "sub_button": [
                # location_select: WeChat asks for a location and sends it to us.
                {"type": "location_select", "name": "附近网点", "key": "/find_branch"},
                _click("排队情况", "/branch_queue_status"),
                _click("取号", "/take_queue_ticket"),
                _click("我的排队号", "/check_queue_ticket"),
            ],
        },
        {
            "name": "理财",
            "sub_button": [
                _click("理财产品", "/product_inquiry"),
                _click("为我推荐", "/recommend_product"),
                _click("风险测评", "/risk_assessment"),
                _click("汇率", "/exchange_rate"),
                _click("人工客服", "/human_handoff"),
            ],
        },
    ]
}


def validate_menu(menu: Mapping[str, Any]) -> None:
    """WeChat's limits: 1-3 buttons, 1-5 sub-buttons, names and keys within bytes."""
    buttons = menu.get("button") or []
    if not 1 <= len(buttons) <= 3:
        raise ValueError("a menu has 1 to 3 top-level buttons")
    for button in buttons:
        if len(button["name"].encode("utf-8")) > 16:
            raise ValueError(f"top-level name too long: {button['name']}")
        subs = button.get("sub_button") or []
        if len(subs) > 5:
            raise ValueError(f"{button['name']}: at most 5 sub-buttons")
        for sub in subs:
            if len(sub["name"].encode("utf-8")) > 60:
                raise ValueError(f"sub-button name too long: {sub['name']}")
            if "key" in sub and len(sub["key"].encode("utf-8")) > 128:
                raise ValueError(f"key too long: {sub['key']}")


def load_config(credentials: Path, env: Mapping[str, str] | None = None) -> WeChatConfig:
    """The channel's configuration from credentials.yml plus the environment."""
    from rasa.shared.utils.io import read_yaml_file

    data: Any = read_yaml_file(credentials) if credentials.exists() else {}
    section = (data or {}).get(CHANNEL_KEY) or {}
    return WeChatConfig.from_credentials(section, env)


async def install(config: WeChatConfig, menu: Mapping[str, Any] = MENU) -> dict[str, Any]:
    validate_menu(menu)
    api = WeChatAPI(
        config.appid, config.secret, config.api_base, timeout=config.api_timeout_seconds
    )
    try:
        return await api.create_menu(dict(menu))
    finally:
        await api.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install the WeChat custom menu.")
    parser.add_argument("--credentials", default=str(PROJECT_ROOT / "credentials.yml"))
    parser.add_argument("--dry-run", action="store_true", help="print the menu and exit")
    args = parser.parse_args(argv)
    validate_menu(MENU)
    if args.dry_run:
        print(json.dumps(MENU, ensure_ascii=False, indent=2))
        return 0
    config = load_config(Path(args.credentials))
    if not config.can_call_api:
        print("需要 WECHAT_APPID 和 WECHAT_SECRET（或 credentials.yml 中的 appid/secret）。", file=sys.stderr)
        return 2
    try:
        asyncio.run(install(config))
    except WeChatAPIError as exc:
        print(f"菜单创建失败：{exc}", file=sys.stderr)
        return 1
    print(f"自定义菜单已创建（{config.api_base}），微信客户端约 5 分钟内生效。")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
