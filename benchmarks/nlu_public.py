"""The production NLU recipe (config.yml) measured on public English intent benchmarks.

Trains the pipeline of config.yml, with only the Chinese-specific parts swapped or dropped
(see ``derive_pipeline``), on BANKING77 (Casanueva et al., 2020, CC BY 4.0) and CLINC150
(Larson et al., 2019, CC BY 3.0), read by path from /work/shared/eval, and reports the
figures beside the published ones and beside a plain scikit-learn baseline (word + char_wb
1-4 n-grams, logistic regression) measured in the same run:

- BANKING77, full training data: accuracy on the official test split;
- BANKING77, 10 examples per intent (seeds 1, 2, 3): each seed's accuracy and the mean;
- CLINC150 data_full, (a) oos as an ordinary intent (trained on oos_train): in-scope
  accuracy on test, OOS recall on oos_test; (b) no oos intent, a confidence threshold
  tuned on val + oos_val: in-scope accuracy and OOS recall on test + oos_test.

Each Rasa model is trained by ``rasa train nlu`` in a subprocess (a generated Rasa YAML in
a temporary folder, an empty Rasa cache), whose wall time and peak RSS (ru_maxrss from
wait4) are recorded with the load average before it; the test texts are then parsed
in-process with the trained model (Rasa's graph runner, in batches). Writes
benchmarks/results/nlu.json (every figure) and benchmarks/results/nlu.md (the tables).

    python benchmarks/nlu_public.py                      # everything (about 1.5 h on 2 cores)
    python benchmarks/nlu_public.py --only banking77     # one dataset (merged into nlu.json)
    python benchmarks/nlu_public.py --seeds 1 2 3 4 5    # other 10-shot seeds
    python benchmarks/nlu_public.py --quick              # tiny subsets, a smoke test
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import hashlib
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = PROJECT_ROOT / "config.yml"
EVAL_DIR = Path(os.environ.get("BANKBOT_EVAL_DIR", "/work/shared/eval"))
BANKING77_DIR = EVAL_DIR / "banking77"
CLINC150_FILE = EVAL_DIR / "clinc150" / "data_full.json"
RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
QUICK_DIR = PROJECT_ROOT / "var" / "bench" / "nlu-quick"  # var/ is not tracked
LOG_DIR = PROJECT_ROOT / "var" / "bench" / "nlu-logs"  # each run's `rasa train nlu` log
QUICK_LOG_DIR = QUICK_DIR / "logs"  # the same for --quick (never mixed with real runs)

DEFAULT_SEEDS = (1, 2, 3)
SHOTS = 10
OOS = "oos"  # CLINC150's out-of-scope label
FALLBACK_INTENT = "nlu_fallback"
THRESHOLD_GRID = tuple(round(i / 100, 2) for i in range(100))  # 0.00 .. 0.99
BASELINE_FIXED_THRESHOLD = 0.3
CLINC_KEYS = ("train", "val", "test", "oos_train", "oos_val", "oos_test")

Example = tuple[str, str]  # (text, label)

DATA_SOURCES: dict[str, dict[str, str]] = {
    "banking77": {
        "name": "BANKING77",
        "path": str(BANKING77_DIR),
        "files": "train.csv (10,003 examples), test.csv (3,080), 77 intents",
        "repository": "https://github.com/PolyAI-LDN/task-specific-datasets (banking_data/)",
        "licence": "CC BY 4.0",
        "citation": (
            "Iñigo Casanueva, Tadas Temčinas, Daniela Gerz, Matthew Henderson and Ivan Vulić "
            "(2020). Efficient Intent Detection with Dual Sentence Encoders. Proceedings of the "
            "2nd Workshop on NLP for ConvAI, ACL 2020. https://arxiv.org/abs/2003.04807"
        ),
        "short": "Casanueva et al., 2020",
    },
    "clinc150": {
        "name": "CLINC150 (data_full)",
        "path": str(CLINC150_FILE),
        "files": ("data_full.json: 150 intents x 100 train / 20 val / 30 test, "
                  "out-of-scope 100 train / 100 val / 1,000 test"),
        "repository": "https://github.com/clinc/oos-eval (data/data_full.json)",
        "licence": "CC BY 3.0",
        "citation": (
            "Stefan Larson, Anish Mahendran, Joseph J. Peper, Christopher Clarke, Andrew Lee, "
            "Parker Hill, Jonathan K. Kummerfeld, Kevin Leach, Michael A. Laurenzano, Lingjia "
            "Tang and Jason Mars (2019). An Evaluation Dataset for Intent Classification and "
            "Out-of-Scope Prediction. EMNLP-IJCNLP 2019. "
            "https://www.aclweb.org/anthology/D19-1131"
        ),
        "short": "Larson et al., 2019",
    },
}

# Published figures (percent), as reported in the papers (see DATA_SOURCES for the full
# citations and licences): references only, never measured by this script.
# CLINC150 pairs are (in-scope accuracy, OOS recall).
PUBLISHED: dict[str, Any] = {
    "note": ("figures reported in the cited papers (percent), with their own models; "
             "not measured in this run"),
    "banking77": {
        "source": "Casanueva et al., 2020",
        "licence_of_data": "CC BY 4.0",
        "full": {"BERT-fixed": 87.19, "USE": 92.81, "ConveRT": 93.01, "USE+ConveRT": 93.36,
                 "BERT-tuned": 93.66},
        "10shot": {"USE": 84.23, "ConveRT": 83.32, "USE+ConveRT": 85.19},
    },
    "clinc150": {
        "source": "Larson et al., 2019",
        "licence_of_data": "CC BY 3.0",
        "oos_intent": {"Rasa (2019)": [91.5, 45.3], "BERT": [96.9, 40.3]},
        "threshold": {"BERT": [96.2, 52.3]},
    },
}

# --------------------------------------------------------------------------- pipeline

TOKENIZER_SWAPS = {"JiebaTokenizer": "WhitespaceTokenizer"}
# Settings every Rasa tokenizer understands; anything else (Jieba's dictionary_path) goes.
GENERIC_TOKENIZER_KEYS = {"intent_tokenization_flag", "intent_split_symbol", "token_pattern"}
DROPPED_COMPONENTS = {
    "bot.nlu.normalizer.ChineseNormalizer":
        "Chinese-only (traditional to simplified characters, full-width to half-width)",
    "bot.nlu.entities.ChineseEntityExtractor":
        "Chinese-only entity rules (amounts, card numbers, phones, codes); the datasets have no entities",
    "bot.nlu.guard.IntentGuard":
        "Chinese wordings mapped to bankbot's own intents (fraud, stolen card, ...)",
    "EntitySynonymMapper": "no entities in the datasets",
    "ResponseSelector": "no retrieval intents in the datasets",
}


def load_config(path: Path = CONFIG_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    if not isinstance(config, dict) or not config.get("pipeline"):
        raise ValueError(f"{path}: no pipeline")
    return config


def derive_pipeline(config: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The NLU-only English config derived from the production ``config``, and the list of
    what was changed. Every component and setting not named here is kept as it is; a custom
    (``bot.``) component this function does not know about is an error, so a new Chinese
    component cannot slip into, or silently out of, the benchmark."""
    changes: list[dict[str, Any]] = []
    pipeline: list[dict[str, Any]] = []
    for component in config["pipeline"]:
        name = component["name"]
        if name in DROPPED_COMPONENTS:
            changes.append({"component": name, "change": "dropped",
                            "reason": DROPPED_COMPONENTS[name]})
            continue
        if name in TOKENIZER_SWAPS:
            kept = {k: v for k, v in component.items() if k in GENERIC_TOKENIZER_KEYS}
            dropped = {k: v for k, v in component.items()
                       if k != "name" and k not in GENERIC_TOKENIZER_KEYS}
            pipeline.append({"name": TOKENIZER_SWAPS[name], **kept})
            changes.append({"component": name, "change": "replaced",
                            "by": TOKENIZER_SWAPS[name], "settings_dropped": dropped,
                            "reason": "Jieba segments Chinese; the datasets are English"})
            continue
        if "." in name:
            raise ValueError(f"config.yml has the custom component {name}: decide whether the "
                             "English benchmark keeps it (DROPPED_COMPONENTS)")
        pipeline.append(dict(component))
    derived: dict[str, Any] = {
        "recipe": config.get("recipe", "default.v1"),
        "language": "en",
        "pipeline": pipeline,
    }
    if config.get("assistant_id"):
        derived["assistant_id"] = config["assistant_id"]
    changes.append({"component": "language", "change": "replaced",
                    "from": config.get("language"), "by": "en"})
    changes.append({"component": "policies", "change": "dropped",
                    "reason": "NLU only (rasa train nlu)"})
    return derived, changes


