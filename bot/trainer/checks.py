"""Checks of the training data that ``rasa data validate`` lacks.

Errors fail ``python -m bot.validate`` (and CI); warnings are shown to trainers:

- the same example (folded, simplified, lower case, no punctuation) under two intents
  (error), or twice under one intent (warning);
- near-duplicates across intents: character-bigram Jaccard similarity >= 0.9 (warning);
- intents with fewer than N examples (error; N = 30, 12 for each faq/<topic>, the
  minimums of bot/nlu/dupcheck.py), and fewer held-out examples than the tests require
  (warning);
- training examples that are in the held-out or blind test sets (error);
- entities in the domain that no example annotates (warning) unless ChineseEntityExtractor
  fills them or code sends them in button payloads; annotations of entities the domain
  lacks or the extractor owns (error); annotations that cut a jieba token (warning);
- intents missing from the domain (error), responses no rule, story, form or code uses
  (error).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .nludata import (
    RESERVED_INTENTS,
    RETRIEVAL_INTENT,
    Domain,
    NluExample,
    ProjectPaths,
    compare_key,
    extractor_entities,
    load_yaml,
    read_domain,
    read_examples_file,
    read_nlu,
    tokenize,
    yaml_files,
)

# bot/nlu/dupcheck.py: MIN_TRAIN, MIN_TOPIC_TRAIN, MIN_HELDOUT, MIN_TOPIC_HELDOUT (a test
# keeps them equal; that module is not imported because it loads Rasa's engine).
DEFAULT_MIN_EXAMPLES = 30
DEFAULT_MIN_FAQ_EXAMPLES = 12
MIN_HELDOUT, MIN_FAQ_HELDOUT = 10, 4
NEAR_DUPLICATE = 0.9
ERROR, WARNING = "error", "warning"
# A button payload that sets an entity: /inform{"risk_answer": "A"} (also in f-strings).
_PAYLOAD_ENTITY = re.compile(r'/[\w{}]*?\{\{?\s*\\?"(\w+)\\?"\s*:')


@dataclass(frozen=True)
class Finding:
    """One problem: how bad, a stable code, what is wrong, where (file or intent)."""

    severity: str
    code: str
    message: str
    where: str

    def __str__(self) -> str:
        return f"{self.severity} [{self.code}] {self.where}: {self.message}"


@dataclass
class _Data:
    """Everything the checks read, loaded once."""

    project: ProjectPaths
    examples: list[NluExample]
    domain: Domain


# --- similarity ----------------------------------------------------------------------


def bigrams(key: str) -> frozenset[str]:
    """Character bigrams of ``key`` (the key itself when shorter than two characters)."""
    if len(key) < 2:
        return frozenset([key]) if key else frozenset()
    return frozenset(key[i : i + 2] for i in range(len(key) - 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def similar_pairs(
    keys: Sequence[str], threshold: float = NEAR_DUPLICATE
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, similarity), i < j, of ``keys`` whose bigram Jaccard similarity is at
    least ``threshold``. Prefix filtering: two sets that similar share a bigram among
    the rarest few of either, so only those are indexed and compared."""
    sets = [bigrams(k) for k in keys]
    frequency = Counter(token for s in sets for token in s)
    ordered = [sorted(s, key=lambda t: (frequency[t], t)) for s in sets]
    order = sorted(range(len(keys)), key=lambda i: len(sets[i]))
    index: dict[str, list[int]] = defaultdict(list)
    pairs = []
    for i in order:
        size = len(sets[i])
        if not size:
            continue
        prefix = ordered[i][: size - math.ceil(threshold * size) + 1]
        candidates: set[int] = set()
        for token in prefix:
            candidates.update(j for j in index[token] if len(sets[j]) >= threshold * size)
        for j in candidates:
            score = jaccard(sets[i], sets[j])
            if score >= threshold:
                pairs.append((min(i, j), max(i, j), score))
        for token in prefix:
            index[token].append(i)
    return sorted(pairs)


# --- the checks ------------------------------------------------------------------------


