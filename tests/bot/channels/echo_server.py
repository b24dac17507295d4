"""A Rasa-free socket.io server for web chat tests: the real channel, an echo bot.

Run as a script (the tests start it in a subprocess)::

    python tests/bot/channels/echo_server.py --port 5105 [--cors '*'] [--upstream]

It builds a Sanic app the way ``rasa run`` does for the channel part: the
channel class is loaded by module path from credentials, registered with
``rasa.core.channels.channel.register`` under ``/webhooks/``, and CORS is set
up like ``rasa.server.configure_cors`` (copied: importing ``rasa.server``
loads TensorFlow). ``app.ctx.agent`` is an echo bot instead of a model:

* ``/greet`` -> a greeting with two buttons (rendered as quick replies);
* ``查余额`` -> a canned identity-check prompt (what the real bot asks);
* ``对账单`` -> a 10-line statement (one message, lines apart by ``\n``);
* ``帮助`` -> a menu: a numbered list between two lines, with buttons;
* ``清单`` -> a bulleted list (``•``, ``-`` and ``▪`` lines);
* anything else -> ``回声：<text>``.

Browser origins are checked as ``rasa run`` does it: from
``WEBCHAT_ALLOWED_ORIGINS`` and ``WEB_PUBLIC_URL`` in the environment.

``GET /received`` lists what reached the bot (sender, text, metadata,
input channel) so tests can check what Rasa would see.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import UserMessage, register
from rasa.shared.utils.common import class_from_module_path
from sanic import Sanic, response
from sanic.request import Request
from sanic_cors import CORS

FIXED_CHANNEL = "bot.channels.socketio.WebChatInput"
UPSTREAM_CHANNEL = "rasa.core.channels.socketio.SocketIOInput"

CREDENTIALS = {
    "user_message_evt": "user_uttered",
    "bot_message_evt": "bot_uttered",
    "session_persistence": True,
    "socketio_path": "/socket.io",
    "metadata_key": "customData",
}

GREETING = {
    "text": "您好，我是沪银智能助手（测试回声服务）。请问需要什么帮助？",
    "buttons": [
        {"title": "查余额", "payload": "/check_balance"},
        {"title": "找网点", "payload": "/find_branch"},
    ],
}

VERIFY_PROMPT = "为了您的账户安全，请先验证身份。\n\n请输入您在本行预留的手机号码。"

STATEMENT = "最近 10 笔交易：\n" + "\n".join(
    f"11-{day:02d} 美团外卖 -¥{day * 3}.50" for day in range(18, 8, -1)
)

MENU = {
    "text": (
        "我可以帮您办理：\n1. 账户：查余额、转账\n2. 银行卡：挂失、冻结\n"
        "3. 网点：排队、取号\n直接告诉我您想办什么就可以。"
    ),
    "buttons": [
        {"title": "查余额", "payload": "/check_balance"},
        {"title": "转人工", "payload": "/human_handoff"},
    ],
}

BULLETS = "开户请带：\n• 本人身份证\n- 银行卡\n▪ 手机"


class EchoAgent:
    """Stands in for ``rasa.core.agent.Agent``: records and echoes messages."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def handle_message(self, message: UserMessage) -> None:
        """Answer one user message through the channel's output."""
        self.received.append(
            {
                "sender_id": message.sender_id,
                "text": message.text,
                "metadata": message.metadata,
                "input_channel": message.input_channel,
            }
        )
        if message.text == "/greet":
            reply: dict[str, Any] = dict(GREETING)
        elif message.text == "查余额":
            reply = {"text": VERIFY_PROMPT}
        elif message.text == "对账单":
            reply = {"text": STATEMENT}
        elif message.text == "帮助":
            reply = dict(MENU)
        elif message.text == "清单":
            reply = {"text": BULLETS}
        else:
            reply = {"text": f"回声：{message.text}"}
        await message.output_channel.send_response(message.sender_id, reply)


def configure_cors(app: Sanic, cors_origins: Any = "") -> None:
    """Same settings as ``rasa.server.configure_cors`` in Rasa 3.6.21."""
    app.config.CORS_AUTOMATIC_OPTIONS = True
    app.config.CORS_SUPPORTS_CREDENTIALS = True
    app.config.CORS_EXPOSE_HEADERS = "filename"
    CORS(app, resources={r"/*": {"origins": cors_origins or ""}}, automatic_options=True)


def create_app(channel_path: str, cors: Any) -> Sanic:
    """Sanic app with the web chat channel and an echo agent."""
    app = Sanic("webchat_echo")
    configure_cors(app, cors)
    channel_class = class_from_module_path(channel_path)
    channel = channel_class.from_credentials(dict(CREDENTIALS))
    agent = EchoAgent()
    app.ctx.agent = agent
    register([channel], app, route="/webhooks/")

    @app.get("/health")
    async def health(_: Request) -> response.HTTPResponse:
        return response.json({"status": "ok", "channel": channel_path})

    @app.get("/received")
    async def received(_: Request) -> response.HTTPResponse:
        return response.json(agent.received)

    return app


def main() -> None:
    """Parse arguments and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cors", default="", help="CORS origins, like `rasa run --cors`")
    parser.add_argument(
        "--upstream", action="store_true", help="use Rasa's own SocketIOInput (shows the bug)"
    )
    args = parser.parse_args()
    # Make ``bot`` importable when run as ``python tests/bot/channels/echo_server.py``.
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    app = create_app(UPSTREAM_CHANNEL if args.upstream else FIXED_CHANNEL, args.cors)
    app.run(host=args.host, port=args.port, access_log=False, motd=False, workers=1)


if __name__ == "__main__":
    main()