def component(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The (first) component called ``name`` in a config's pipeline."""
    for item in config["pipeline"]:
        if item["name"] == name:
            return item
    raise KeyError(name)


def config_digest(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- data


def clean_text(text: str) -> str:
    """One line, single spaces (the quoted newlines of BANKING77 cannot go in Rasa YAML)."""
    return " ".join(text.split())


def load_banking77(split: str, folder: Path = BANKING77_DIR) -> list[Example]:
    """BANKING77 ``train`` or ``test`` as (text, label), texts as in the file (a few have
    quoted newlines: parsed with the csv module, never line by line)."""
    with (folder / f"{split}.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != ["text", "category"]:
            raise ValueError(f"{split}.csv: unexpected columns {reader.fieldnames}")
        return [(row["text"], row["category"]) for row in reader]


def load_clinc150(path: Path = CLINC150_FILE) -> dict[str, list[Example]]:
    """CLINC150 data_full: train/val/test and oos_train/oos_val/oos_test as (text, label)."""
    with path.open(encoding="utf-8") as handle:
        raw = json.load(handle)
    missing = [key for key in CLINC_KEYS if key not in raw]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    data = {key: [(str(text), str(label)) for text, label in raw[key]] for key in CLINC_KEYS}
    for key in ("oos_train", "oos_val", "oos_test"):
        if any(label != OOS for _, label in data[key]):
            raise ValueError(f"{path}: {key} has a label other than {OOS!r}")
    for key in ("train", "val", "test"):
        if any(label == OOS for _, label in data[key]):
            raise ValueError(f"{path}: {key} has {OOS!r} items")
    return data


def by_label(examples: Iterable[Example]) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        groups[example[1]].append(example)
    return groups


def few_shot(examples: Sequence[Example], shots: int, seed: int) -> list[Example]:
    """``shots`` examples of every label, drawn without replacement with ``random.Random(seed)``
    (labels in sorted order, each label's examples in file order): the same seed, the same set."""
    rng = random.Random(seed)
    sample: list[Example] = []
    for _label, group in sorted(by_label(examples).items()):
        if len(group) < shots:
            raise ValueError(f"{_label}: {len(group)} examples, fewer than {shots}")
        sample.extend(rng.sample(group, shots))
    return sample


def subset(examples: Sequence[Example], labels: Iterable[str], per_label: int) -> list[Example]:
    """The first ``per_label`` examples of each of ``labels`` (for --quick)."""
    wanted = set(labels)
    counts: dict[str, int] = defaultdict(int)
    out = []
    for text, label in examples:
        if label in wanted and counts[label] < per_label:
            counts[label] += 1
            out.append((text, label))
    return out


def rasa_label(label: str) -> str:
    """An intent name Rasa takes as it is (BANKING77 has ``reverted_card_payment?``)."""
    return re.sub(r"[^0-9A-Za-z_]", "_", label)


def rasa_nlu_yaml(examples: Sequence[Example]) -> str:
    """Rasa 3 NLU training data for ``examples`` (texts on one line each)."""
    lines = ['version: "3.1"', "nlu:"]
    for label, group in sorted(by_label(examples).items()):
        lines.append(f"- intent: {rasa_label(label)}")
        lines.append("  examples: |")
        lines.extend(f"    - {clean_text(text)}" for text, _ in group)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- metrics


@dataclass
class Prediction:
    """One parsed text. ``top`` is the classifier's best label and its confidence (for Rasa:
    DIET's, before the FallbackClassifier); ``final`` what the pipeline outputs (the same
    for the baseline; for Rasa ``nlu_fallback`` when the FallbackClassifier fires)."""

    top: str | None
    top_confidence: float
    final: str | None
    final_confidence: float


def accuracy(predicted: Sequence[str | None], gold: Sequence[str]) -> float:
    if len(predicted) != len(gold) or not gold:
        raise ValueError("accuracy needs as many predictions as gold labels, at least one")
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)


def with_threshold(predictions: Sequence[Prediction], threshold: float) -> list[str | None]:
    """The top label, or ``oos`` when its confidence is below ``threshold``."""
    return [OOS if p.top_confidence < threshold else p.top for p in predictions]


def oos_scores(in_predicted: Sequence[str | None], in_gold: Sequence[str],
               oos_predicted: Sequence[str | None]) -> dict[str, float]:
    """In-scope accuracy (an in-scope item predicted oos is wrong) and OOS recall."""
    return {
        "in_scope_accuracy": accuracy(in_predicted, in_gold),
        "oos_recall": sum(p == OOS for p in oos_predicted) / len(oos_predicted),
    }


def select_threshold(in_confidence: Sequence[float], in_correct: Sequence[bool],
                     oos_confidence: Sequence[float],
                     grid: Sequence[float] = THRESHOLD_GRID) -> dict[str, Any]:
    """The threshold of ``grid`` maximising in-scope accuracy + OOS recall on a validation
    set (the lowest one on a tie). An item is out of scope when its top confidence is
    below the threshold; an in-scope item counts only when correct and not rejected."""
    if not in_confidence or not oos_confidence or len(in_confidence) != len(in_correct):
        raise ValueError("select_threshold needs in-scope and out-of-scope items")
    sweep = []
    best: dict[str, Any] | None = None
    for threshold in grid:
        acc = sum(ok and c >= threshold
                  for c, ok in zip(in_confidence, in_correct, strict=True)) / len(in_confidence)
        recall = sum(c < threshold for c in oos_confidence) / len(oos_confidence)
        point = {"threshold": threshold, "in_scope_accuracy": acc, "oos_recall": recall}
        sweep.append(point)
        if best is None or acc + recall > best["in_scope_accuracy"] + best["oos_recall"]:
            best = point
    assert best is not None
    return {**best, "sweep": sweep}


# --------------------------------------------------------------------------- measuring


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def rss_mb(kib: int) -> float:
    return round(kib / 1024, 1)  # Linux ru_maxrss is in KiB


EPOCHS_RE = re.compile(r"Epochs:\s+\d+%[^\r\n|]*\|[^\r\n|]*\|\s*(\d+)/(\d+) "
                       r"\[(?:(\d+):)?(\d+):(\d+)<")


def diet_timing(log: str) -> dict[str, float] | None:
    """DIET's training time from its tqdm progress bar in a Rasa log: the total, the first
    epoch (which includes TensorFlow's tracing) and the mean of the later epochs. None when
    the log has no finished bar. Whole seconds (tqdm's resolution)."""
    elapsed: dict[int, float] = {}
    total = 0
    for match in EPOCHS_RE.finditer(log):
        done, total = int(match.group(1)), int(match.group(2))
        if done == 0:
            continue
        hours, minutes, seconds = (int(match.group(i) or 0) for i in (3, 4, 5))
        elapsed[done] = float(hours * 3600 + minutes * 60 + seconds)
    if not total or total not in elapsed:
        return None
    first = min(elapsed)
    later = (elapsed[total] - elapsed[first]) / (total - first) if total > first else 0.0
    return {"seconds": elapsed[total], "epochs": total,
            "first_epochs_seconds": elapsed[first], "first_epochs": first,
            "later_epoch_seconds": round(later, 2)}


def train_rasa(workdir: Path, config: dict[str, Any], examples: Sequence[Example],
               name: str, log_dir: Path | None = LOG_DIR) -> tuple[Path, dict[str, Any]]:
    """``rasa train nlu`` of ``examples`` with ``config`` in a subprocess; the model and the
    cost (wall time, peak RSS from wait4, the load average before, DIET's share)."""
    from rasa.shared.nlu.training_data.loading import load_data

    workdir.mkdir(parents=True)
    config_file = workdir / "config.yml"
    nlu_file = workdir / "nlu.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
                           encoding="utf-8")
    nlu_file.write_text(rasa_nlu_yaml(examples), encoding="utf-8")
    # Rasa reads [text](entity) markup in examples: make sure every text arrives unchanged.
    read = {(m.get("text"), m.get("intent")) for m in load_data(str(nlu_file)).training_examples}
    wanted = {(clean_text(t), rasa_label(label)) for t, label in examples}
    if read != wanted:
        raise RuntimeError(f"{nlu_file}: Rasa reads {len(read ^ wanted)} examples differently, "
                           f"e.g. {sorted(read ^ wanted)[:3]}")
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3",
           "RASA_CACHE_DIRECTORY": str(workdir / "rasa-cache")}
    cmd = [sys.executable, "-m", "rasa", "train", "nlu", "--config", str(config_file),
           "--nlu", str(nlu_file), "--out", str(workdir / "models"),
           "--fixed-model-name", name]
    log_path = workdir / "train.log"
    load = load_average()
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / f"{name}.log").write_text(log_text, encoding="utf-8")
    model = workdir / "models" / f"{name}.tar.gz"
    if proc.returncode != 0 or not model.is_file():
        tail = "\n".join(log_text.replace("\r", "\n").splitlines()[-30:])
        raise RuntimeError(f"rasa train nlu failed ({proc.returncode}); log {log_path}:\n{tail}")
    diet = diet_timing(log_text)
    return model, {
        "train_examples": len(examples),
        "intents": len({label for _, label in examples}),
        "load_average_before": load,
        "train_wall_seconds": round(wall, 1),
        "train_peak_rss_mb": rss_mb(usage.ru_maxrss),
        "train_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "diet_seconds": diet["seconds"] if diet else None,
        "diet_first_epochs_seconds": diet["first_epochs_seconds"] if diet else None,
        "diet_later_epoch_seconds": diet["later_epoch_seconds"] if diet else None,
    }