def check_duplicates(data: _Data) -> list[Finding]:
    """The same example under two intents, or twice under one."""
    by_key: dict[str, list[NluExample]] = defaultdict(list)
    for item in data.examples:
        by_key[compare_key(item.example.text)].append(item)
    findings = []
    for items in by_key.values():
        intents = sorted({i.intent for i in items})
        if len(intents) > 1:
            places = ", ".join(
                f"{i.intent} ({data.project.relative(i.path)}: {i.markup})" for i in items
            )
            findings.append(
                Finding(
                    ERROR,
                    "duplicate-across-intents",
                    f"the same example under {len(intents)} intents: {places}",
                    intents[0],
                )
            )
        elif len(items) > 1:
            texts = " / ".join(i.markup for i in items)
            findings.append(
                Finding(
                    WARNING,
                    "duplicate-in-intent",
                    f"the same example {len(items)} times: {texts}",
                    intents[0],
                )
            )
    return findings


def check_near_duplicates(data: _Data, threshold: float = NEAR_DUPLICATE) -> list[Finding]:
    """Examples of different intents that differ in a character or two."""
    unique: dict[str, NluExample] = {}
    for item in data.examples:
        unique.setdefault(compare_key(item.example.text), item)
    keys = list(unique)
    findings = []
    for i, j, score in similar_pairs(keys, threshold):
        a, b = unique[keys[i]], unique[keys[j]]
        if a.intent != b.intent and keys[i] != keys[j]:
            findings.append(
                Finding(
                    WARNING,
                    "near-duplicate",
                    f"「{a.example.text}」 ({a.intent}) and 「{b.example.text}」 ({b.intent}) are "
                    f"{score:.0%} alike",
                    f"{a.intent} / {b.intent}",
                )
            )
    return findings


def check_counts(data: _Data, min_examples: int, min_faq_examples: int) -> list[Finding]:
    """Intents with too few training examples, or too few held-out ones."""
    counts = Counter(item.intent for item in data.examples)
    faq_total = sum(n for name, n in counts.items() if name.startswith(RETRIEVAL_INTENT + "/"))
    names = set(counts) | {n for n in data.domain.intents if n not in RESERVED_INTENTS}
    findings = []
    for name in sorted(names):
        floor = min_faq_examples if "/" in name else min_examples
        if counts.get(name, 0) < floor:
            findings.append(
                Finding(
                    ERROR,
                    "too-few-examples",
                    f"{counts.get(name, 0)} examples (at least {floor})",
                    name,
                )
            )
    if RETRIEVAL_INTENT in data.domain.intents and faq_total < min_examples:
        findings.append(
            Finding(
                ERROR,
                "too-few-examples",
                f"{faq_total} faq examples in all (at least {min_examples})",
                RETRIEVAL_INTENT,
            )
        )
    heldout = read_examples_file(data.project.heldout) if data.project.heldout.is_file() else None
    if heldout is None:
        return findings
    heldout_counts = {name: len(texts) for name, texts in heldout.items()}
    for name in sorted(set(counts)):
        floor = MIN_FAQ_HELDOUT if "/" in name else MIN_HELDOUT
        if heldout_counts.get(name, 0) < floor:
            findings.append(
                Finding(
                    WARNING,
                    "few-heldout-examples",
                    f"{heldout_counts.get(name, 0)} held-out examples in "
                    f"{data.project.relative(data.project.heldout)} (the NLU tests want {floor})",
                    name,
                )
            )
    return findings


def check_test_sets(data: _Data) -> list[Finding]:
    """Training examples that are also in the held-out or blind test sets."""
    findings = []
    training = {compare_key(item.example.text): item for item in data.examples}
    for path in (data.project.heldout, data.project.blind):
        if not path.is_file():
            continue
        for intent, texts in read_examples_file(path).items():
            for text in texts:
                item = training.get(compare_key(text))
                if item is not None:
                    findings.append(
                        Finding(
                            ERROR,
                            "test-set-overlap",
                            f"「{item.example.text}」 ({item.intent}) is also in "
                            f"{data.project.relative(path)} ({intent})",
                            item.intent,
                        )
                    )
    return findings


def payload_entities(data: _Data) -> set[str]:
    """Entities set by button payloads in actions/ or the domain (/inform{"x": ...})."""
    sources = [
        p.read_text(encoding="utf-8")
        for p in sorted((data.project.code_root / "actions").glob("*.py"))
    ]
    sources += [p.read_text(encoding="utf-8") for p in yaml_files(data.project.domain)]
    return {m.group(1) for source in sources for m in _PAYLOAD_ENTITY.finditer(source)}


