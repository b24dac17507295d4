"""Text normalisation for Chinese customer messages (a Rasa graph component).

Traditional -> simplified Chinese, full-width ASCII -> half-width, zero-width
characters removed, whitespace collapsed. Training examples keep their entity
annotations right: spans are mapped through every change that alters lengths.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.text import (  # noqa: F401  (re-exported: tests and tools import them here)
    ZERO_WIDTH,
    Span,
    normalize_text,
    normalize_with_spans,
    to_simplified,
)

logger = logging.getLogger(__name__)

JIEBA_DICT_DIR = Path(__file__).parent / "jieba"  # config.yml: dictionary_path


def normalize_message(message: Message) -> None:
    """Normalises a message's text in place, keeping entity annotations aligned."""
    text = message.get(TEXT)
    if not text:
        return
    entities: list[dict[str, Any]] = message.get(ENTITIES) or []
    spans = [
        (e[ENTITY_ATTRIBUTE_START], e[ENTITY_ATTRIBUTE_END])
        for e in entities
        if ENTITY_ATTRIBUTE_START in e and ENTITY_ATTRIBUTE_END in e
    ]
    if not spans:
        new_text = normalize_text(text)
        if new_text != text:
            message.set(TEXT, new_text)
        return
    new_text, new_spans = normalize_with_spans(text, spans)
    if new_text == text:
        return
    located = iter(new_spans)
    for entity in entities:
        if ENTITY_ATTRIBUTE_START not in entity or ENTITY_ATTRIBUTE_END not in entity:
            continue
        start, end = next(located)
        old_span_text = text[entity[ENTITY_ATTRIBUTE_START] : entity[ENTITY_ATTRIBUTE_END]]
        value = entity.get(ENTITY_ATTRIBUTE_VALUE)
        if value == old_span_text:
            entity[ENTITY_ATTRIBUTE_VALUE] = new_text[start:end]
        elif isinstance(value, str):
            entity[ENTITY_ATTRIBUTE_VALUE] = normalize_text(value)
        entity[ENTITY_ATTRIBUTE_START], entity[ENTITY_ATTRIBUTE_END] = start, end
    message.set(TEXT, new_text)


def _opencc_version() -> str:
    """Installed version of opencc-python-reimplemented (dictionaries may change)."""
    try:
        return importlib.metadata.version("opencc-python-reimplemented")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def source_fingerprint(paths: Iterable[Path]) -> str:
    """Hash of source files, so that a code change invalidates cached training."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class ChineseNormalizer(GraphComponent):
    """Normalises message text before tokenisation (training and inference)."""

    def __init__(self, config: dict[str, Any]) -> None:
        """Stores the config (the component has no options yet)."""
        self._config = config

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """No options."""
        return {}

    @staticmethod
    def required_packages() -> list[str]:
        """None listed: Rasa fingerprints these by distribution name, and OpenCC's
        (opencc-python-reimplemented) differs from its module name; its version
        is part of ``fingerprint_addon`` instead."""
        return []

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> Optional[str]:
        """Retrain downstream components when this module, OpenCC or the jieba
        user dictionary changes (JiebaTokenizer does not fingerprint its files)."""
        # text.py holds the folding, typo and greeting rules applied here.
        files = [Path(__file__), Path(__file__).with_name("text.py"), *sorted(JIEBA_DICT_DIR.glob("*"))]
        return source_fingerprint(files) + _opencc_version()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ChineseNormalizer:
        """Creates the component."""
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Normalises every training example, keeping entity spans right."""
        for message in training_data.training_examples:
            normalize_message(message)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Normalises incoming messages."""
        for message in messages:
            normalize_message(message)
        return messages
