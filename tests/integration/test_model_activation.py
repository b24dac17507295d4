"""Activate and roll back model versions on a running Rasa server, without a restart.

Two tiny models with different labels (A: greet/goodbye, B: hello/bye) are trained
through the training jobs; a real Rasa server (``python -m bot.rasa_server run
--enable-api``, as ``make run`` starts it) starts with A, using the
project's endpoints.yml (SQL tracker store). Activating B must change what
``/model/parse`` answers in the same server process, messages sent while Rasa loads
B must be answered, and the conversation's tracker must keep its events across the
swap; rolling back brings A back.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.settings import PROJECT_ROOT
from bot.trainer.jobs import JobStatus, TrainingJobs
from bot.trainer.registry import ModelRegistry, ModelVersion

pytestmark = pytest.mark.integration

TEXTS = {
    "greet": "你好 您好 在吗 早上好 下午好 晚上好 哈喽 嗨 你好呀 有人吗 在不在 hello hi 您好请问 你好小助手",
    "goodbye": "再见 拜拜 下次见 回头见 先这样 走了 88 bye 再会 明天见 晚安 不聊了 好的再见 那我先走了 拜拜啦",
}
CONFIG = """\
recipe: default.v1
language: zh
assistant_id: tiny
pipeline:
  - name: JiebaTokenizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 3
  - name: DIETClassifier
    epochs: 30
    number_of_transformer_layers: 0
    embedding_dimension: 16
    entity_recognition: false
    constrain_similarities: true
    random_seed: 7
policies:
  - name: RulePolicy
"""


def write_project(root: Path, tag: str, hello: str, bye: str) -> None:
    """A two-intent bot whose labels are ``hello``/``bye`` and answers start with ``tag``."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "domain").mkdir(exist_ok=True)
    (root / "config.yml").write_text(CONFIG, encoding="utf-8")
    (root / "domain" / "domain.yml").write_text(
        f'version: "3.1"\nintents: [{hello}, {bye}]\nresponses:\n'
        f"  utter_{hello}:\n  - text: {tag}:您好\n  utter_{bye}:\n  - text: {tag}:再见\n",
        encoding="utf-8",
    )
    nlu = ['version: "3.1"', "nlu:"]
    for intent, key in ((hello, "greet"), (bye, "goodbye")):
        nlu += [f"- intent: {intent}", "  examples: |"] + [f"    - {t}" for t in TEXTS[key].split()]
    (root / "data" / "nlu.yml").write_text("\n".join(nlu) + "\n", encoding="utf-8")
    rules = ['version: "3.1"', "rules:"]
    for intent in (hello, bye):
        rules += [f"- rule: {intent}", "  steps:", f"  - intent: {intent}",
                  f"  - action: utter_{intent}"]
    (root / "data" / "rules.yml").write_text("\n".join(rules) + "\n", encoding="utf-8")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Versions A and B in one registry, trained by the training jobs (no evaluation)."""
    root = tmp_path_factory.mktemp("activation")
    project = root / "project"
    registry = ModelRegistry(root / "var" / "models")
    jobs = TrainingJobs(project, registry, root / "var" / "trainer" / "jobs")

    async def train(tag: str, hello: str, bye: str) -> ModelVersion:
        write_project(project, tag, hello, bye)
        job = await jobs.start("trainer", evaluate=False, notes=tag)
        finished = await jobs.wait(job.id)
        assert finished.status is JobStatus.SUCCEEDED, finished.error
        return registry.get(finished.version or "")

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RASA_CACHE_DIRECTORY", str(root / "rasa-cache"))
        a = asyncio.run(train("A", "greet", "goodbye"))
        b = asyncio.run(train("B", "hello", "bye"))
    return {"root": root, "a": a, "b": b}


class PortTaken(Exception):
    pass


def start_rasa(root: Path, model: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start the Rasa server with ``--enable-api`` and wait for /status; PortTaken if it lost its port."""
    port = free_port()
    env = {
        **os.environ,
        "BANKBOT_DATA_DIR": str(root / "var"),  # tracker.db and events.db (endpoints.yml)
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}/webhook",
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    log_path = root / f"rasa-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.rasa_server", "run", "--enable-api",
             "--model", str(model), "--interface", "127.0.0.1", "--port", str(port),
             "--auth-token", token, "--endpoints", str(PROJECT_ROOT / "endpoints.yml"),
             "--credentials", str(root / "credentials.yml")],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    async def healthy() -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                if proc.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    if "address already in use" in tail.lower():
                        raise PortTaken(tail)
                    raise AssertionError(f"Rasa exited ({proc.returncode}):\n{tail}")
                try:
                    async with http.get(f"{url}/status", params={"token": token}) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
        raise AssertionError("Rasa did not start")

    try:
        asyncio.run(healthy())
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    return proc, url