def check_entities(data: _Data) -> list[Finding]:
    """Annotations against the domain, the rule-based extractor and jieba's tokens."""
    by_rules = extractor_entities(data.project)
    annotated: set[str] = set()
    findings = []
    for item in data.examples:
        for span in item.example.entities:
            annotated.add(span.entity)
            where = data.project.relative(item.path)
            if span.entity in by_rules:
                findings.append(
                    Finding(
                        ERROR,
                        "rule-entity-annotated",
                        f"{item.markup} ({item.intent}): {span.entity} is extracted by "
                        "ChineseEntityExtractor and must not be annotated",
                        where,
                    )
                )
            elif span.entity not in data.domain.entities:
                findings.append(
                    Finding(
                        ERROR,
                        "entity-not-in-domain",
                        f"{item.markup} ({item.intent}): '{span.entity}' is not in domain/",
                        where,
                    )
                )
        findings += _misaligned(data, item)
    filled_elsewhere = by_rules | payload_entities(data)
    for entity in sorted(set(data.domain.entities) - annotated - filled_elsewhere):
        findings.append(
            Finding(
                WARNING,
                "entity-never-annotated",
                "no training example annotates it (nor is it extracted by rules or set by a button payload)",
                entity,
            )
        )
    return findings


def _misaligned(data: _Data, item: NluExample) -> list[Finding]:
    if not item.example.entities:
        return []
    tokens = tokenize(item.example.text, data.project)
    starts, ends = {t.start for t in tokens}, {t.end for t in tokens}
    return [
        Finding(
            WARNING,
            "entity-misaligned",
            f"{item.markup} ({item.intent}): 「{item.example.text[s.start : s.end]}」 does not "
            f"start and end on jieba tokens ({' | '.join(t.text for t in tokens)})",
            data.project.relative(item.path),
        )
        for s in item.example.entities
        if s.start not in starts or s.end not in ends
    ]


def check_domain_intents(data: _Data) -> list[Finding]:
    """Intents with examples that no domain file lists."""
    names = sorted({item.intent.split("/")[0] for item in data.examples} - set(data.domain.intents))
    return [
        Finding(ERROR, "intent-not-in-domain", "has examples but no domain file lists it", n)
        for n in names
    ]


def _actions_in(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        if isinstance(node.get("action"), str):
            yield node["action"]
        for value in node.values():
            yield from _actions_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _actions_in(value)


def check_responses(data: _Data) -> list[Finding]:
    """Responses no rule, story, form or code sends (bot/validate.py's accepted senders)."""
    from bot.validate import is_used, used_by_code

    used = set(used_by_code(data.project.code_root))
    for path in yaml_files(data.project.data / "rules") + yaml_files(data.project.data / "stories"):
        used.update(_actions_in(load_yaml(path)))
    for form, spec in data.domain.forms.items():
        for slot in (spec or {}).get("required_slots") or []:
            used.update({f"utter_ask_{slot}", f"utter_ask_{form}_{slot}"})
    findings = []
    for name, topic in sorted(data.domain.responses.items()):
        base = name.split("/")[0]  # utter_faq/<topic> is sent through utter_faq
        if not (is_used(name, used) or (base != name and is_used(base, used))):
            findings.append(
                Finding(
                    ERROR,
                    "response-unused",
                    "no rule, story, form or code sends it",
                    f"{name} (domain/{topic}.yml)",
                )
            )
    return findings


def run_checks(
    project: ProjectPaths,
    min_examples: int = DEFAULT_MIN_EXAMPLES,
    *,
    min_faq_examples: int = DEFAULT_MIN_FAQ_EXAMPLES,
    progress: Callable[[str], None] | None = None,
) -> list[Finding]:
    """Every check; errors first, then warnings."""
    data = _Data(project, read_nlu(project), read_domain(project))
    steps: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("duplicates", lambda: check_duplicates(data)),
        ("near-duplicates", lambda: check_near_duplicates(data)),
        ("example counts", lambda: check_counts(data, min_examples, min_faq_examples)),
        ("test sets", lambda: check_test_sets(data)),
        ("entities", lambda: check_entities(data)),
        ("domain intents", lambda: check_domain_intents(data)),
        ("responses", lambda: check_responses(data)),
    ]
    findings: list[Finding] = []
    for name, step in steps:
        if progress is not None:
            progress(name)
        findings += step()
    return sorted(findings, key=lambda f: (f.severity != ERROR, f.code, f.where))


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == ERROR]
