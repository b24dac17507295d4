"""Checks that the held-out NLU set is disjoint from the training data.

Usage: python -m bot.nlu.dupcheck [--train data/nlu] [--heldout tests/nlu/heldout.yml]

Texts are compared after entity markup is removed (Rasa's own YAML reader does
that) and after normalisation (traditional -> simplified, widths, spaces, case,
trailing punctuation), so 查詢餘額 and 查询余额 count as the same example.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from bot.nlu.normalizer import normalize_text

TRAIN_DIR = Path("data/nlu")
HELDOUT_FILE = Path("tests/nlu/heldout.yml")
MIN_TRAIN, MIN_HELDOUT = 30, 10
_TRAILING = " .,!?~。！？～…"


def canonical(text: str) -> str:
    """The form in which two examples count as duplicates."""
    return normalize_text(text).lower().strip(_TRAILING)


def _yaml_files(path: Path) -> Iterable[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml"))


def load_examples(path: Path) -> dict[str, list[str]]:
    """Intent -> example texts (markup removed) from a YAML file or a folder."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    examples: dict[str, list[str]] = defaultdict(list)
    for file in _yaml_files(path):
        data = RasaYAMLReader().read(str(file))
        for message in data.intent_examples:
            examples[message.get("intent")].append(message.get("text"))
    return dict(examples)


def overlaps(train: dict[str, list[str]], heldout: dict[str, list[str]]) -> list[str]:
    """Held-out texts that also occur (in canonical form) in the training data."""
    seen: set[str] = {canonical(t) for texts in train.values() for t in texts}
    return [t for texts in heldout.values() for t in texts if canonical(t) in seen]


def problems(
    train: dict[str, list[str]],
    heldout: dict[str, list[str]],
    intents: Iterable[str] = (),
    min_train: int = MIN_TRAIN,
    min_heldout: int = MIN_HELDOUT,
) -> list[str]:
    """Human-readable list of everything wrong (empty when all is well)."""
    found = [f"held-out text is in the training data: {t}" for t in overlaps(train, heldout)]
    for intent in sorted(set(intents) | set(train) | set(heldout)):
        n_train, n_heldout = len(train.get(intent, [])), len(heldout.get(intent, []))
        if n_train < min_train:
            found.append(f"{intent}: {n_train} training examples (< {min_train})")
        if n_heldout < min_heldout:
            found.append(f"{intent}: {n_heldout} held-out examples (< {min_heldout})")
    return found


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 1 when a problem is found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=TRAIN_DIR)
    parser.add_argument("--heldout", type=Path, default=HELDOUT_FILE)
    args = parser.parse_args(argv)
    train, heldout = load_examples(args.train), load_examples(args.heldout)
    found = problems(train, heldout)
    for intent in sorted(set(train) | set(heldout)):
        print(
            f"{intent:22} train={len(train.get(intent, [])):3} "
            f"heldout={len(heldout.get(intent, [])):3}"
        )
    for line in found:
        print("PROBLEM:", line)
    print("ok" if not found else f"{len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
