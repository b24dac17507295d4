"""bot.rasa_server: Rasa's action-response validation without re-checking the schema."""

from __future__ import annotations

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


def test_installed_validation_accepts_and_rejects_like_rasa(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = RemoteAction._validate_action_result
    monkeypatch.setattr(rasa_server, "_installed", False)
    monkeypatch.setattr(RemoteAction, "_validate_action_result", original)
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
    stack = Stack(Settings.from_env({"BANKBOT_DATA_DIR": str(tmp_path)}), tmp_path / "m.tar.gz")
    rasa = next(p for p in stack.plan() if p.name == "rasa")
    assert rasa.args[1:4] == ["-m", "bot.rasa_server", "run"]
