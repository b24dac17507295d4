"""The training data as reviewable YAML: read and extend data/nlu/<topic>.yml and domain/.

Files are parsed with ruamel.yaml's round-trip loader, which says where every node
is. A write inserts new lines into the file's text at the place the parse gives (the
end of an intent's ``examples: |`` block, the end of ``nlu:``, ``intents:`` or
``responses:``), so comments, order, quoting and layout stay byte for byte and the
change is a diff of added lines only. The new text is parsed again and must hold
exactly the old data plus the additions before it replaces the file (atomically,
under a lock). Every write is recorded in var/trainer/changes.jsonl with its author.

Examples use Rasa's inline markup: ``[李娜](payee)``, ``[储蓄卡]{"entity":
"account_type", "value": "储蓄卡"}``. amount, card_last4, phone and otp_code are never
annotated: ChineseEntityExtractor (bot/nlu/entities.py) extracts them with rules.

This module does not import Rasa's engine (which loads TensorFlow): text is compared
and tokenised with the same folding as bot/nlu/normalizer.py, done per character.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from io import StringIO
from pathlib import Path
from typing import Any

from bot.settings import PROJECT_ROOT

INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
TOPIC_NAME = re.compile(r"^_?[a-z][a-z0-9_]*$")
SHARED_TOPIC = "_shared"
FAQ_TOPIC = "faq"
RETRIEVAL_INTENT = "faq"  # config.yml: ResponseSelector retrieval_intent
NOT_TOPICS = frozenset({"lookups", "regex"})  # data/nlu files without intents
RESERVED_INTENTS = frozenset({"nlu_fallback", RETRIEVAL_INTENT})
# ChineseEntityExtractor's default dimensions (bot.nlu.entities.ALL_DIMENSIONS; a test
# keeps the two equal). config.yml may narrow them with `dimensions`.
EXTRACTOR_ENTITIES = ("amount", "card_last4", "phone", "otp_code", "account_number")
EXTRACTOR_COMPONENT = "ChineseEntityExtractor"
MAX_EXAMPLE_CHARS = 300
NLU_VERSION = '"3.1"'

# The character folding of bot/nlu/normalizer.py (full width -> half width, ideographic
# space, yen sign, zero-width characters), repeated here to stay free of Rasa's engine.
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad")
_FULLWIDTH_FIRST, _FULLWIDTH_LAST, _FULLWIDTH_OFFSET = 0xFF01, 0xFF5E, 0xFEE0
_EXTRA_FOLDS = {"\u3000": " ", "\uffe5": "\u00a5"}


class TrainerError(Exception):
    """A request the training data cannot take (the message says why, for people)."""


# --- project layout ----------------------------------------------------------------


@dataclass(frozen=True)
class ProjectPaths:
    """Where one project's training data lives (a copy in tests, the repository otherwise).

    ``code_root`` holds the code that is never copied: actions/, bot/ (the jieba
    dictionary, the console's responses)."""

    root: Path
    data_dir: Path | None = None
    domain_dir: Path | None = None
    config_file: Path | None = None
    code_root: Path = PROJECT_ROOT

    @classmethod
    def default(cls) -> ProjectPaths:
        """The repository itself."""
        return cls(PROJECT_ROOT)

    @classmethod
    def from_parts(cls, domain: str | Path, data: str | Path, config: str | Path) -> ProjectPaths:
        """From ``rasa``-style paths (``--domain domain --data data --config config.yml``)."""
        data_path = Path(data).resolve()
        return cls(
            data_path.parent,
            data_dir=data_path,
            domain_dir=Path(domain).resolve(),
            config_file=Path(config).resolve(),
        )

    @property
    def data(self) -> Path:
        return self.data_dir or self.root / "data"

    @property
    def nlu_dir(self) -> Path:
        return self.data / "nlu"

    @property
    def domain(self) -> Path:
        return self.domain_dir or self.root / "domain"

    @property
    def config(self) -> Path:
        return self.config_file or self.root / "config.yml"

    @property
    def heldout(self) -> Path:
        return self.root / "tests" / "nlu" / "heldout.yml"

    @property
    def blind(self) -> Path:
        return self.root / "tests" / "nlu" / "blind.yml"

    @property
    def trainer_dir(self) -> Path:
        return self.root / "var" / "trainer"

    @property
    def changes_log(self) -> Path:
        return self.trainer_dir / "changes.jsonl"

    def nlu_file(self, topic: str) -> Path:
        return self.nlu_dir / f"{topic}.yml"

    def domain_file(self, topic: str) -> Path:
        return self.domain / f"{topic}.yml"

    def relative(self, path: Path) -> str:
        """``path`` relative to the project root (as shown in diffs and the change log)."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def topics(self) -> list[str]:
        """Topics with an NLU file (data/nlu/<topic>.yml), lookups and regexes excluded."""
        return sorted(p.stem for p in yaml_files(self.nlu_dir) if p.stem not in NOT_TOPICS)


def yaml_files(folder: Path) -> list[Path]:
    """The YAML files directly in ``folder`` (sorted), none when it is missing."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


# --- examples and markup --------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """An entity annotation: characters ``start:end`` of the example's text."""

    start: int
    end: int
    entity: str
    value: str | None = None  # None: the annotated text itself
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Example:
    """One training example: plain text and its entity spans."""

    text: str
    entities: tuple[Span, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "entities", tuple(sorted(self.entities, key=_span_order)))

    def markup(self) -> str:
        """Rasa's inline markup: ``[李娜](payee)``, or a JSON dict when there is a value."""
        parts: list[str] = []
        position = 0
        for span in self.entities:
            surface = self.text[span.start : span.end]
            parts.append(self.text[position : span.start])
            attributes = {"entity": span.entity}
            if span.value is not None and span.value != surface:
                attributes["value"] = span.value
            if span.role:
                attributes["role"] = span.role
            if span.group:
                attributes["group"] = span.group
            if len(attributes) == 1:
                parts.append(f"[{surface}]({span.entity})")
            else:
                parts.append(f"[{surface}]{json.dumps(attributes, ensure_ascii=False)}")
            position = span.end
        parts.append(self.text[position:])
        return "".join(parts)

    def surfaces(self) -> list[tuple[str, str]]:
        """(entity, annotated text) pairs."""
        return [(s.entity, self.text[s.start : s.end]) for s in self.entities]


def _span_order(span: Span) -> tuple[int, int]:
    return (span.start, span.end)


def parse_example(markup: str) -> Example:
    """An example from Rasa's inline markup (``转给[李娜](payee)``)."""
    from rasa.shared.nlu.training_data import entities_parser

    text = entities_parser.replace_entities(markup)
    spans = []
    for entity in entities_parser.find_entities_in_training_example(markup):
        surface = text[entity["start"] : entity["end"]]
        value = entity.get("value")
        spans.append(
            Span(
                entity["start"],
                entity["end"],
                entity["entity"],
                value=None if value == surface else value,
                role=entity.get("role"),
                group=entity.get("group"),
            )
        )
    return Example(text, tuple(spans))


def examples_from_block(block: Any) -> list[str]:
    """The markup lines of an ``examples:`` value, read the way Rasa reads them."""
    if isinstance(block, str):
        return [line[1:].strip("\n\r ") for line in block.splitlines() if line.startswith("-")]
    if isinstance(block, list):  # the long form: - text: ...
        return [str(item.get("text", "")) for item in block if isinstance(item, dict)]
    return []


# --- text comparison and tokens -------------------------------------------------------


@lru_cache(maxsize=1)
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def _fold_char(ch: str) -> str:
    code = ord(ch)
    if _FULLWIDTH_FIRST <= code <= _FULLWIDTH_LAST:
        return chr(code - _FULLWIDTH_OFFSET)
    return _EXTRA_FOLDS.get(ch, ch)


def fold(text: str) -> str:
    """Width folding, zero-width characters dropped, traditional -> simplified."""
    folded = "".join(_fold_char(ch) for ch in text if ch not in _ZERO_WIDTH)
    return _t2s().convert(folded) if folded else folded


def _separator(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch).startswith(("P", "Z"))


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def compare_key(text: str) -> str:
    """The form in which two texts count as the same example: folded, simplified, lower
    case, without punctuation and whitespace, except between two Latin letters or digits
    where they change the tokens (``bye bye``, ``139 0013 9000``, ``1.5``). The folded
    text itself when nothing is left (an emoji-only message)."""
    folded = " ".join(fold(text).lower().split())
    kept: list[str] = []
    for index, ch in enumerate(folded):
        between_latin = (
            bool(kept)
            and _latin(kept[-1])
            and index + 1 < len(folded)
            and _latin(folded[index + 1])
        )
        if between_latin or not _separator(ch):
            kept.append(ch)
    return "".join(kept) or folded


@dataclass(frozen=True)
class Token:
    """One jieba token: text and character offsets in the original text."""

    text: str
    start: int
    end: int


def _aligned(text: str) -> tuple[str, list[int]]:
    """The text as the pipeline tokenises it (folded, simplified per character, zero-width
    characters dropped) and, for each of its characters, the index in ``text``."""
    t2s = _t2s()
    chars: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        if ch in _ZERO_WIDTH:
            continue
        folded = _fold_char(ch)
        simplified = t2s.convert(folded)
        chars.append(simplified if len(simplified) == 1 else folded)
        origin.append(index)
    return "".join(chars), origin


def jieba_dictionaries(project: ProjectPaths) -> list[Path]:
    """The custom dictionaries of the JiebaTokenizer in config.yml (files of its folder)."""
    for component in pipeline(project):
        if component.get("name") == "JiebaTokenizer" and component.get("dictionary_path"):
            configured = Path(str(component["dictionary_path"]))
            for base in (project.root, project.code_root):
                folder = configured if configured.is_absolute() else base / configured
                if folder.is_dir():
                    return sorted(p for p in folder.iterdir() if p.is_file())
    return []


@lru_cache(maxsize=4)
def _jieba(dictionaries: tuple[tuple[str, float], ...]) -> Any:
    import jieba

    tokenizer = jieba.Tokenizer()
    for path, _mtime in dictionaries:
        tokenizer.load_userdict(path)
    return tokenizer


def tokenize(text: str, project: ProjectPaths | None = None) -> list[Token]:
    """jieba tokens of ``text`` with the project's custom dictionary, as the pipeline
    sees the normalised text; offsets point into ``text``. Whitespace is no token."""
    project = project or ProjectPaths.default()
    key = tuple((str(p), p.stat().st_mtime) for p in jieba_dictionaries(project))
    aligned, origin = _aligned(text)
    tokens = []
    for word, start, end in _jieba(key).tokenize(aligned):
        if not word.strip():
            continue
        tokens.append(
            Token(text[origin[start] : origin[end - 1] + 1], origin[start], origin[end - 1] + 1)
        )
    return tokens


@dataclass(frozen=True)
class Annotation:
    """An example whose spans sit on token boundaries, the tokens, and what was changed."""

    example: Example
    tokens: tuple[Token, ...]
    warnings: tuple[str, ...]


def annotate(
    text: str,
    spans: Sequence[Span],
    tokens: Sequence[Token] | None = None,
    *,
    project: ProjectPaths | None = None,
) -> Annotation:
    """Snap selected ``spans`` of ``text`` to jieba token boundaries.

    A span that cuts a token is widened to whole tokens, with a warning (DIET cannot
    learn an entity that starts or ends inside a token). A span that is empty or
    overlaps an earlier one after snapping is dropped, with a warning."""
    tokens = list(tokens) if tokens is not None else tokenize(text, project)
    warnings: list[str] = []
    kept: list[Span] = []
    for span in sorted(spans, key=_span_order):
        start, end = max(0, span.start), min(len(text), span.end)
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        selected = text[span.start : span.end]
        if start >= end:
            warnings.append(
                f"「{selected}」({span.entity}): empty selection, not annotated / 空选区，未标注"
            )
            continue
        covering = [t for t in tokens if t.start < end and start < t.end]
        new_start = min([start, *(t.start for t in covering)])
        new_end = max([end, *(t.end for t in covering)])
        if (new_start, new_end) != (start, end):
            cut = " / ".join(
                t.text for t in covering if t.start < start < t.end or t.start < end < t.end
            )
            warnings.append(
                f"「{text[start:end]}」({span.entity}) cuts the token(s) 「{cut}」; widened to "
                f"「{text[new_start:new_end]}」 (or add the word to the jieba dictionary) / "
                f"选区切开了分词，已扩展为「{text[new_start:new_end]}」"
            )
        if kept and new_start < kept[-1].end:
            warnings.append(
                f"「{text[new_start:new_end]}」({span.entity}) overlaps "
                f"「{text[kept[-1].start : kept[-1].end]}」({kept[-1].entity}); cannot annotate both / "
                f"与已有标注重叠，未标注"
            )
            continue
        kept.append(Span(new_start, new_end, span.entity, span.value, span.role, span.group))
    return Annotation(Example(text, tuple(kept)), tuple(tokens), tuple(warnings))


# --- reading ----------------------------------------------------------------------------


def _yaml(round_trip: bool = True) -> Any:
    """A round-trip parser (positions, comments), or a safe one set up as Rasa's reader."""
    from ruamel.yaml import YAML

    yaml: Any = YAML(typ="rt") if round_trip else YAML(typ="safe", pure=True)
    if round_trip:
        yaml.preserve_quotes = True
    else:
        yaml.version = (1, 2)
    return yaml


def load_yaml(path: Path) -> Any:
    """A YAML file as plain data (None when it is missing or empty). Cached per file
    version: callers must not modify the result."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)


@lru_cache(maxsize=64)
def _load_cached(path: str, _mtime: int, _size: int, _inode: int) -> Any:
    return load_text(Path(path).read_text(encoding="utf-8"))


def pipeline(project: ProjectPaths) -> list[dict[str, Any]]:
    """The NLU pipeline of config.yml."""
    config = load_yaml(project.config) or {}
    return [c for c in config.get("pipeline") or [] if isinstance(c, dict)]


def extractor_entities(project: ProjectPaths) -> frozenset[str]:
    """Entities ChineseEntityExtractor fills with rules (never annotated in examples)."""
    for component in pipeline(project):
        if str(component.get("name", "")).endswith(EXTRACTOR_COMPONENT):
            return frozenset(component.get("dimensions") or EXTRACTOR_ENTITIES)
    return frozenset()


@dataclass(frozen=True)
class NluExample:
    """One example as it is in the files: intent, topic, markup and the parsed example."""

    intent: str
    topic: str
    path: Path
    markup: str
    example: Example


def read_nlu(project: ProjectPaths) -> list[NluExample]:
    """Every intent example of data/nlu, in file order."""
    found = []
    for path in yaml_files(project.nlu_dir):
        document = load_yaml(path) or {}
        for item in document.get("nlu") or []:
            if not isinstance(item, dict) or "intent" not in item:
                continue
            for line in examples_from_block(item.get("examples")):
                found.append(
                    NluExample(str(item["intent"]), path.stem, path, line, parse_example(line))
                )
    return found


def read_examples_file(path: Path) -> dict[str, list[str]]:
    """Intent -> example texts (markup removed) of one NLU file (held-out / blind sets)."""
    from rasa.shared.nlu.training_data import entities_parser

    found: dict[str, list[str]] = {}
    document = load_yaml(path) or {}
    for item in document.get("nlu") or []:
        if isinstance(item, dict) and "intent" in item:
            texts = [
                entities_parser.replace_entities(t)
                for t in examples_from_block(item.get("examples"))
            ]
            found.setdefault(str(item["intent"]), []).extend(texts)
    return found


@dataclass(frozen=True)
class Domain:
    """What the domain files declare, with the topic (file) that declares each name."""

    intents: dict[str, str]
    entities: dict[str, str]
    responses: dict[str, str]
    slots: dict[str, Any]
    forms: dict[str, Any]


def _names(items: Any) -> list[str]:
    """Names of an ``intents:`` / ``entities:`` list (plain or ``- name: {...}``)."""
    names: list[str] = []
    for item in items or []:
        if isinstance(item, dict):
            names.extend(str(k) for k in item)
        else:
            names.append(str(item))
    return names


def read_domain(project: ProjectPaths) -> Domain:
    """Intents, entities, responses, slots and forms of every domain file."""
    intents: dict[str, str] = {}
    entities: dict[str, str] = {}
    responses: dict[str, str] = {}
    slots: dict[str, Any] = {}
    forms: dict[str, Any] = {}
    paths = [project.domain] if project.domain.is_file() else yaml_files(project.domain)
    for path in paths:
        document = load_yaml(path) or {}
        for name in _names(document.get("intents")):
            intents.setdefault(name, path.stem)
        for name in _names(document.get("entities")):
            entities.setdefault(name, path.stem)
        for name in document.get("responses") or {}:
            responses.setdefault(str(name), path.stem)
        slots.update(document.get("slots") or {})
        forms.update(document.get("forms") or {})
    return Domain(intents, entities, responses, slots, forms)


@dataclass(frozen=True)
class IntentInfo:
    """Where an intent's examples are and how many there are."""

    intent: str
    topic: str
    path: Path
    examples: int
    in_domain: bool


def list_intents(project: ProjectPaths) -> dict[str, IntentInfo]:
    """Intents with examples (faq/<topic> one by one), sorted by name."""
    domain = read_domain(project)
    counts: dict[str, int] = {}
    where: dict[str, NluExample] = {}
    for item in read_nlu(project):
        counts[item.intent] = counts.get(item.intent, 0) + 1
        where.setdefault(item.intent, item)
    return {
        name: IntentInfo(
            name,
            where[name].topic,
            where[name].path,
            counts[name],
            name.split("/")[0] in domain.intents,
        )
        for name in sorted(counts)
    }


def topic_for_intent(project: ProjectPaths, intent: str, topic: str | None = None) -> str:
    """The topic file for ``intent``'s examples: the one that already holds it; for a new
    intent ``topic``, else the domain file that lists it, else _shared."""
    if intent.startswith(RETRIEVAL_INTENT + "/"):
        return FAQ_TOPIC
    for item in read_nlu(project):
        if item.intent == intent:
            return item.topic
    if topic:
        return topic
    return read_domain(project).intents.get(intent, SHARED_TOPIC)


# --- the change log ---------------------------------------------------------------------


def record_change(
    project: ProjectPaths,
    *,
    user: str,
    action: str,
    intent: str,
    files: Sequence[str],
    examples: Sequence[str],
    at: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Append one line to var/trainer/changes.jsonl; returns the record."""
    record = {
        "at": at or now_iso(),
        "user": user,
        "action": action,
        "file": files[0] if files else None,
        "files": list(files),
        "intent": intent,
        "examples": list(examples),
        **extra,
    }
    project.trainer_dir.mkdir(parents=True, exist_ok=True)
    with project.changes_log.open("a", encoding="utf-8") as log:
        log.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


def read_changes(project: ProjectPaths, limit: int | None = None) -> list[dict[str, Any]]:
    """The recorded changes, newest first."""
    if not project.changes_log.is_file():
        return []
    lines = project.changes_log.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in reversed(lines) if line.strip()]
    return records[:limit] if limit is not None else records


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- writing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What a write did (or, with ``dry_run``, would do)."""

    action: str
    intent: str
    user: str
    files: tuple[str, ...]
    added: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    diff: str = ""
    written: bool = False
    at: str = field(default_factory=now_iso)


@contextlib.contextmanager
def _locked(project: ProjectPaths) -> Iterator[None]:
    """One writer at a time (the console and the CLI may write together)."""
    project.trainer_dir.mkdir(parents=True, exist_ok=True)
    with (project.trainer_dir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _load_rt(text: str, path: Path) -> Any:
    from ruamel.yaml import YAMLError

    try:
        return _yaml().load(text) if text.strip() else None
    except YAMLError as exc:
        raise TrainerError(f"{path} is not valid YAML: {exc}") from exc


def _is_mapping(document: Any) -> bool:
    """A parsed round-trip document with a top-level mapping (positions in ``.lc``)."""
    return isinstance(document, dict)


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def _block_end(document: Any, lines: list[str], key: str) -> int:
    """Index (in ``lines``) just after the last content line of top-level ``key``'s value:
    before the next top-level key, trailing blank lines and comments."""
    keys = list(document.keys())
    following = keys.index(key) + 1
    end = document.lc.key(keys[following])[0] if following < len(keys) else len(lines)
    start = document.lc.key(key)[0] + 1
    while end > start and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _dash_indent(lines: list[str], sequence: Any, default: int) -> int:
    """Column of the ``-`` of a block sequence's items."""
    if sequence:
        line = lines[sequence.lc.item(0)[0]]
        match = re.match(r"^( *)- ", line)
        if match:
            return len(match.group(1))
    return default


def _diff(project: ProjectPaths, path: Path, before: str, after: str) -> str:
    name = project.relative(path)
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"a/{name}",
            f"b/{name}",
        )
    )


def _normalised(document: Any) -> Any:
    """Plain data with ``examples`` blocks as lists of stripped lines (for verification)."""
    if isinstance(document, dict):
        return {
            str(k): (
                [line.strip() for line in v.splitlines() if line.strip()]
                if k == "examples" and isinstance(v, str)
                else _normalised(v)
            )
            for k, v in document.items()
        }
    if isinstance(document, list):
        return [_normalised(v) for v in document]
    return document


def _verified(path: Path, before: str, after: str, expect: Callable[[Any], Any]) -> str:
    """``after`` if it parses to ``expect(parsed before)``; a TrainerError otherwise."""
    old = _normalised(load_text(before)) or {}
    new = _normalised(load_text(after))
    if new != expect(old):
        raise TrainerError(
            f"internal error: the edit of {path} did not give the expected data; nothing was written"
        )
    return after


def load_text(text: str) -> Any:
    """YAML text as plain data."""
    return _yaml(round_trip=False).load(StringIO(text)) if text.strip() else None


def _nlu_block_lines(intent: str, markups: Sequence[str], dash: int) -> list[str]:
    pad = " " * dash
    lines = [f"{pad}- intent: {intent}\n", f"{pad}  examples: |\n"]
    lines += [f"{pad}    - {m}\n" for m in markups]
    return lines


def _append_examples(project: ProjectPaths, path: Path, intent: str, markups: Sequence[str]) -> str:
    """The text of ``path`` with ``markups`` added to ``intent``'s block (a new block at the
    end of ``nlu:`` when the file has none, a new file when there is none)."""
    before = _read(path)
    document = _load_rt(before, path)
    lines = _lines(before)
    if document is None:
        lines = [f"version: {NLU_VERSION}\n", "\n", "nlu:\n", *_nlu_block_lines(intent, markups, 0)]
    elif not _is_mapping(document):
        raise TrainerError(f"{path} is not a Rasa training data file (no top-level mapping)")
    elif "nlu" not in document or document["nlu"] is None:
        if "nlu" in document:
            at = document.lc.key("nlu")[0] + 1
            lines[at:at] = _nlu_block_lines(intent, markups, 0)
        else:
            tail = ["\n"] if lines and lines[-1].strip() else []
            lines += [*tail, "nlu:\n", *_nlu_block_lines(intent, markups, 0)]
    else:
        items = document["nlu"]
        block = next(
            (
                i
                for i, item in enumerate(items)
                if isinstance(item, dict) and item.get("intent") == intent
            ),
            None,
        )
        if block is None:
            at = _block_end(document, lines, "nlu")
            new = _nlu_block_lines(intent, markups, _dash_indent(lines, items, 0))
            lines[at:at] = ["\n", *new] if at > 0 and lines[at - 1].strip() else new
        else:
            lines = _extend_block(path, lines, items[block], intent, markups)
    after = "".join(lines)

    def expect(old: Any) -> Any:
        return _expected_nlu(old, intent, list(markups))

    return _verified(path, before, after, expect)


def _extend_block(
    path: Path, lines: list[str], item: Any, intent: str, markups: Sequence[str]
) -> list[str]:
    """``lines`` with ``markups`` after the last line of ``item``'s ``examples: |`` block."""
    from ruamel.yaml.scalarstring import LiteralScalarString

    value = item.get("examples")
    if not isinstance(value, LiteralScalarString) or "examples" not in item.lc.data:
        raise TrainerError(
            f"{path}: the examples of '{intent}' are not a literal block (examples: |); "
            "edit that block by hand or convert it first"
        )
    indicator_line = item.lc.value("examples")[0]
    content = value.split("\n")
    if content and content[-1] == "":
        content.pop()
    last = indicator_line + len(content)  # index of the block's last content line
    first_line = lines[indicator_line + 1] if indicator_line + 1 < len(lines) else ""
    indent = _indent_of(first_line) if content else item.lc.key("examples")[1] + 2
    new = [f"{' ' * indent}- {m}\n" for m in markups]
    lines[last + 1 : last + 1] = new
    return lines


def _expected_nlu(old: Any, intent: str, markups: list[str]) -> Any:
    expected = json.loads(json.dumps(old or {}))
    if not old:
        expected["version"] = "3.1"
    items = expected.get("nlu") or []
    expected["nlu"] = items
    new_lines = [f"- {m}" for m in markups]
    for item in items:
        if isinstance(item, dict) and item.get("intent") == intent:
            item["examples"] = list(item.get("examples") or []) + new_lines
            return expected
    items.append({"intent": intent, "examples": new_lines})
    return expected


def _append_domain_intent(project: ProjectPaths, path: Path, intent: str) -> str:
    """The text of domain file ``path`` with ``intent`` added to its ``intents:`` list."""
    before = _read(path)
    document = _load_rt(before, path)
    lines = _lines(before)
    if document is None:
        lines = [f"version: {NLU_VERSION}\n", "\n", "intents:\n", f"  - {intent}\n"]
    elif not _is_mapping(document):
        raise TrainerError(f"{path} is not a domain file (no top-level mapping)")
    elif "intents" not in document:
        at = document.lc.key("version")[0] + 1 if "version" in document else 0
        lines[at:at] = (
            ["\n", "intents:\n", f"  - {intent}\n"]
            if at
            else ["intents:\n", f"  - {intent}\n", "\n"]
        )
    elif document["intents"] is None:
        at = document.lc.key("intents")[0] + 1
        lines[at:at] = [f"  - {intent}\n"]
    else:
        intents = document["intents"]
        if intents.fa.flow_style():
            raise TrainerError(f"{path}: 'intents' is a flow list ([...]); add '{intent}' by hand")
        at = _block_end(document, lines, "intents")
        lines[at:at] = [f"{' ' * _dash_indent(lines, intents, 2)}- {intent}\n"]
    after = "".join(lines)

    def expect(old: Any) -> Any:
        expected = json.loads(json.dumps(old or {}))
        if not old:
            expected["version"] = "3.1"
        expected["intents"] = list(expected.get("intents") or []) + [intent]
        return expected

    return _verified(path, before, after, expect)


def _append_response(project: ProjectPaths, path: Path, name: str, text: str) -> str:
    """The text of domain file ``path`` with response ``name`` (one text variation)."""
    before = _read(path)
    document = _load_rt(before, path)
    lines = _lines(before)
    scalar = json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
    if document is None or not _is_mapping(document) or not document.get("responses"):
        if document is not None and not _is_mapping(document):
            raise TrainerError(f"{path} is not a domain file (no top-level mapping)")
        if document is None:
            lines = [f"version: {NLU_VERSION}\n"]
        if document is not None and "responses" in document:
            at = document.lc.key("responses")[0] + 1
            lines[at:at] = [f"  {name}:\n", f"    - text: {scalar}\n"]
        else:
            tail = ["\n"] if lines and lines[-1].strip() else []
            lines += [*tail, "responses:\n", f"  {name}:\n", f"    - text: {scalar}\n"]
    else:
        responses = document["responses"]
        first = next(iter(responses))
        key_line, key_col = responses.lc.key(first)
        item_line = lines[key_line + 1] if key_line + 1 < len(lines) else ""
        item_indent = _indent_of(item_line) if item_line.lstrip().startswith("-") else key_col + 2
        at = _block_end(document, lines, "responses")
        new = [f"{' ' * key_col}{name}:\n", f"{' ' * item_indent}- text: {scalar}\n"]
        lines[at:at] = ["\n", *new] if lines[at - 1].strip() else new
    after = "".join(lines)

    def expect(old: Any) -> Any:
        expected = json.loads(json.dumps(old or {}))
        if not old:
            expected["version"] = "3.1"
        expected["responses"] = dict(expected.get("responses") or {})
        expected["responses"][name] = [{"text": text}]
        return expected

    return _verified(path, before, after, expect)


# --- checks on requests -----------------------------------------------------------------


def _check_user(user: str) -> str:
    user = (user or "").strip()
    if not user:
        raise TrainerError("who made the change is required (--user) / 需要填写操作人")
    return user


def check_example(
    example: Example, entities: Iterable[str], rule_entities: Iterable[str]
) -> list[str]:
    """Problems with one example (empty when it can be written)."""
    problems = []
    text = example.text
    if not text.strip():
        problems.append("empty example / 例句为空")
        return problems
    if text != text.strip():
        problems.append(f"「{text}」: leading or trailing whitespace")
    if "\n" in text or "\r" in text:
        problems.append(f"「{text}」: an example is one line / 例句不能换行")
    if len(text) > MAX_EXAMPLE_CHARS:
        problems.append(f"「{text[:30]}…」: longer than {MAX_EXAMPLE_CHARS} characters")
    known, by_rules = set(entities), set(rule_entities)
    previous_end = 0
    for span in example.entities:
        surface = text[span.start : span.end]
        if not 0 <= span.start < span.end <= len(text):
            problems.append(f"「{text}」: span {span.start}:{span.end} is outside the text")
            continue
        if span.start < previous_end:
            problems.append(f"「{text}」: entity spans overlap at 「{surface}」")
        previous_end = span.end
        if surface != surface.strip():
            problems.append(f"「{text}」: the span 「{surface}」 starts or ends with whitespace")
        if span.entity in by_rules:
            problems.append(
                f"「{text}」: {span.entity} is extracted by rules (ChineseEntityExtractor), "
                f"do not annotate it / {span.entity} 由规则抽取，不要标注"
            )
        elif span.entity not in known:
            problems.append(
                f"「{text}」: unknown entity '{span.entity}' (not in domain/) / 实体不在 domain 中"
            )
    if not problems:
        markup = example.markup()
        if parse_example(markup) != _plain_values(example):
            problems.append(f"「{text}」: brackets in the text make the markup ambiguous: {markup}")
    return problems


def _plain_values(example: Example) -> Example:
    """``example`` with values equal to their text dropped (as parse_example returns them)."""
    spans = tuple(
        Span(
            s.start,
            s.end,
            s.entity,
            None if s.value == example.text[s.start : s.end] else s.value,
            s.role,
            s.group,
        )
        for s in example.entities
    )
    return Example(example.text, spans)


def _prepare(
    project: ProjectPaths, intent: str, examples: Sequence[Example], *, domain: Domain
) -> tuple[list[str], list[str]]:
    """Markup lines to add to ``intent`` and the ones skipped as duplicates of its own
    examples; TrainerError when an example is invalid, is another intent's, or is in the
    held-out test sets."""
    if not examples:
        raise TrainerError("no examples given / 没有例句")
    problems = [
        p for e in examples for p in check_example(e, domain.entities, extractor_entities(project))
    ]
    if problems:
        raise TrainerError("invalid example(s):\n  " + "\n  ".join(problems))
    owners: dict[str, tuple[str, str]] = {}
    for item in read_nlu(project):
        owners.setdefault(compare_key(item.example.text), (item.intent, item.markup))
    protected: dict[str, tuple[str, str]] = {}
    for path in (project.heldout, project.blind):
        for test_intent, texts in read_examples_file(path).items():
            for text in texts:
                protected.setdefault(compare_key(text), (project.relative(path), test_intent))
    added: list[str] = []
    skipped: list[str] = []
    conflicts: list[str] = []
    seen: set[str] = set()
    for example in examples:
        key = compare_key(example.text)
        markup = example.markup()
        owner = owners.get(key)
        if owner and owner[0] != intent:
            conflicts.append(
                f"「{example.text}」 is already an example of '{owner[0]}' ({owner[1]}) / 已属于意图 {owner[0]}"
            )
        elif key in protected:
            where, test_intent = protected[key]
            conflicts.append(
                f"「{example.text}」 is in the test set {where} ('{test_intent}'); adding it would "
                "leak the test set / 该句在测试集中"
            )
        elif owner or key in seen:
            skipped.append(markup)
        else:
            added.append(markup)
            seen.add(key)
    if conflicts:
        raise TrainerError("nothing was written:\n  " + "\n  ".join(conflicts))
    return added, skipped


def _write_all(
    project: ProjectPaths,
    texts: dict[Path, tuple[str, str]],
    *,
    action: str,
    intent: str,
    user: str,
    added: Sequence[str],
    skipped: Sequence[str],
    dry_run: bool,
    record_extra: dict[str, Any] | None = None,
) -> Change:
    files = tuple(project.relative(p) for p in texts)
    diff = "".join(_diff(project, p, before, after) for p, (before, after) in texts.items())
    change = Change(action, intent, user, files, tuple(added), tuple(skipped), diff, written=False)
    if dry_run or not added:
        return change
    for path, (_before, after) in texts.items():
        _write_atomic(path, after)
    record_change(
        project,
        user=user,
        action=action,
        intent=intent,
        files=files,
        examples=added,
        at=change.at,
        **(record_extra or {}),
    )
    return Change(action, intent, user, files, tuple(added), tuple(skipped), diff, True, change.at)


def add_examples(
    project: ProjectPaths,
    intent: str,
    examples: Sequence[Example],
    user: str,
    *,
    dry_run: bool = False,
) -> Change:
    """Append ``examples`` to ``intent`` in the file that holds it.

    Duplicates of the intent's own examples (compared after folding, case, punctuation)
    are skipped; an example of another intent or of the test sets is refused."""
    user = _check_user(user)
    with _locked(project):
        domain = read_domain(project)
        existing = list_intents(project)
        if intent not in existing:
            if intent.startswith(RETRIEVAL_INTENT + "/"):
                raise TrainerError(
                    f"unknown FAQ '{intent}': create it with add-faq / 未知的常见问题"
                )
            if intent not in domain.intents or intent in RESERVED_INTENTS:
                raise TrainerError(
                    f"unknown intent '{intent}': create it with add-intent / 未知意图"
                )
        topic = topic_for_intent(project, intent)
        added, skipped = _prepare(project, intent, examples, domain=domain)
        path = project.nlu_file(topic)
        before = _read(path)
        after = _append_examples(project, path, intent, added) if added else before
        return _write_all(
            project,
            {path: (before, after)},
            action="add_examples",
            intent=intent,
            user=user,
            added=added,
            skipped=skipped,
            dry_run=dry_run,
        )


def _check_new_name(name: str) -> None:
    if not INTENT_NAME.match(name or ""):
        raise TrainerError(
            f"invalid name '{name}': lower-case letters, digits and _, starting with a letter "
            "/ 名称只能用小写字母、数字和下划线，且以字母开头"
        )


def create_intent(
    project: ProjectPaths,
    name: str,
    topic: str | None,
    examples: Sequence[Example],
    user: str,
    *,
    dry_run: bool = False,
) -> Change:
    """A new intent: its block in data/nlu/<topic>.yml and its name in domain/<topic>.yml.

    An intent the domain already lists without examples gets only the examples (in the
    topic of that domain file unless ``topic`` is given)."""
    user = _check_user(user)
    with _locked(project):
        domain = read_domain(project)
        _check_new_name(name)
        if name in RESERVED_INTENTS:
            raise TrainerError(f"'{name}' is reserved / 保留名称")
        if name in list_intents(project):
            raise TrainerError(f"intent '{name}' already exists: use add-example / 意图已存在")
        topic = topic or domain.intents.get(name) or SHARED_TOPIC
        if not TOPIC_NAME.match(topic) or topic in NOT_TOPICS or topic == FAQ_TOPIC:
            known = ", ".join(t for t in project.topics() if t != FAQ_TOPIC)
            raise TrainerError(f"invalid topic '{topic}' (topics: {known}) / 无效的主题")
        added, skipped = _prepare(project, name, examples, domain=domain)
        texts: dict[Path, tuple[str, str]] = {}
        nlu_path = project.nlu_file(topic)
        before = _read(nlu_path)
        texts[nlu_path] = (before, _append_examples(project, nlu_path, name, added))
        if name not in domain.intents:
            domain_path = project.domain_file(topic)
            before = _read(domain_path)
            texts[domain_path] = (before, _append_domain_intent(project, domain_path, name))
        return _write_all(
            project,
            texts,
            action="create_intent",
            intent=name,
            user=user,
            added=added,
            skipped=skipped,
            dry_run=dry_run,
            record_extra={"topic": topic},
        )


# Actions that send the topic the ResponseSelector picked: Rasa's own utter_faq, or the
# project's action_faq (the same answer with the bank's phone numbers filled in).
FAQ_ANSWERERS = frozenset({f"utter_{RETRIEVAL_INTENT}", f"action_{RETRIEVAL_INTENT}"})


def faq_wiring_problems(project: ProjectPaths) -> list[str]:
    """What is missing for a new faq/<name> to be answered without code (empty: nothing)."""
    problems = []
    selectors = [c for c in pipeline(project) if c.get("name") == "ResponseSelector"]
    if not any(c.get("retrieval_intent") in (None, RETRIEVAL_INTENT) for c in selectors):
        problems.append(
            f"config.yml has no ResponseSelector for retrieval_intent '{RETRIEVAL_INTENT}'"
        )
    if RETRIEVAL_INTENT not in read_domain(project).intents:
        problems.append(f"no domain file lists the intent '{RETRIEVAL_INTENT}'")
    answered = False
    for path in yaml_files(project.data / "rules") + yaml_files(project.data / "stories"):
        document = load_yaml(path) or {}
        for block in (document.get("rules") or []) + (document.get("stories") or []):
            steps = [s for s in block.get("steps") or [] if isinstance(s, dict)]
            for first, second in zip(steps, steps[1:], strict=False):
                if first.get("intent") == RETRIEVAL_INTENT and second.get("action") in FAQ_ANSWERERS:
                    answered = True
    if not answered:
        problems.append(
            f"no rule answers intent '{RETRIEVAL_INTENT}' with "
            f"{' or '.join(sorted(FAQ_ANSWERERS))}"
        )
    return problems


def create_faq(
    project: ProjectPaths,
    name: str,
    question_examples: Sequence[Example],
    answer_text: str,
    user: str,
    *,
    dry_run: bool = False,
) -> Change:
    """A new FAQ: faq/<name> examples in data/nlu/faq.yml and the answer utter_faq/<name>
    in domain/faq.yml. The generic rule (intent faq -> utter_faq) and the ResponseSelector
    answer it after the next training; nothing else changes."""
    user = _check_user(user)
    with _locked(project):
        domain = read_domain(project)
        _check_new_name(name)
        intent, response = f"{RETRIEVAL_INTENT}/{name}", f"utter_{RETRIEVAL_INTENT}/{name}"
        if intent in list_intents(project):
            raise TrainerError(f"FAQ '{intent}' already exists: use add-example / 该常见问题已存在")
        if response in domain.responses:
            raise TrainerError(
                f"the answer {response} already exists in domain/{domain.responses[response]}.yml"
            )
        answer = (answer_text or "").strip()
        if not answer:
            raise TrainerError("the answer text is empty / 答案不能为空")
        if "{" in answer or "}" in answer:
            raise TrainerError(
                "the answer may not contain { or }: Rasa fills {slot} placeholders in responses"
            )
        missing = faq_wiring_problems(project)
        if missing:
            raise TrainerError(
                "the FAQ wiring is incomplete, a new FAQ would not be answered:\n  "
                + "\n  ".join(missing)
            )
        added, skipped = _prepare(project, intent, question_examples, domain=domain)
        nlu_path, domain_path = project.nlu_file(FAQ_TOPIC), project.domain_file(FAQ_TOPIC)
        nlu_before, domain_before = _read(nlu_path), _read(domain_path)
        texts = {
            nlu_path: (nlu_before, _append_examples(project, nlu_path, intent, added)),
            domain_path: (domain_before, _append_response(project, domain_path, response, answer)),
        }
        return _write_all(
            project,
            texts,
            action="create_faq",
            intent=intent,
            user=user,
            added=added,
            skipped=skipped,
            dry_run=dry_run,
            record_extra={"answer": answer},
        )