class RasaParser:
    """A trained NLU model, parsing texts in-process in batches through Rasa's graph."""

    def __init__(self, model: Path) -> None:
        from rasa.core.agent import Agent

        self.agent = Agent.load(str(model))
        if self.agent.processor is None:
            raise RuntimeError(f"{model}: no processor")

    def parse(self, texts: Sequence[str], batch_size: int = 256) -> list[Prediction]:
        from rasa.core.channels.channel import UserMessage
        from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
        from rasa.shared.core.trackers import DialogueStateTracker

        processor = self.agent.processor
        assert processor is not None
        target = processor.model_metadata.nlu_target
        tracker = DialogueStateTracker.from_events("benchmark", [])
        out: list[Prediction] = []
        for start in range(0, len(texts), batch_size):
            batch = [UserMessage(text=t, sender_id="benchmark")
                     for t in texts[start:start + batch_size]]
            results = processor.graph_runner.run(
                inputs={PLACEHOLDER_MESSAGE: batch, PLACEHOLDER_TRACKER: tracker},
                targets=[target])
            for message in results[target]:
                out.append(to_prediction(message.as_dict(only_output_properties=False)))
        return out

    def close(self) -> None:
        del self.agent
        import tensorflow as tf

        tf.keras.backend.clear_session()
        gc.collect()