@pytest.fixture(scope="module")
def rasa_server(models: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The Rasa server with model A, the project's endpoints.yml, a token."""
    root: Path = models["root"]
    token = secrets.token_urlsafe(16)
    (root / "credentials.yml").write_text("rest:\n", encoding="utf-8")
    for attempt in range(3):  # other test runs on this machine take free ports too
        try:
            proc, url = start_rasa(root, models["a"].path, token)
            break
        except PortTaken:
            if attempt == 2:
                raise
    try:
        yield {"url": url, "token": token, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        yield session


async def test_activate_and_rollback_swap_the_model_without_dropping_a_conversation(
    models: dict[str, Any], rasa_server: dict[str, Any], http: aiohttp.ClientSession
) -> None:
    url, token, proc = rasa_server["url"], rasa_server["token"], rasa_server["proc"]
    a, b = models["a"], models["b"]
    registry = ModelRegistry(models["root"] / "var" / "models", rasa_url=url, rasa_token=token)
    params = {"token": token}
    sender = f"swap-{uuid.uuid4().hex[:8]}"

    async def parse(text: str) -> str:
        async with http.post(f"{url}/model/parse", params=params, json={"text": text}) as resp:
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["intent"]["name"])

    async def say(who: str, text: str) -> str:
        async with http.post(
            f"{url}/webhooks/rest/webhook", json={"sender": who, "message": text}
        ) as resp:
            assert resp.status == 200, await resp.text()
            return " ".join(m.get("text", "") for m in await resp.json())

    # The server was started with A: the registry learns that from /status.
    assert (await registry.sync_with_server("ops")).version == a.version  # type: ignore[union-attr]
    assert registry.active().version == a.version  # type: ignore[union-attr]
    assert await parse("你好") == "greet"
    assert await say(sender, "你好") == "A:您好"

    # Activate B while messages are on their way: they wait for the load, none is lost.
    activation = asyncio.create_task(registry.activate(b.version, "alice"))
    await asyncio.sleep(0.3)
    in_flight = await asyncio.gather(say(sender, "再见"), say(f"other-{sender}", "你好"))
    entry = await activation
    assert entry.version == b.version
    assert in_flight[0] in ("A:再见", "B:再见") and in_flight[1] in ("A:您好", "B:您好")

    assert proc.poll() is None  # the same Rasa process, no restart
    async with http.get(f"{url}/status", params=params) as resp:
        assert (await resp.json())["model_id"] == b.model_id
    assert await parse("你好") == "hello"
    assert await say(sender, "你好") == "B:您好"

    # Rolling back loads A again in the same process.
    back = await registry.rollback("bob")
    assert back.version == a.version and proc.poll() is None
    assert await parse("你好") == "greet"
    assert await say(sender, "拜拜") == "A:再见"

    # One conversation, uninterrupted: every message and answer is in its tracker.
    async with http.get(f"{url}/conversations/{sender}/tracker", params=params) as resp:
        events = (await resp.json())["events"]
    user = [(e["text"], e["parse_data"]["intent"]["name"]) for e in events if e["event"] == "user"]
    assert [text for text, _ in user] == ["你好", "再见", "你好", "拜拜"]
    assert user[0][1] == "greet" and user[2][1] == "hello" and user[3][1] == "goodbye"
    bot = [e["text"] for e in events if e["event"] == "bot"]
    assert bot[0] == "A:您好" and "B:您好" in bot and bot[-1] == "A:再见"

    history = [(h["action"], h["version"], h["user"]) for h in registry.history()]
    assert history == [
        ("detected", a.version, "ops"),
        ("activate", b.version, "alice"),
        ("rollback", a.version, "bob"),
    ]
    assert registry.active().version == a.version  # type: ignore[union-attr]
