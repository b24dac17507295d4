"""Evaluate NLU models on a held-out file, compare two evaluations, cross-validate.

Evaluation loads only the NLU part of a model archive (the graph up to Rasa's NLU
target, FallbackClassifier included) and parses every example of the test file, in
batches, through that one loaded graph. As ``rasa test nlu`` does, a FallbackClassifier
prediction is undone so the intent it shadowed is scored; how often the fallback fired
is reported separately. Retrieval intents are scored by their full name
(``faq/<topic>``, from the ResponseSelector), so each FAQ topic has its own row.

Loading is sped up by building the model's TensorFlow functions eagerly: Rasa's loader
runs one training step to create the weights before restoring them, and tracing that
step (DIET's CRF) costs far more than running it once. Weights are then restored as
usual and predictions run as traced graphs, so results are those of ``rasa run``.

Cross-validation (:func:`cross_validate`) uses our own stratified folds (fixed seed, so
two runs on the same data split alike) and trains each fold's NLU model with ``rasa
train nlu`` in a subprocess. To keep it within a few minutes on 2 cores the neural
components (DIETClassifier, ResponseSelector) train with fewer epochs than config.yml
(``epochs``, default half of the configured count): scores are a little lower than the
full model's, which is fine for spotting confusable intents; compare CV runs with CV runs.

``python -m bot.trainer.evaluate`` is the subprocess entry the training jobs use.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# progress(label, fraction done 0..1)
Progress = Callable[[str, float], None]
PROGRESS_PREFIX = "[progress]"
EVALUATION_FILE = "evaluation.json"
COMPARISON_FILE = "comparison.json"
CONFUSION_FILE = "confusion.png"
CROSS_VALIDATION_FILE = "cross_validation.json"
NEURAL_COMPONENTS = ("DIETClassifier", "ResponseSelector")


class EvaluationError(Exception):
    """An evaluation could not be run (missing file, bad archive, training failed)."""


@dataclass
class IntentScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class ExamplePrediction:
    text: str
    expected: str
    predicted: str
    confidence: float
    fallback: bool = False  # the FallbackClassifier would have answered nlu_fallback

    @property
    def correct(self) -> bool:
        return self.expected == self.predicted


@dataclass
class Evaluation:
    """Scores of one model on one test file, with every prediction."""

    model: str
    test_file: str
    test_file_sha: str
    accuracy: float
    macro_f1: float
    weighted_f1: float
    fallback_rate: float
    intents: dict[str, IntentScore]
    labels: list[str]
    confusion: list[list[int]]  # rows: expected label, columns: predicted label
    predictions: list[ExamplePrediction]
    model_id: str = ""
    created_at: str = ""
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The numbers kept in the model registry's metadata."""
        return {
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "weighted_f1": round(self.weighted_f1, 4),
            "fallback_rate": round(self.fallback_rate, 4),
            "examples": len(self.predictions),
            "test_file": self.test_file,
            "test_file_sha": self.test_file_sha,
            "evaluated_at": self.created_at,
        }

    def errors(self) -> list[ExamplePrediction]:
        return [p for p in self.predictions if not p.correct]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        values = dict(data)
        values["intents"] = {k: IntentScore(**v) for k, v in data["intents"].items()}
        values["predictions"] = [ExamplePrediction(**p) for p in data["predictions"]]
        return cls(**values)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), "utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Evaluation:
        try:
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EvaluationError(f"cannot read evaluation {path}: {exc}") from exc