def to_prediction(parsed: dict[str, Any]) -> Prediction:
    intent = parsed.get("intent") or {}
    ranking = [r for r in parsed.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT]
    top: dict[str, Any] = ranking[0] if ranking else {"name": None, "confidence": 0.0}
    return Prediction(top=top.get("name"), top_confidence=float(top.get("confidence") or 0.0),
                      final=intent.get("name"),
                      final_confidence=float(intent.get("confidence") or 0.0))


def measure_rasa(ctx: Context, name: str, train: Sequence[Example],
                 eval_sets: Mapping[str, Sequence[str]]) -> tuple[dict[str, list[Prediction]],
                                                               dict[str, Any]]:
    """Train on ``train``, parse every text of ``eval_sets``: predictions and costs."""
    print(f"[{name}] rasa train nlu: {len(train)} examples, "
          f"{len({lab for _, lab in train})} intents, load {load_average()[0]}", flush=True)
    model, cost = train_rasa(ctx.workdir / name, ctx.config, train, name, ctx.log_dir)
    print(f"[{name}]   trained in {cost['train_wall_seconds']:.0f} s (DIET "
          f"{cost['diet_seconds']} s), peak RSS {cost['train_peak_rss_mb']:.0f} MB", flush=True)
    cost["eval_load_average_before"] = load_average()
    started = time.monotonic()
    parser = RasaParser(model)
    cost["model_load_seconds"] = round(time.monotonic() - started, 1)
    predictions: dict[str, list[Prediction]] = {}
    started = time.monotonic()
    for key, texts in eval_sets.items():
        predictions[key] = parser.parse(list(texts))
    cost["eval_texts"] = sum(len(t) for t in eval_sets.values())
    cost["eval_wall_seconds"] = round(time.monotonic() - started, 1)
    cost["eval_ms_per_text"] = round(1000 * cost["eval_wall_seconds"] / max(cost["eval_texts"], 1), 2)
    parser.close()
    cost["evaluator_peak_rss_mb_so_far"] = rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    print(f"[{name}]   parsed {cost['eval_texts']} texts in {cost['eval_wall_seconds']:.0f} s",
          flush=True)
    return predictions, cost


BASELINE_SETTINGS = {
    "features": ("TfidfVectorizer(analyzer='word', ngram_range=(1, 1), sublinear_tf=True) + "
                 "TfidfVectorizer(analyzer='char_wb', ngram_range=(1, 4), sublinear_tf=True)"),
    "classifier": "LogisticRegression(C=1.0, max_iter=2000) (lbfgs, multinomial)",
    "confidence": "the highest predict_proba",
}


