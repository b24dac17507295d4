"""Every action and response that code names exists in the domain, and vice versa."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain

ROOT = Path(__file__).resolve().parents[2]
ACTIONS_DIR = ROOT / "actions"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain"))


def _action_sources() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(ACTIONS_DIR.glob("*.py"))]


def _response_names() -> set[str]:
    names: set[str] = set()
    for _, source in _action_sources():
        names.update(re.findall(r'response="(utter_[a-z0-9_]+)"', source))
        # f-string responses: expand the known suffixes of each prefix.
        for prefix in re.findall(r'response=f"(utter_[a-z0-9_]*)\{', source):
            names.add(prefix + "*")
    return names


def test_responses_used_in_actions_exist(domain: Domain) -> None:
    known = set(domain.responses)
    for name in _response_names():
        if name.endswith("*"):
            assert any(r.startswith(name[:-1]) for r in known), name
        else:
            assert name in known, f"{name} is used in actions/ but missing from domain/"


def test_templated_response_families_are_complete(domain: Domain) -> None:
    ops = ("report_card_lost", "freeze_card", "unfreeze_card")
    for op in ops:
        assert f"utter_ask_card_confirmed_{op}" in domain.responses
        assert f"utter_no_card_for_{op}" in domain.responses
    for kind in ("single", "daily"):
        for channel in ("web", "wechat"):
            assert f"utter_limit_exceeded_{kind}_{channel}" in domain.responses
    for state in ("frozen", "lost"):
        assert f"utter_transfer_card_blocked_{state}" in domain.responses
    for state in ("frozen", "active"):
        assert f"utter_card_state_conflict_{state}" in domain.responses


def implemented_actions() -> set[str]:
    """Names of every concrete Action subclass in the actions package."""
    import importlib
    import inspect
    import pkgutil

    from rasa_sdk import Action

    import actions

    for info in pkgutil.iter_modules(actions.__path__):
        importlib.import_module(f"actions.{info.name}")
    names: set[str] = set()
    pending = list(Action.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not cls.__module__.startswith("actions.") or inspect.isabstract(cls):
            continue
        try:
            name = cls().name()
        except NotImplementedError:
            continue
        if name and not name.endswith("_"):
            names.add(name)
    return names


def test_every_action_class_is_declared(domain: Domain) -> None:
    # action_session_start overrides Rasa's default and needs no declaration.
    declared = set(domain.user_actions) | set(domain.form_names) | {"action_session_start"}
    missing = implemented_actions() - declared
    assert not missing, f"actions not declared in domain/: {missing}"


def test_every_declared_custom_action_is_implemented(domain: Domain) -> None:
    implemented = implemented_actions()
    for action in domain.user_actions:
        if action.startswith("utter_"):
            continue
        assert action in implemented, f"{action} has no implementation"


def test_forms_can_ask_every_slot(domain: Domain) -> None:
    for form, spec in domain.forms.items():
        for slot in spec["required_slots"]:
            asks = {f"utter_ask_{slot}", f"utter_ask_{form}_{slot}", f"action_ask_{slot}"}
            assert asks & (set(domain.responses) | set(domain.user_actions)), (form, slot)


def test_the_action_server_registers_the_package() -> None:
    # What `rasa run actions` does at start: every concrete Action subclass is
    # registered by name (an abstract base without a name stops the server).
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    assert "action_exchange_rate" in executor.actions
    assert "action_check_balance" in executor.actions