def file_sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def score(
    predictions: Sequence[ExamplePrediction],
    *,
    model: str,
    test_file: str,
    test_file_sha: str = "",
    model_id: str = "",
    seconds: float = 0.0,
) -> Evaluation:
    """Per-intent precision/recall/F1, accuracy, macro/weighted F1, confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    if not predictions:
        raise EvaluationError(f"{test_file} has no intent examples")
    expected = [p.expected for p in predictions]
    predicted = [p.predicted for p in predictions]
    labels = sorted(set(expected) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        expected, predicted, labels=labels, zero_division=0
    )
    intents = {
        label: IntentScore(float(p), float(r), float(f), int(s))
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    total = sum(int(s) for s in support)
    matrix = confusion_matrix(expected, predicted, labels=labels)
    return Evaluation(
        model=model,
        test_file=test_file,
        test_file_sha=test_file_sha,
        accuracy=sum(p.correct for p in predictions) / len(predictions),
        macro_f1=float(sum(f1) / len(labels)),
        weighted_f1=float(sum(float(f) * int(s) for f, s in zip(f1, support, strict=True)) / total),
        fallback_rate=sum(p.fallback for p in predictions) / len(predictions),
        intents=intents,
        labels=labels,
        confusion=[[int(c) for c in row] for row in matrix],
        predictions=list(predictions),
        model_id=model_id,
        created_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        seconds=round(seconds, 2),
    )


# -- loading and parsing -------------------------------------------------------


@contextmanager
def _quiet() -> Iterator[None]:
    """Rasa and TensorFlow warnings would bury the progress output."""
    rasa_logger = logging.getLogger("rasa")
    level = rasa_logger.level
    rasa_logger.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            rasa_logger.setLevel(level)


class NluModel:
    """The NLU part of a model archive, loaded once to parse many messages."""

    def __init__(self, archive: Path) -> None:
        archive = Path(archive)
        if not archive.is_file():
            raise EvaluationError(f"model archive {archive} does not exist")
        self.archive = archive
        self._tmp = tempfile.TemporaryDirectory(prefix="bankbot-eval-")
        try:
            self._load(archive)
        except (tarfile.TarError, OSError, ValueError, KeyError) as exc:
            self._tmp.cleanup()
            raise EvaluationError(f"cannot load model {archive}: {exc}") from exc

    def _load(self, archive: Path) -> None:
        with _quiet():
            import tensorflow as tf
            from rasa.engine.graph import ExecutionContext
            from rasa.engine.runner.dask import DaskGraphRunner
            from rasa.engine.storage.local_model_storage import LocalModelStorage

            storage, metadata = LocalModelStorage.from_model_archive(
                Path(self._tmp.name), archive
            )
            self.model_id = str(metadata.model_id)
            self._target = metadata.nlu_target
            schema = metadata.predict_schema.minimal_graph_schema([self._target])
            # See the module docstring: eager loading skips tracing the training step.
            tf.config.run_functions_eagerly(True)
            try:
                self._runner = DaskGraphRunner.create(
                    graph_schema=schema,
                    model_storage=storage,
                    execution_context=ExecutionContext(
                        graph_schema=schema, model_id=metadata.model_id
                    ),
                )
            finally:
                tf.config.run_functions_eagerly(False)

    def parse(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Parse data (intent, intent_ranking, response_selector, entities) per text."""
        from rasa.core.channels.channel import UserMessage

        with _quiet():
            results = self._runner.run(
                inputs={"__message__": [UserMessage(text) for text in texts]},
                targets=[self._target],
            )
        return [m.as_dict(only_output_properties=False) for m in results[self._target]]

    def close(self) -> None:
        self._tmp.cleanup()

    def __enter__(self) -> NluModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def predicted_label(parse: dict[str, Any]) -> tuple[str, float, bool]:
    """(label, confidence, fallback fired) with the FallbackClassifier undone."""
    from rasa.nlu.classifiers.fallback_classifier import (
        is_fallback_classifier_prediction,
        undo_fallback_prediction,
    )

    fallback = is_fallback_classifier_prediction(parse)
    if fallback:
        parse = undo_fallback_prediction(parse)
    intent = parse.get("intent") or {}
    name = str(intent.get("name") or "")
    confidence = float(intent.get("confidence") or 0.0)
    selector = parse.get("response_selector") or {}
    if name in selector.get("all_retrieval_intents", []):
        key = (selector.get(name) or {}).get("response", {}).get("intent_response_key")
        if key:
            name = str(key)
    return name, confidence, fallback


