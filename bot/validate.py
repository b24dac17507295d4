"""`rasa data validate`, strict: every warning fails, except one known false positive.

Rasa warns that a response is "not used in any story or rule" when only a custom
action, a form or the staff console sends it. Those are accepted when the response
name appears in actions/ or bot/console/ or is a form's utter_ask_<slot> (the domain
contract test checks the same from the other side); every other warning or error
fails the run.

Then the trainer checks (bot/trainer/checks.py: duplicates across intents, example
counts, entities, test-set leaks, ...) run on the same data; their errors fail the
run too, their warnings are only printed.

    python -m bot.validate [--domain domain] [--data data] [--config config.yml]
                           [--min-examples 30] [--no-checks]
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from bot.settings import PROJECT_ROOT

# Rasa 3.6 prints this migration notice every time it loads any domain.
NOTICES = ("Slot auto-fill has been removed in 3.0",)
# Responses that Rasa's own default actions send (two-stage fallback's second stage).
RASA_DEFAULT_RESPONSES = {"utter_ask_rephrase"}
UNUSED = re.compile(r"The utterance '(utter_[A-Za-z0-9_]+)' is not used in any story or rule")


def names_used_in_actions(actions_dir: Path) -> set[str]:
    """Response names sent by code, including f-string families like utter_x_{op}."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in actions_dir.glob("*.py"))
    exact = set(re.findall(r'"(utter_[a-z0-9_]+)"', source))
    prefixes = set(re.findall(r'f"(utter_[a-z0-9_]*)\{', source))
    return exact | {p + "*" for p in prefixes}


def is_used(name: str, used: set[str]) -> bool:
    return name in used or any(u.endswith("*") and name.startswith(u[:-1]) for u in used)


def used_by_code(code_root: Path = PROJECT_ROOT) -> set[str]:
    """Responses sent by code: custom actions, the staff console, Rasa's default actions."""
    used = names_used_in_actions(code_root / "actions") | RASA_DEFAULT_RESPONSES
    # The staff console sends a few responses itself (a person joins or leaves).
    used |= names_used_in_actions(code_root / "bot" / "console")
    return used


def validate(domain: str, data: str, config: str) -> list[str]:
    """Run Rasa's validator; return the problems that are not known false positives."""
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.validator import Validator

    importer = TrainingDataImporter.load_from_dict(
        config_path=config, domain_path=domain, training_data_paths=[data]
    )
    used = used_by_code()
    # A form asks for a slot with utter_ask_<slot> when there is no action_ask_<slot>.
    used |= {f"utter_ask_{slot}" for form in importer.get_domain().forms.values()
             for slot in form.get("required_slots", [])}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validator = Validator.from_importer(importer)
        results = [
            validator.verify_domain_validity(),
            validator.verify_actions_in_stories_rules(),
            validator.verify_forms_in_stories_rules(),
            validator.verify_form_slots(),
            validator.verify_slot_mappings(),
            validator.verify_nlu(True),
            validator.verify_story_structure(True),
        ]
    problems = [] if all(results) else ["Rasa's validator reported errors (see the log above)"]
    for warning in caught:
        if issubclass(warning.category, (DeprecationWarning, PendingDeprecationWarning)):
            continue
        text = str(warning.message)
        if text.startswith(NOTICES):
            continue
        match = UNUSED.search(text)
        if match and is_used(match.group(1), used):
            continue
        problems.append(text)
    return problems


def run_trainer_checks(domain: str, data: str, config: str, min_examples: int) -> list[Any]:
    """The trainer checks (bot/trainer/checks.py) on the same files; findings, errors first."""
    from bot.trainer.checks import run_checks
    from bot.trainer.nludata import ProjectPaths

    return run_checks(ProjectPaths.from_parts(domain, data, config), min_examples)


def main(argv: list[str] | None = None) -> int:
    from bot.trainer.checks import DEFAULT_MIN_EXAMPLES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="domain")
    parser.add_argument("--data", default="data")
    parser.add_argument("--config", default="config.yml")
    parser.add_argument(
        "--min-examples", type=int, default=DEFAULT_MIN_EXAMPLES,
        help="fewest training examples per intent (faq/<topic>: 12)",
    )
    parser.add_argument("--no-checks", action="store_true", help="only Rasa's validator")
    args = parser.parse_args(argv)
    problems = validate(args.domain, args.data, args.config)
    for problem in problems:
        print(f"validation: {problem}")
    print("data validation: " + ("clean" if not problems else f"{len(problems)} problem(s)"))
    if args.no_checks:
        return 1 if problems else 0
    findings = run_trainer_checks(args.domain, args.data, args.config, args.min_examples)
    for finding in findings:
        print(f"check: {finding}")
    severe = sum(1 for f in findings if f.severity == "error")
    print(f"trainer checks: {severe} error(s), {len(findings) - severe} warning(s)")
    return 1 if problems or severe else 0


if __name__ == "__main__":
    sys.exit(main())
