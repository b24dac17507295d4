"""Every action and response that code names exists in the domain, and vice versa."""

from __future__ import annotations

import ast
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


def test_every_action_class_is_declared(domain: Domain) -> None:
    import actions.accounts
    import actions.cards
    import actions.conversation
    import actions.support
    import actions.verification
    from rasa_sdk import Action

    modules = [
        actions.accounts,
        actions.cards,
        actions.conversation,
        actions.support,
        actions.verification,
    ]
    names = set()
    for module in modules:
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Action) and obj.__module__ == module.__name__:
                try:
                    names.add(obj().name())
                except NotImplementedError:
                    continue
    names.discard("action_")  # abstract bases
    declared = set(domain.user_actions) | set(domain.form_names)
    missing = {n for n in names if n not in declared}
    assert not missing, f"actions not declared in domain/: {missing}"


def test_every_declared_custom_action_is_implemented(domain: Domain) -> None:
    sources = "\n".join(src for _, src in _action_sources())
    tree_names = set()
    for _, src in _action_sources():
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                tree_names.add(node.value)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                tree_names.add(f"action_{node.value.value}")
    for action in domain.user_actions:
        if action.startswith("utter_"):
            continue
        assert action in tree_names or action in sources, f"{action} has no implementation"


def test_forms_can_ask_every_slot(domain: Domain) -> None:
    for form, spec in domain.forms.items():
        for slot in spec["required_slots"]:
            asks = {f"utter_ask_{slot}", f"utter_ask_{form}_{slot}", f"action_ask_{slot}"}
            assert asks & (set(domain.responses) | set(domain.user_actions)), (form, slot)