def load_examples(test_file: Path) -> list[tuple[str, str]]:
    """(text, expected label) for every intent example of an NLU file or folder."""
    from rasa.shared.nlu.training_data.loading import load_data

    if not Path(test_file).exists():
        raise EvaluationError(f"test file {test_file} does not exist")
    with _quiet():
        data = load_data(str(test_file))
    return [
        (str(m.get("text")), str(m.get("intent_response_key") or m.get("intent")))
        for m in data.intent_examples
    ]


def predict(
    model: NluModel,
    examples: Sequence[tuple[str, str]],
    *,
    progress: Progress | None = None,
    batch_size: int = 25,
) -> list[ExamplePrediction]:
    out: list[ExamplePrediction] = []
    for start in range(0, len(examples), batch_size):
        batch = examples[start : start + batch_size]
        for (text, expected), parse in zip(batch, model.parse([t for t, _ in batch]), strict=True):
            label, confidence, fallback = predicted_label(parse)
            out.append(ExamplePrediction(text, expected, label, round(confidence, 4), fallback))
        if progress:
            progress(f"parse {len(out)}/{len(examples)}", len(out) / len(examples))
    return out


def evaluate_model(
    model: Path | NluModel,
    test_file: Path,
    *,
    name: str | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Evaluate a model archive (or an already loaded model) on an NLU test file."""
    started = time.perf_counter()
    examples = load_examples(test_file)
    if not examples:
        raise EvaluationError(f"{test_file} has no intent examples")
    if progress:
        progress("load model", 0.0)
    owned = not isinstance(model, NluModel)
    loaded = NluModel(Path(model)) if not isinstance(model, NluModel) else model
    try:
        if progress:
            progress(f"parse 0/{len(examples)}", 0.0)
        predictions = predict(loaded, examples, progress=progress)
    finally:
        if owned:
            loaded.close()
    return score(
        predictions,
        model=name or str(loaded.archive),
        test_file=str(test_file),
        test_file_sha=file_sha(test_file) if Path(test_file).is_file() else "",
        model_id=loaded.model_id,
        seconds=time.perf_counter() - started,
    )


# -- confusion matrix image ---------------------------------------------------


def _cjk_font() -> str | None:
    """Register Noto Sans CJK (fonts-noto-cjk) with matplotlib; its family name or None."""
    from matplotlib import font_manager

    for found in font_manager.findSystemFonts():
        if "NotoSansCJK-Regular" in found or "NotoSansCJKsc-Regular" in found:
            font_manager.fontManager.addfont(found)
            return str(font_manager.FontProperties(fname=found).get_name())
    return None


def render_confusion_matrix(evaluation: Evaluation, path: Path, title: str = "") -> Path:
    """A PNG of the confusion matrix (rows: labelled intent, columns: predicted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    family = _cjk_font()
    labels = evaluation.labels
    counts = np.array(evaluation.confusion, dtype=float)
    row_sums = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
    size = max(6.0, 0.3 * len(labels) + 3.0)
    rc = {"font.family": "sans-serif", "font.sans-serif": [family, "DejaVu Sans"]} if family else {}
    with plt.rc_context(rc):
        fig, ax = plt.subplots(figsize=(size, size * 0.9))
        image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(len(labels)))
        ax.set_yticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
        ax.set_yticklabels(labels, fontsize=7)
        for i, j in zip(*np.nonzero(counts), strict=True):
            ax.text(
                j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=6,
                color="white" if shares[i, j] > 0.5 else "black",
            )
        ax.set_xlabel("预测意图 predicted" if family else "predicted")
        ax.set_ylabel("标注意图 expected" if family else "expected")
        heading = title or f"{Path(evaluation.model).name}: accuracy {evaluation.accuracy:.3f}"
        ax.set_title(("混淆矩阵 " if family else "") + heading, fontsize=10)
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return path


def save_evaluation(evaluation: Evaluation, out_dir: Path, title: str = "") -> Path:
    """evaluation.json and confusion.png in ``out_dir``; returns the JSON path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    render_confusion_matrix(evaluation, out_dir / CONFUSION_FILE, title)
    return evaluation.save(out_dir / EVALUATION_FILE)


# -- comparison ---------------------------------------------------------------


@dataclass
class IntentDelta:
    intent: str
    old_f1: float
    new_f1: float
    delta: float
    support: int


@dataclass
class ExampleChange:
    text: str
    expected: str
    old_predicted: str
    new_predicted: str
    new_confidence: float


@dataclass
class Comparison:
    """How a new model differs from an old one on the same test examples.

    ``verdict``: "worse" (some intent's F1 dropped by more than ``threshold`` and none
    rose by more), "better" (none dropped, and macro F1 rose or more examples were
    fixed than broken), "unchanged" (no prediction changed correctness, no F1 moved by
    more than the threshold), otherwise "mixed".
    """

    old_model: str
    new_model: str
    verdict: str
    threshold: float
    accuracy: tuple[float, float]
    macro_f1: tuple[float, float]
    weighted_f1: tuple[float, float]
    intents: list[IntentDelta]  # largest drop first
    flagged: list[str]  # intents whose F1 dropped by more than the threshold
    improved: list[str]
    fixed: list[ExampleChange]  # old wrong, new right
    broken: list[ExampleChange]  # old right, new wrong
    common_examples: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "old_model": self.old_model,
            "flagged": self.flagged,
            "improved": self.improved,
            "fixed": len(self.fixed),
            "broken": len(self.broken),
            "accuracy_delta": round(self.accuracy[1] - self.accuracy[0], 4),
            "macro_f1_delta": round(self.macro_f1[1] - self.macro_f1[0], 4),
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), "utf-8")
        return path


def compare(old: Evaluation, new: Evaluation, *, threshold: float = 0.05) -> Comparison:
    """Per-intent F1 deltas, fixed/broken examples and a verdict (see :class:`Comparison`)."""
    old_by_key = {(p.text, p.expected): p for p in old.predictions}
    fixed: list[ExampleChange] = []
    broken: list[ExampleChange] = []
    common = 0
    for p in new.predictions:
        before = old_by_key.get((p.text, p.expected))
        if before is None:
            continue
        common += 1
        change = ExampleChange(p.text, p.expected, before.predicted, p.predicted, p.confidence)
        if p.correct and not before.correct:
            fixed.append(change)
        elif before.correct and not p.correct:
            broken.append(change)
    zero = IntentScore(0.0, 0.0, 0.0, 0)
    deltas = []
    for intent in sorted(set(old.intents) | set(new.intents)):
        before_score, after = old.intents.get(intent, zero), new.intents.get(intent, zero)
        support = max(before_score.support, after.support)
        if support == 0:
            continue  # only ever predicted, never a label: its drop shows in other rows
        deltas.append(
            IntentDelta(intent, round(before_score.f1, 4), round(after.f1, 4),
                        round(after.f1 - before_score.f1, 4), support)
        )
    deltas.sort(key=lambda d: (d.delta, d.intent))
    flagged = [d.intent for d in deltas if d.delta < -threshold]
    improved = [d.intent for d in deltas if d.delta > threshold]
    macro_delta = new.macro_f1 - old.macro_f1
    if flagged and not improved:
        verdict = "worse"
    elif not flagged and (improved or (fixed and (macro_delta > 0 or len(fixed) > len(broken)))):
        verdict = "better"
    elif not flagged and not improved and not fixed and not broken:
        verdict = "unchanged"
    else:
        verdict = "mixed"
    return Comparison(
        old_model=old.model,
        new_model=new.model,
        verdict=verdict,
        threshold=threshold,
        accuracy=(round(old.accuracy, 4), round(new.accuracy, 4)),
        macro_f1=(round(old.macro_f1, 4), round(new.macro_f1, 4)),
        weighted_f1=(round(old.weighted_f1, 4), round(new.weighted_f1, 4)),
        intents=deltas,
        flagged=flagged,
        improved=improved,
        fixed=fixed,
        broken=broken,
        common_examples=common,
    )


# -- cross-validation ---------------------------------------------------------


@dataclass
class CrossValidation:
    folds: int
    epochs: dict[str, int]
    fold_accuracies: list[float]
    evaluation: Evaluation  # all folds' test predictions pooled
    seconds: float
    seed: int = 42
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, path: Path) -> CrossValidation:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data["evaluation"] = Evaluation.from_json(data["evaluation"])
        return cls(**data)

    def save(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        title = f"{self.folds}-fold cross-validation: accuracy {self.evaluation.accuracy:.3f}"
        render_confusion_matrix(self.evaluation, out_dir / CONFUSION_FILE, title)
        path = out_dir / CROSS_VALIDATION_FILE
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), "utf-8")
        return path


def cv_config(config_file: Path, epochs: int | None) -> tuple[dict[str, Any], dict[str, int]]:
    """config.yml with fewer epochs for the neural components, and the epochs used."""
    from rasa.shared.utils.io import read_yaml_file

    config = dict(read_yaml_file(str(config_file)))
    used: dict[str, int] = {}
    for i, component in enumerate(config.get("pipeline") or []):
        name = str(component.get("name", ""))
        if name in NEURAL_COMPONENTS:
            configured = int(component.get("epochs", 300))
            component["epochs"] = epochs if epochs else max(5, configured // 2)
            used[f"{i}:{name}"] = int(component["epochs"])
    config.pop("policies", None)
    return config, used


def _train_fold(
    project_root: Path,
    config_file: Path,
    nlu_file: Path,
    out_dir: Path,
    name: str,
    report: Callable[[float], None],
    log: Path,
) -> Path:
    """``rasa train nlu`` for one fold (a subprocess; its epochs drive ``report``)."""
    from bot.trainer.jobs import LineSplitter, TrainProgress, rasa_env

    progress = TrainProgress.from_config(config_file)
    args = [
        sys.executable, "-m", "rasa", "train", "nlu",
        "--config", str(config_file), "--nlu", str(nlu_file),
        "--domain", str(project_root / "domain"),
        "--out", str(out_dir), "--fixed-model-name", name,
    ]
    splitter = LineSplitter()
    with log.open("ab") as log_file, subprocess.Popen(
        args, cwd=project_root, env=rasa_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as proc:
        assert proc.stdout is not None
        while chunk := os.read(proc.stdout.fileno(), 65536):
            for line, transient in splitter.feed(chunk):
                progress.feed(line)
                report(progress.fraction)
                if not transient:
                    log_file.write(line.encode() + b"\n")
        code = proc.wait()
    model = out_dir / f"{name}.tar.gz"
    if code != 0 or not model.is_file():
        raise EvaluationError(f"training fold {name} failed (exit {code}); see {log}")
    return model


def cross_validate(
    project_root: Path,
    folds: int = 3,
    *,
    epochs: int | None = None,
    seed: int = 42,
    progress: Progress | None = None,
    log: Path | None = None,
) -> CrossValidation:
    """Stratified ``folds``-fold cross-validation of the project's NLU data."""
    from rasa.shared.importers.rasa import RasaFileImporter
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from rasa.shared.utils.io import write_yaml
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise EvaluationError("cross-validation needs at least 2 folds")
    started = time.perf_counter()
    project_root = Path(project_root).resolve()
    with _quiet():
        data = RasaFileImporter(
            domain_path=str(project_root / "domain"),
            training_data_paths=[str(project_root / "data")],
        ).get_nlu_data()
    examples = data.intent_examples
    labels = [str(m.get_full_intent()) for m in examples]
    if not examples:
        raise EvaluationError(f"no NLU examples under {project_root / 'data'}")
    config, used = cv_config(project_root / "config.yml", epochs)
    notes = []
    smallest = min(labels.count(label) for label in set(labels))
    if smallest < folds:
        notes.append(f"some intents have fewer than {folds} examples; their folds are uneven")

    def report(label: str, fraction: float) -> None:
        if progress:
            progress(label, min(1.0, fraction))

    predictions: list[ExamplePrediction] = []
    fold_accuracies: list[float] = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with tempfile.TemporaryDirectory(prefix="bankbot-cv-") as tmp_name, _quiet():
        tmp = Path(tmp_name)
        config_file = tmp / "config.yml"
        write_yaml(config, config_file)
        log_file = log or tmp / "cv.log"
        for fold, (train_idx, test_idx) in enumerate(splitter.split(examples, labels)):
            base = fold / folds
            train = TrainingData(
                training_examples=[examples[i] for i in train_idx],
                entity_synonyms=data.entity_synonyms,
                regex_features=data.regex_features,
                lookup_tables=data.lookup_tables,
            )
            nlu_file = tmp / f"fold{fold + 1}.yml"
            RasaYAMLWriter().dump(nlu_file, train)
            label = f"fold {fold + 1}/{folds}"

            def train_progress(f: float, base: float = base, label: str = label) -> None:
                report(f"{label}: train", base + 0.7 * f / folds)

            def parse_progress(what: str, f: float, base: float = base, label: str = label) -> None:
                report(f"{label}: {what}", base + (0.7 + 0.3 * f) / folds)

            train_progress(0.0)
            model_path = _train_fold(
                project_root, config_file, nlu_file, tmp, f"fold{fold + 1}",
                train_progress, log_file,
            )
            report(f"{label}: load", base + 0.7 / folds)
            test = [(str(examples[i].get("text")), labels[i]) for i in test_idx]
            with NluModel(model_path) as model:
                fold_predictions = predict(model, test, progress=parse_progress)
            model_path.unlink()
            predictions.extend(fold_predictions)
            fold_accuracies.append(
                round(sum(p.correct for p in fold_predictions) / len(fold_predictions), 4)
            )
    seconds = time.perf_counter() - started
    pooled = score(
        predictions,
        model=f"cross-validation ({folds} folds)",
        test_file=str(project_root / "data"),
        seconds=seconds,
    )
    report("done", 1.0)
    return CrossValidation(folds, used, fold_accuracies, pooled, round(seconds, 1), seed, notes)


# -- subprocess entry (training jobs) -----------------------------------------


def print_progress(label: str, fraction: float) -> None:
    """The line format the training jobs parse."""
    print(f"{PROGRESS_PREFIX} {fraction:.4f} {label}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.trainer.evaluate",
        description="Evaluation step of a training job (prints [progress] lines).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate")
    ev.add_argument("--model", type=Path, required=True)
    ev.add_argument("--test-file", type=Path, required=True)
    ev.add_argument("--out", type=Path, required=True)
    ev.add_argument("--name", default=None)
    cv = sub.add_parser("cross-validate")
    cv.add_argument("--project", type=Path, required=True)
    cv.add_argument("--folds", type=int, default=3)
    cv.add_argument("--epochs", type=int, default=None)
    cv.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "evaluate":
            evaluation = evaluate_model(
                args.model, args.test_file, name=args.name, progress=print_progress
            )
            print(f"wrote {save_evaluation(evaluation, args.out)}", flush=True)
            print(f"accuracy {evaluation.accuracy:.4f} macro F1 {evaluation.macro_f1:.4f}")
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            result = cross_validate(
                args.project, args.folds, epochs=args.epochs, progress=print_progress,
                log=args.out / "cv.log",
            )
            print(f"wrote {result.save(args.out)}", flush=True)
            print(f"accuracy {result.evaluation.accuracy:.4f} "
                  f"macro F1 {result.evaluation.macro_f1:.4f}")
    except EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
