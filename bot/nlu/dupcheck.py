"""Checks that the held-out NLU set is disjoint from the training data.

Usage: python -m bot.nlu.dupcheck [--train data/nlu] [--heldout tests/nlu/heldout.yml]

Texts are compared after entity markup is removed (Rasa's own YAML reader does
that) and after normalisation (traditional -> simplified, widths, spaces, case,
trailing punctuation), so 查詢餘額 and 查询余额 count as the same example.

Retrieval intents (faq/<topic>) count as one intent (faq) for the intent
minimums, and each topic must have its own, smaller minimums.
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
MIN_TOPIC_TRAIN, MIN_TOPIC_HELDOUT = 12, 4  # per retrieval topic (faq/<topic>)
_TRAILING = " .,!?~。！？～…"


def canonical(text: str) -> str:
    """The form in which two examples count as duplicates."""
    return normalize_text(text).lower().strip(_TRAILING)


def _yaml_files(path: Path) -> Iterable[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml"))


def load_examples(path: Path, by_topic: bool = False) -> dict[str, list[str]]:
    """Intent -> example texts (markup removed) from a YAML file or a folder.

    With ``by_topic``, retrieval intents are keyed by their full name (faq/atm_limit)
    instead of the intent (faq)."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    examples: dict[str, list[str]] = defaultdict(list)
    for file in _yaml_files(path):
        data = RasaYAMLReader().read(str(file))
        for message in data.intent_examples:
            key = (by_topic and message.get("intent_response_key")) or message.get("intent")
            examples[key].append(message.get("text"))
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


def topic_problems(
    train: dict[str, list[str]],
    heldout: dict[str, list[str]],
    min_train: int = MIN_TOPIC_TRAIN,
    min_heldout: int = MIN_TOPIC_HELDOUT,
) -> list[str]:
    """Retrieval topics (keys with a /, from ``load_examples(by_topic=True)``) with
    too few examples on either side."""
    found = []
    for topic in sorted(k for k in set(train) | set(heldout) if "/" in k):
        n_train, n_heldout = len(train.get(topic, [])), len(heldout.get(topic, []))
        if n_train < min_train:
            found.append(f"{topic}: {n_train} training examples (< {min_train})")
        if n_heldout < min_heldout:
            found.append(f"{topic}: {n_heldout} held-out examples (< {min_heldout})")
    return found


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 1 when a problem is found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=TRAIN_DIR)
    parser.add_argument("--heldout", type=Path, default=HELDOUT_FILE)
    args = parser.parse_args(argv)
    train, heldout = load_examples(args.train), load_examples(args.heldout)
    train_topics = load_examples(args.train, by_topic=True)
    heldout_topics = load_examples(args.heldout, by_topic=True)
    found = problems(train, heldout) + topic_problems(train_topics, heldout_topics)
    topics = {k for k in set(train_topics) | set(heldout_topics) if "/" in k}
    names = set(train) | set(heldout) | topics
    for name in sorted(names):
        left, right = (train_topics, heldout_topics) if "/" in name else (train, heldout)
        print(f"{name:36} train={len(left.get(name, [])):3} heldout={len(right.get(name, [])):3}")
    for line in found:
        print("PROBLEM:", line)
    print("ok" if not found else f"{len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
