"""Consistency of the NLU data with the pipeline: annotations and normalisation."""

from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

from bot.nlu.normalizer import normalize_message, normalize_text

ROOT = Path(__file__).resolve().parents[2]
# Training data and the development set annotate only what DIET learns; the blind
# set annotates every entity a customer wrote (rule-extracted ones too), so that
# entity precision and recall are measured for all of them.
FILES = sorted((ROOT / "data" / "nlu").glob("*.yml")) + [ROOT / "tests" / "nlu" / "heldout.yml"]
BLIND = ROOT / "tests" / "nlu" / "blind.yml"
DIET_ENTITIES = {
    "payee",
    "account_type",
    "time_range",
    "txn_kind",
    "merchant",
    "currency",
    "branch",
    "area",
    "service_type",
    "product_type",
    "product",
    "term",
}
RULE_ENTITIES = {"amount", "card_last4", "phone", "otp_code", "account_number"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_annotations_survive_normalisation(path):
    broken = []
    for message in RasaYAMLReader().read(str(path)).intent_examples:
        entities = message.get("entities") or []
        before = [message.get("text")[e["start"] : e["end"]] for e in entities]
        normalize_message(message)
        after = [message.get("text")[e["start"] : e["end"]] for e in entities]
        if after != [normalize_text(t) for t in before]:
            broken.append((message.get("text"), before, after))
        broken += [
            (message.get("text"), e["entity"]) for e in entities if e["entity"] not in DIET_ENTITIES
        ]
    assert broken == []


def test_rule_entities_are_not_annotated():
    for path in FILES:
        data = RasaYAMLReader().read(str(path))
        assert not data.entities & RULE_ENTITIES, path.name


def test_synonym_targets_are_simplified():
    data = RasaYAMLReader().read(str(ROOT / "data" / "nlu" / "lookups.yml"))
    for surface, canonical in data.entity_synonyms.items():
        assert normalize_text(canonical) == canonical
        assert normalize_text(surface) == surface


def test_blind_annotations_survive_normalisation_and_name_known_entities():
    broken = []
    for message in RasaYAMLReader().read(str(BLIND)).intent_examples:
        entities = message.get("entities") or []
        before = [message.get("text")[e["start"] : e["end"]] for e in entities]
        normalize_message(message)
        after = [message.get("text")[e["start"] : e["end"]] for e in entities]
        if after != [normalize_text(t) for t in before]:
            broken.append((message.get("text"), before, after))
        broken += [
            (message.get("text"), e["entity"])
            for e in entities
            if e["entity"] not in DIET_ENTITIES | RULE_ENTITIES
        ]
    assert broken == []