def measure_baseline(train: Sequence[Example], eval_sets: Mapping[str, Sequence[str]]
                     ) -> tuple[dict[str, list[Prediction]], dict[str, Any]]:
    """The plain baseline: word + char_wb 1-4 n-gram TF-IDF, logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    model = make_pipeline(
        make_union(TfidfVectorizer(analyzer="word", ngram_range=(1, 1), sublinear_tf=True),
                   TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True)),
        LogisticRegression(C=1.0, max_iter=2000))
    load = load_average()
    started = time.monotonic()
    model.fit([t for t, _ in train], [rasa_label(label) for _, label in train])
    fit = time.monotonic() - started
    classes = list(model.classes_)
    predictions: dict[str, list[Prediction]] = {}
    started = time.monotonic()
    for key, texts in eval_sets.items():
        proba = model.predict_proba(list(texts))
        best = proba.argmax(axis=1)
        predictions[key] = [Prediction(classes[i], float(p[i]), classes[i], float(p[i]))
                            for i, p in zip(best, proba, strict=True)]
    return predictions, {"load_average_before": load, "fit_seconds": round(fit, 1),
                         "predict_seconds": round(time.monotonic() - started, 1)}


@dataclass
class Context:
    config: dict[str, Any]
    workdir: Path
    baseline: bool
    log_dir: Path | None = LOG_DIR


def pct(x: float) -> float:
    return round(100 * x, 2)


# --------------------------------------------------------------------------- runs


def run_banking77(ctx: Context, seeds: Sequence[int], quick: bool) -> dict[str, Any]:
    train, test = load_banking77("train"), load_banking77("test")
    if quick:
        labels = sorted({label for _, label in train})[:6]
        train, test = subset(train, labels, 20), subset(test, labels, 8)
    texts = {"test": [t for t, _ in test]}
    gold = [rasa_label(label) for _, label in test]
    plans = [("full", train)] + [(f"10shot_seed{s}", few_shot(train, SHOTS, s)) for s in seeds]
    runs: dict[str, Any] = {}
    for key, examples in plans:
        preds, cost = measure_rasa(ctx, f"banking77-{key}", examples, texts)
        p = preds["test"]
        run: dict[str, Any] = {
            **cost,
            "accuracy": pct(accuracy([x.top for x in p], gold)),
            "accuracy_with_fallback": pct(accuracy([x.final for x in p], gold)),
            "fallback_rate": pct(sum(x.final == FALLBACK_INTENT for x in p) / len(p)),
        }
        if ctx.baseline:
            bpreds, bcost = measure_baseline(examples, texts)
            run["baseline"] = {**bcost, "accuracy": pct(accuracy([x.top for x in bpreds["test"]],
                                                                 gold))}
        if key.startswith("10shot"):
            run["seed"] = int(key.removeprefix("10shot_seed"))
        runs[key] = run
        print(f"[banking77-{key}]   accuracy {run['accuracy']:.2f} "
              f"(with fallback {run['accuracy_with_fallback']:.2f})"
              + (f", baseline {run['baseline']['accuracy']:.2f}" if ctx.baseline else ""),
              flush=True)
    shots = [runs[f"10shot_seed{s}"] for s in seeds]
    summary: dict[str, Any] = {
        "full_accuracy": runs["full"]["accuracy"],
        "10shot_accuracy_mean": round(sum(r["accuracy"] for r in shots) / len(shots), 2),
        "10shot_accuracy_by_seed": {str(r["seed"]): r["accuracy"] for r in shots},
    }
    if ctx.baseline:
        summary["baseline_full_accuracy"] = runs["full"]["baseline"]["accuracy"]
        summary["baseline_10shot_accuracy_mean"] = round(
            sum(r["baseline"]["accuracy"] for r in shots) / len(shots), 2)
        summary["baseline_10shot_accuracy_by_seed"] = {
            str(r["seed"]): r["baseline"]["accuracy"] for r in shots}
    return {"train_examples": len(train), "test_examples": len(test),
            "intents": len({label for _, label in train}), "seeds": list(seeds),
            "shots": SHOTS, "summary": summary, "runs": runs}


def clinc_threshold_scores(preds: dict[str, list[Prediction]], val_gold: Sequence[str],
                           test_gold: Sequence[str]) -> dict[str, Any]:
    """Tune the threshold on val + oos_val, apply it to test + oos_test."""
    chosen = select_threshold([p.top_confidence for p in preds["val"]],
                              [p.top == g for p, g in zip(preds["val"], val_gold, strict=True)],
                              [p.top_confidence for p in preds["oos_val"]])
    t = chosen["threshold"]
    test = oos_scores(with_threshold(preds["test"], t), test_gold,
                      with_threshold(preds["oos_test"], t))
    return {"threshold": t,
            "val_in_scope_accuracy": pct(chosen["in_scope_accuracy"]),
            "val_oos_recall": pct(chosen["oos_recall"]),
            "in_scope_accuracy": pct(test["in_scope_accuracy"]),
            "oos_recall": pct(test["oos_recall"]),
            "val_sweep": [[s["threshold"], pct(s["in_scope_accuracy"]), pct(s["oos_recall"])]
                          for s in chosen["sweep"]]}


def fixed_threshold_scores(preds: dict[str, list[Prediction]], test_gold: Sequence[str],
                           threshold: float) -> dict[str, Any]:
    scores = oos_scores(with_threshold(preds["test"], threshold), test_gold,
                        with_threshold(preds["oos_test"], threshold))
    return {"threshold": threshold, **{k: pct(v) for k, v in scores.items()}}


def fallback_scores(preds: dict[str, list[Prediction]], test_gold: Sequence[str]) -> dict[str, Any]:
    """The production output: ``nlu_fallback`` (or oos) counts as out of scope."""
    def final(p: Prediction) -> str | None:
        return OOS if p.final == FALLBACK_INTENT else p.final
    scores = oos_scores([final(p) for p in preds["test"]], test_gold,
                        [final(p) for p in preds["oos_test"]])
    return {k: pct(v) for k, v in scores.items()}


def run_clinc150(ctx: Context, quick: bool) -> dict[str, Any]:
    data = load_clinc150()
    if quick:
        labels = sorted({label for _, label in data["train"]})[:6]
        data = {"train": subset(data["train"], labels, 20), "val": subset(data["val"], labels, 5),
                "test": subset(data["test"], labels, 8), "oos_train": data["oos_train"][:20],
                "oos_val": data["oos_val"][:10], "oos_test": data["oos_test"][:20]}
    text = {key: [t for t, _ in data[key]] for key in CLINC_KEYS}
    val_gold = [rasa_label(label) for _, label in data["val"]]
    test_gold = [rasa_label(label) for _, label in data["test"]]
    runs: dict[str, Any] = {}

    # (a) oos as an ordinary intent, trained on oos_train
    name = "clinc150-oos-intent"
    train = data["train"] + data["oos_train"]
    sets = {"test": text["test"], "oos_test": text["oos_test"]}
    preds, cost = measure_rasa(ctx, name, train, sets)
    run: dict[str, Any] = {
        **cost,
        **{k: pct(v) for k, v in oos_scores([p.top for p in preds["test"]], test_gold,
                                            [p.top for p in preds["oos_test"]]).items()},
        "with_fallback": fallback_scores(preds, test_gold),
    }
    if ctx.baseline:
        bpreds, bcost = measure_baseline(train, sets)
        run["baseline"] = {**bcost, **{k: pct(v) for k, v in oos_scores(
            [p.top for p in bpreds["test"]], test_gold,
            [p.top for p in bpreds["oos_test"]]).items()}}
    runs["oos_intent"] = run
    print(f"[{name}]   in-scope {run['in_scope_accuracy']:.2f}, OOS recall "
          f"{run['oos_recall']:.2f}", flush=True)

    # (b) no oos intent; a confidence threshold tuned on val + oos_val
    name = "clinc150-threshold"
    sets = {"val": text["val"], "oos_val": text["oos_val"], "test": text["test"],
            "oos_test": text["oos_test"]}
    preds, cost = measure_rasa(ctx, name, data["train"], sets)
    run = {**cost, **clinc_threshold_scores(preds, val_gold, test_gold),
           "with_fallback": fallback_scores(preds, test_gold)}
    if ctx.baseline:
        bpreds, bcost = measure_baseline(data["train"], sets)
        run["baseline"] = {**bcost, **clinc_threshold_scores(bpreds, val_gold, test_gold),
                           "fixed": fixed_threshold_scores(bpreds, test_gold,
                                                           BASELINE_FIXED_THRESHOLD)}
    runs["threshold"] = run
    print(f"[{name}]   threshold {run['threshold']}: in-scope {run['in_scope_accuracy']:.2f}, "
          f"OOS recall {run['oos_recall']:.2f}", flush=True)
    counts = {key: len(data[key]) for key in CLINC_KEYS}
    return {"examples": counts, "intents": len({label for _, label in data["train"]}),
            "runs": runs}


# --------------------------------------------------------------------------- report


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("rasa", "tensorflow", "scikit-learn", "numpy"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return info


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fmt(x: Any, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def pair(a: Any, b: Any, digits: int = 1) -> str:
    return f"{fmt(a, digits)} / {fmt(b, digits)}"


PUBLISHED_ROWS_NOTE = ("Rows marked *published* are the figures reported by {source} "
                       "(full citation under Data; data licence {licence}), with their own "
                       "models and the full data: references, not measured in this run.")


def render_markdown(results: dict[str, Any]) -> str:
    """benchmarks/results/nlu.md from nlu.json."""
    out: list[str] = []
    quick = results.get("quick")
    out.append("# bankbot's NLU recipe on public English benchmarks")
    out.append("")
    if quick:
        out.append("**--quick smoke test on tiny subsets: these figures mean nothing.**")
        out.append("")
    out.append(f"Generated by `benchmarks/nlu_public.py` (`make bench-nlu`); every figure, setting "
               f"and cost is in `nlu.json`. Config `config.yml` digest `{results['config']['sha256']}`; "
               f"Rasa {results['versions'].get('rasa')}, TensorFlow {results['versions'].get('tensorflow')}, "
               f"scikit-learn {results['versions'].get('scikit-learn')}; machine: "
               f"{results['machine'].get('cpus')} CPUs ({results['machine'].get('cpu', '?')}).")
    out.append("")
    out.append("Ours = the production pipeline of `config.yml`, trained on the benchmark's data "
               "with the changes listed below. Figures are percentages. \"DIET\" is the "
               "classifier's top intent; \"production output\" also applies the "
               "FallbackClassifier of config.yml (its `nlu_fallback` counts as wrong on "
               "BANKING77 and as out-of-scope on CLINC150). The baseline is scikit-learn "
               f"({BASELINE_SETTINGS['features']}; {BASELINE_SETTINGS['classifier']}), fitted "
               "and scored in the same run on the same splits.")
    out.append("")
    datasets = results.get("datasets", {})
    b = datasets.get("banking77")
    if b:
        s = b["summary"]
        seeds = ", ".join(f"{v:.2f}" for v in s["10shot_accuracy_by_seed"].values())
        seed_names = ", ".join(s["10shot_accuracy_by_seed"])
        out.append(f"## BANKING77 (test accuracy, {b['test_examples']} test examples, "
                   f"{b['intents']} intents)")
        out.append("")
        out.append(f"Measured {b['date']}.")
        out.append("")
        out.append(f"| system | full training data | 10-shot: mean (seeds {seed_names}) |")
        out.append("|---|---|---|")
        shots = [b["runs"][f"10shot_seed{x}"] for x in b["seeds"]]
        fb_mean = sum(r["accuracy_with_fallback"] for r in shots) / len(shots)
        out.append(f"| **ours: DIET (config.yml recipe)** | **{fmt(s['full_accuracy'])}** | "
                   f"**{fmt(s['10shot_accuracy_mean'])}** ({seeds}) |")
        out.append(f"| ours: production output (fallback = wrong) | "
                   f"{fmt(b['runs']['full']['accuracy_with_fallback'])} "
                   f"({fmt(b['runs']['full']['fallback_rate'], 1)} % fallback) | {fmt(fb_mean)} |")
        if "baseline_full_accuracy" in s:
            bseeds = ", ".join(f"{v:.2f}" for v in s["baseline_10shot_accuracy_by_seed"].values())
            out.append(f"| baseline: word + char 1-4 n-grams, LR (this run) | "
                       f"{fmt(s['baseline_full_accuracy'])} | "
                       f"{fmt(s['baseline_10shot_accuracy_mean'])} ({bseeds}) |")
        pub = PUBLISHED["banking77"]
        for system, value in pub["full"].items():
            few = pub["10shot"].get(system)
            out.append(f"| published: {system} ({pub['source']}) | {fmt(value)} | "
                       f"{fmt(few)} |")
        out.append("")
        out.append(PUBLISHED_ROWS_NOTE.format(source=pub["source"], licence="CC BY 4.0"))
        out.append("")
    c = datasets.get("clinc150")
    if c:
        a, t = c["runs"]["oos_intent"], c["runs"]["threshold"]
        out.append("## CLINC150 data_full (in-scope accuracy / out-of-scope recall)")
        out.append("")
        out.append(f"Measured {c['date']}. Test: {c['examples']['test']} in-scope + "
                   f"{c['examples']['oos_test']} out-of-scope queries, {c['intents']} intents. "
                   "(a) oos is one more intent, trained on oos_train; (b) no oos intent, a query "
                   "is out of scope when the top confidence is below a threshold chosen on "
                   "val + oos_val to maximise in-scope accuracy + OOS recall.")
        out.append("")
        out.append("| system | (a) oos as an intent | (b) confidence threshold |")
        out.append("|---|---|---|")
        out.append(f"| **ours: DIET (config.yml recipe)** | "
                   f"**{pair(a['in_scope_accuracy'], a['oos_recall'])}** | "
                   f"**{pair(t['in_scope_accuracy'], t['oos_recall'])}** "
                   f"(threshold {t['threshold']:.2f}) |")
        fallback = next(x for x in results["config"]["derived"]["pipeline"]
                        if x["name"] == "FallbackClassifier")
        out.append(f"| ours: production output (FallbackClassifier {fallback.get('threshold')}"
                   f" / ambiguity {fallback.get('ambiguity_threshold')}) | "
                   f"{pair(a['with_fallback']['in_scope_accuracy'], a['with_fallback']['oos_recall'])} | "
                   f"{pair(t['with_fallback']['in_scope_accuracy'], t['with_fallback']['oos_recall'])} |")
        if "baseline" in a:
            ba, bt = a["baseline"], t["baseline"]
            out.append(f"| baseline: word + char 1-4 n-grams, LR (this run) | "
                       f"{pair(ba['in_scope_accuracy'], ba['oos_recall'])} | "
                       f"{pair(bt['in_scope_accuracy'], bt['oos_recall'])} (threshold "
                       f"{bt['threshold']:.2f}); {pair(bt['fixed']['in_scope_accuracy'], bt['fixed']['oos_recall'])} "
                       f"(threshold {bt['fixed']['threshold']}) |")
        pub = PUBLISHED["clinc150"]
        for system in dict.fromkeys([*pub["oos_intent"], *pub["threshold"]]):
            x, y = pub["oos_intent"].get(system), pub["threshold"].get(system)
            out.append(f"| published: {system} ({pub['source']}) | "
                       f"{pair(*x) if x else '—'} | "
                       f"{pair(*y) if y else '—'} |")
        out.append("")
        out.append(PUBLISHED_ROWS_NOTE.format(source=pub["source"], licence="CC BY 3.0"))
        out.append("")
    out.append("## Cost of each run")
    out.append("")
    out.append("`rasa train nlu` in a subprocess with an empty Rasa cache: wall time, DIET's "
               "epochs (from its progress bar), peak RSS of the training process (ru_maxrss), "
               "and the 1/5/15-minute load average just before it (2 busy cores slow "
               "everything). Parsing is in-process, in batches of 256.")
    out.append("")
    out.append("| run | train examples | load before (1/5/15 min) | train s | DIET s | "
               "DIET s per epoch after the first | peak RSS MB | texts parsed | parse s | "
               "baseline fit s |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for dname, d in datasets.items():
        for rname, r in d["runs"].items():
            out.append(
                f"| {dname} {rname} | {r['train_examples']} | "
                f"{' '.join(str(x) for x in r['load_average_before'])} | "
                f"{r['train_wall_seconds']:.0f} | {fmt(r.get('diet_seconds'), 0)} | "
                f"{fmt(r.get('diet_later_epoch_seconds'))} | {r['train_peak_rss_mb']:.0f} | "
                f"{r['eval_texts']} | {r['eval_wall_seconds']:.1f} | "
                f"{fmt(r.get('baseline', {}).get('fit_seconds'), 1)} |")
    out.append("")
    out.append("## What differs from the production pipeline")
    out.append("")
    for change in results["config"]["changes"]:
        if change["change"] == "dropped":
            out.append(f"- dropped `{change['component']}`: {change['reason']}")
        else:
            extra = ""
            if change.get("settings_dropped"):
                extra = f" (its settings {json.dumps(change['settings_dropped'])} dropped)"
            elif "from" in change:
                extra = f" (was `{change['from']}`)"
            out.append(f"- `{change['component']}` → `{change['by']}`{extra}"
                       + (f": {change['reason']}" if change.get("reason") else ""))
    out.append("- everything else as in config.yml: "
               + ", ".join(f"`{x['name']}`" for x in results["config"]["derived"]["pipeline"])
               + " with their settings (DIET: "
               + ", ".join(f"{k} {v}" for k, v in component(results["config"]["derived"],
                                                           "DIETClassifier").items()
                           if k != "name") + ").")
    out.append("- intent names: characters other than letters, digits and `_` become `_` "
               "(BANKING77's `reverted_card_payment?`); training texts are put on one line "
               "(BANKING77 has quoted newlines); test texts are parsed as they are.")
    out.append("")
    out.append("## Data")
    out.append("")
    for d in results["data_sources"].values():
        out.append(f"- **{d['name']}**: {d['citation']} Data: {d['repository']}, "
                   f"licence {d['licence']}.")
    out.append("")
    out.append("Published figures come from these papers, with their own models and hardware; "
               "Larson et al.'s \"Rasa (2019)\" is the Rasa pipeline of 2019, not this recipe.")
    out.append("")
    return "\n".join(out)


def parse_seeds(values: Sequence[str]) -> list[int]:
    seeds = [int(x) for v in values for x in v.split(",") if x.strip()]
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError("--seeds: distinct integers")
    return seeds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny subsets (6 intents), a smoke test; writes to var/bench/nlu-quick/")
    parser.add_argument("--only", choices=["banking77", "clinc150"],
                        help="one dataset; its results replace that dataset's in nlu.json")
    parser.add_argument("--seeds", nargs="+", default=[str(s) for s in DEFAULT_SEEDS],
                        help="10-shot sampling seeds (default 1 2 3)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the scikit-learn baseline")
    parser.add_argument("--out", type=Path, help="results folder (default benchmarks/results, "
                                                 "or var/bench/nlu-quick with --quick)")
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    out_dir = args.out or (QUICK_DIR if args.quick else RESULTS_DIR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")  # Rasa's tracker store
    import logging
    import warnings

    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")  # Rasa's dependencies' deprecation noise
    # Importing Rasa makes some of its dependencies put their own filters (DeprecationWarning
    # "default"/"once") in front: import it now, then put "ignore" back in front of them.
    import rasa.core.agent  # noqa: F401
    import rasa.shared.nlu.training_data.loading  # noqa: F401

    warnings.filterwarnings("ignore")

    production = load_config()
    derived, changes = derive_pipeline(production)
    baseline = not args.no_baseline
    if baseline:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            print("scikit-learn is not installed: no baseline", flush=True)
            baseline = False
    started = dt.datetime.now(dt.timezone.utc)
    print(f"nlu_public: {'QUICK ' if args.quick else ''}{args.only or 'banking77 + clinc150'}, "
          f"seeds {seeds}, load average {load_average()}, {os.cpu_count()} CPUs", flush=True)
    total = time.monotonic()
    datasets: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bankbot-nlu-public-") as tmp:
        ctx = Context(config=derived, workdir=Path(tmp), baseline=baseline,
                      log_dir=QUICK_LOG_DIR if args.quick else LOG_DIR)
        for name in ("banking77", "clinc150"):
            if args.only and args.only != name:
                continue
            t0 = time.monotonic()
            date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            if name == "banking77":
                section = run_banking77(ctx, seeds, args.quick)
            else:
                section = run_clinc150(ctx, args.quick)
            datasets[name] = {"date": date, "config_sha256": config_digest(derived),
                              "wall_seconds": round(time.monotonic() - t0, 1),
                              "load_average_after": load_average(), **section}
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "nlu.json", out_dir / "nlu.md"
    previous: dict[str, Any] = {}
    if args.only and json_path.is_file():
        previous = json.loads(json_path.read_text(encoding="utf-8"))
        if previous.get("quick") != args.quick:
            previous = {}
    merged = {**previous.get("datasets", {}), **datasets}
    for name, section in merged.items():
        if section.get("config_sha256") != config_digest(derived):
            print(f"note: the {name} results in {json_path} come from another config", flush=True)
    results = {
        "benchmark": "bankbot NLU recipe on public English intent benchmarks",
        "script": "benchmarks/nlu_public.py",
        "quick": args.quick,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(time.monotonic() - total, 1),
        "machine": machine(),
        "versions": versions(),
        "config": {"source": "config.yml", "sha256": config_digest(derived),
                   "production_sha256": file_digest(CONFIG_PATH)[:16],
                   "derived": derived, "changes": changes},
        "data_sources": {
            name: {**src, "sha256": {p.name: file_digest(p)[:16] for p in (
                [BANKING77_DIR / "train.csv", BANKING77_DIR / "test.csv"]
                if name == "banking77" else [CLINC150_FILE])}}
            for name, src in DATA_SOURCES.items()},
        "metrics": {
            "banking77": "accuracy (%) of the top intent on test.csv; accuracy_with_fallback "
                         "counts nlu_fallback as wrong",
            "clinc150": "in_scope_accuracy (%) over test (an oos prediction is wrong) and "
                        "oos_recall (%) over oos_test; threshold: the lowest of 0.00..0.99 "
                        "maximising in-scope accuracy + OOS recall on val + oos_val",
        },
        "published": PUBLISHED,
        "baseline": {"settings": BASELINE_SETTINGS, "measured": baseline},
        "datasets": merged,
    }
    json_path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    md_path.write_text(render_markdown(results), encoding="utf-8")
    print(f"wrote {json_path} and {md_path} ({results['wall_seconds']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
