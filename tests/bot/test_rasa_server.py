"""bot.rasa_server: Rasa's runtime fixes (action-response validation, model loading)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction

import bot.rasa_server as rasa_server
from bot.run import Stack
from bot.settings import Settings

SCHEMA = RemoteAction.action_response_format_spec()

VALID: list[dict[str, Any]] = [
    {"events": [], "responses": []},
    {},
    {
        "events": [
            {"event": "slot", "name": "phone", "value": "13800138000", "timestamp": None},
            {"event": "active_loop", "name": "verify_form"},
            {"event": "followup", "name": "action_listen"},
            {"event": "bot", "text": "好的", "data": {}, "metadata": {}},
            {"event": "reset_slots"},
        ],
        "responses": [
            {"text": "您的余额是 3,500.00 元", "buttons": [{"title": "好", "payload": "/ok"}]}
        ],
    },
]
INVALID: list[dict[str, Any]] = [
    {"events": {"event": "slot"}},
    {"events": [{"event": "slot", "name": 3}]},
    {"events": [{"event": "no_such_event"}]},
    {"responses": 5},
    {"responses": ["text"]},
]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    rasa_server._checked.clear()


@pytest.mark.parametrize("result", VALID + INVALID)
def test_is_valid_agrees_with_jsonschema(result: dict[str, Any]) -> None:
    try:
        jsonschema.validate(result, SCHEMA)
        expected = True
    except jsonschema.ValidationError:
        expected = False
    assert rasa_server.is_valid(result, SCHEMA) is expected


def test_schema_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    cls = validator_for(SCHEMA)
    calls: list[Any] = []
    original = cls.check_schema.__func__

    def counting(klass: Any, schema: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(schema)
        original(klass, schema, *args, **kwargs)

    monkeypatch.setattr(cls, "check_schema", classmethod(counting))
    for result in VALID * 3:
        assert rasa_server.is_valid(result, RemoteAction.action_response_format_spec())
    assert len(calls) == 1


def test_an_invalid_schema_still_raises() -> None:
    with pytest.raises(jsonschema.SchemaError):
        rasa_server.is_valid({}, {"type": "no such type"})


def restore_rasa_after_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lets the test call ``install()``; every attribute it replaces is restored after."""
    import rasa.core.agent
    from rasa.utils.tensorflow.models import RasaModel

    monkeypatch.setattr(rasa_server, "_installed", False)
    monkeypatch.setattr(RemoteAction, "_validate_action_result",
                        RemoteAction._validate_action_result)
    monkeypatch.setattr(rasa.core.agent.Agent, "load_model", rasa.core.agent.Agent.load_model)
    monkeypatch.setattr(rasa.core.agent, "load_agent", rasa.core.agent.load_agent)
    monkeypatch.setattr(RasaModel, "load", RasaModel.__dict__["load"])
    from rasa.shared.core.events import Event

    monkeypatch.setattr(Event, "resolve_by_type", Event.__dict__["resolve_by_type"])


def test_installed_validation_accepts_and_rejects_like_rasa(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = RemoteAction._validate_action_result
    restore_rasa_after_install(monkeypatch)
    rasa_server.install()
    rasa_server.install()  # idempotent: wrapped once
    patched = RemoteAction._validate_action_result
    assert patched is not original and patched.__wrapped__ is original

    action = RemoteAction("action_check_balance", None)
    for result in VALID:
        assert action._validate_action_result(result) is True
    for result in INVALID:
        with pytest.raises(jsonschema.ValidationError) as ours:
            action._validate_action_result(result)
        with pytest.raises(jsonschema.ValidationError) as theirs:
            original(action, result)
        assert ours.value.message == theirs.value.message
        assert "Failed to validate Action server response" in ours.value.message


def test_stack_starts_rasa_through_this_module(tmp_path: Path) -> None:
    settings = Settings.from_env({"BANKBOT_DATA_DIR": str(tmp_path), "RASA_TOKEN": "s3cret"})
    stack = Stack(settings, tmp_path / "m.tar.gz")
    rasa = next(p for p in stack.plan() if p.name == "rasa")
    assert rasa.args[1:4] == ["-m", "bot.rasa_server", "run"]
    # The token reaches Rasa through its environment, never its (world-readable) argv.
    assert not any("s3cret" in arg for p in stack.plan() for arg in p.args)
    assert stack.env()["RASA_TOKEN"] == "s3cret"


def test_the_token_comes_from_the_environment_unless_given() -> None:
    argv = ["bot.rasa_server", "run", "--enable-api"]
    assert rasa_server.with_token_from_env(argv, {"RASA_TOKEN": "t"}) == [
        *argv, "--auth-token=t"]
    assert rasa_server.with_token_from_env(argv, {}) == argv
    assert rasa_server.with_token_from_env(argv, {"RASA_TOKEN": ""}) == argv
    given = [*argv, "--auth-token", "mine"]
    assert rasa_server.with_token_from_env(given, {"RASA_TOKEN": "t"}) == given
    given = [*argv, "--auth-token=mine"]
    assert rasa_server.with_token_from_env(given, {"RASA_TOKEN": "t"}) == given
    train = ["bot.rasa_server", "train"]  # only the server takes a token
    assert rasa_server.with_token_from_env(train, {"RASA_TOKEN": "t"}) == train


@pytest.mark.parametrize(
    "token",
    [
        "t",
        "s3cret_Tok-en",
        # secrets.token_urlsafe (bot/run.py, tests/conftest.py) starts with "-" once in 64.
        "-Yq3vJ0bC9xQeWmZr1tU8sKpLhN2aDf7g",
    ],
)
def test_any_urlsafe_token_reaches_rasa_as_the_auth_token(token: str) -> None:
    """Parsed by Rasa's own command line, as bot/run.py starts it."""
    from rasa.__main__ import create_argument_parser

    argv = rasa_server.with_token_from_env(
        ["bot.rasa_server", "run", "--enable-api", "--port", "5005"], {"RASA_TOKEN": token}
    )
    args = create_argument_parser().parse_args(argv[1:])
    assert args.auth_token == token
    assert args.enable_api is True and args.port == 5005


# ---------------------------------------------------------------------------
# Model loading


class FakeAgent:
    loaded: list[tuple[str, str | None, str]]

    def load_model(self, model_path: str, fingerprint: str | None = None) -> None:
        raise NotImplementedError  # each test gives its own


def agent_loader(load: Any) -> tuple[Any, type[FakeAgent]]:
    """Rasa's shape: an async ``load_agent`` that builds an agent and calls its ``load_model``."""

    class Agent(FakeAgent):
        def __init__(self) -> None:
            self.loaded = []

        load_model = rasa_server._deferrable_load_model(load)

    async def load_agent(model_path: str) -> FakeAgent:
        agent = Agent()
        await asyncio.sleep(0)  # Rasa creates its event broker here
        agent.load_model(model_path)
        return agent

    return rasa_server._load_agent_off_the_loop(load_agent), Agent


async def test_a_model_loads_in_a_worker_thread_while_the_loop_keeps_serving() -> None:
    release = threading.Event()
    started = threading.Event()

    def slow_load(agent: FakeAgent, model_path: str, fingerprint: str | None = None) -> None:
        started.set()
        assert release.wait(10)
        agent.loaded.append((model_path, fingerprint, threading.current_thread().name))

    load_agent, agent_class = agent_loader(slow_load)
    loading = asyncio.create_task(load_agent("models/new.tar.gz"))
    assert await asyncio.to_thread(started.wait, 10)
    # The loop still runs other work (other conversations) during the load.
    served = [await asyncio.sleep(0.01, result=i) for i in range(3)]
    assert served == [0, 1, 2] and not loading.done()
    release.set()
    agent = await loading
    [(path, fingerprint, thread)] = agent.loaded
    assert path == "models/new.tar.gz" and fingerprint is None
    assert thread != threading.current_thread().name

    # Outside Rasa's load_agent (e.g. Agent.load at start-up) the load happens in place.
    release.set()
    direct = agent_class()
    direct.load_model("models/direct.tar.gz", "fp")
    assert direct.loaded == [("models/direct.tar.gz", "fp", threading.current_thread().name)]


async def test_a_failing_load_reaches_the_caller() -> None:
    def broken(agent: FakeAgent, model_path: str, fingerprint: str | None = None) -> None:
        raise ValueError(f"cannot read {model_path}")

    load_agent, _ = agent_loader(broken)
    with pytest.raises(ValueError, match="cannot read models/bad.tar.gz"):
        await load_agent("models/bad.tar.gz")


def test_functions_run_eagerly_only_inside_and_nests() -> None:
    import tensorflow as tf

    assert not tf.config.functions_run_eagerly()
    with rasa_server.functions_run_eagerly():
        assert tf.config.functions_run_eagerly()
        with rasa_server.functions_run_eagerly():
            assert tf.config.functions_run_eagerly()
        assert tf.config.functions_run_eagerly()  # the outer load is still building
    assert not tf.config.functions_run_eagerly()
    with pytest.raises(RuntimeError), rasa_server.functions_run_eagerly():
        raise RuntimeError("load failed")
    assert not tf.config.functions_run_eagerly()


def test_installed_model_load_builds_eagerly_and_traces_prediction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tensorflow as tf
    from rasa.utils.tensorflow.models import RasaModel

    restore_rasa_after_install(monkeypatch)
    seen: dict[str, Any] = {}

    class Model:
        def run_inference(self, data: Any) -> None:
            seen["predicted_eagerly"] = tf.config.functions_run_eagerly()
            seen["predicted_on"] = data

    def original_load(cls: Any, file: str, example: Any, predict: Any = None,
                      finetune: bool = False, *args: Any, **kwargs: Any) -> Model:
        seen["built_eagerly"] = tf.config.functions_run_eagerly()
        seen["args"] = (file, example, predict, finetune, args, kwargs)
        return Model()

    monkeypatch.setattr(RasaModel, "load", classmethod(original_load))
    rasa_server.install()
    model = RasaModel.load("weights.tf_model", "example", "predict-example", config={"x": 1})
    assert isinstance(model, Model)
    assert seen["built_eagerly"] is True
    # Rasa's own warm-up prediction is taken out of the eager part and traced after it.
    assert seen["args"] == ("weights.tf_model", "example", None, False, (), {"config": {"x": 1}})
    assert seen["predicted_eagerly"] is False and seen["predicted_on"] == "predict-example"
    assert not tf.config.functions_run_eagerly()

    seen.clear()
    RasaModel.load("weights.tf_model", "example", "predict-example", True)  # finetuning
    assert "predicted_on" not in seen


# ---------------------------------------------------------------------------
# Event classes by name


def test_event_classes_are_resolved_like_rasa_and_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rasa.shared.core.events import ActionExecuted, Event, UserUttered
    from rasa.shared.utils.common import all_subclasses

    original = Event.resolve_by_type
    monkeypatch.setattr(rasa_server, "_event_classes", {})
    calls: list[str] = []

    def counting(type_name: str, default: Any = None) -> Any:
        calls.append(type_name)
        return original(type_name, default)

    resolve = rasa_server._cached_resolve_by_type(counting)
    for cls in all_subclasses(Event):
        if getattr(cls, "type_name", None):
            assert resolve(cls.type_name) is original(cls.type_name)
    assert resolve("user") is UserUttered and resolve("action") is ActionExecuted
    assert calls.count("user") == 1  # later lookups come from the cache
    # What Rasa does for names it does not know is unchanged, and not remembered.
    assert resolve("topic") is None
    assert resolve("no_such_event", UserUttered) is UserUttered
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        resolve("no_such_event")
    assert "no_such_event" not in rasa_server._event_classes
    # A stored conversation still deserialises to the same events.
    stored = [{"event": "user", "text": "你好", "parse_data": {"intent": {"name": "greet"}}},
              {"event": "action", "name": "action_listen"}, {"event": "pause"}]
    monkeypatch.setattr(Event, "resolve_by_type", staticmethod(resolve))
    events = [Event.from_parameters(e) for e in stored]
    assert [type(e).__name__ for e in events] == ["UserUttered", "ActionExecuted",
                                                  "ConversationPaused"]
