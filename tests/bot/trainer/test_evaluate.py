"""Evaluation, comparison and cross-validation with real (tiny) trained models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.trainer import evaluate as ev
from bot.trainer.cli import main as cli_main

EXAMPLES = {
    "greet": "你好 您好 在吗 早上好 下午好 晚上好 哈喽 嗨 你好呀 有人吗 在不在 hello hi 您好请问 你好小助手",
    "goodbye": "再见 拜拜 下次见 回头见 先这样 走了 88 bye 再会 明天见 晚安 不聊了 好的再见 那我先走了 拜拜啦",
    "check_balance": "查余额 我还有多少钱 余额多少 查一下余额 卡里还有多少钱 账户余额 看看余额 帮我查下余额 "
    "我的存款有多少 余额查询 还剩多少钱 账上多少钱 查询账户余额 我卡上有多少钱 存款余额",
    "thank": "谢谢 多谢 感谢 谢啦 非常感谢 太感谢了 谢谢你 谢了 辛苦了 感谢帮忙 谢谢啊 多谢多谢 万分感谢 谢谢小助手 thanks",
}
HELDOUT = {
    "greet": ["你好啊", "您好呀", "早啊", "在吗在吗"],
    "goodbye": ["再见啦", "拜拜了", "下回见", "先走了"],
    "check_balance": ["我余额还有多少", "帮我看看余额", "卡里余额多少", "查查我的余额"],
    "thank": ["谢谢您", "感谢感谢", "太谢谢了", "谢谢啦"],
}
CONFIG = """\
recipe: default.v1
language: zh
assistant_id: tiny
pipeline:
  - name: JiebaTokenizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 3
  - name: DIETClassifier
    epochs: {epochs}
    number_of_transformer_layers: 0
    embedding_dimension: 16
    entity_recognition: false
    constrain_similarities: true
    random_seed: 7
  - name: FallbackClassifier
    threshold: 0.3
policies:
  - name: RulePolicy
"""


def nlu_yaml(examples: dict[str, list[str]]) -> str:
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in examples.items():
        lines += [f"- intent: {intent}", "  examples: |"] + [f"    - {t}" for t in texts]
    return "\n".join(lines) + "\n"


def tiny_project(root: Path, examples: dict[str, list[str]], epochs: int = 40) -> Path:
    """config.yml, domain/, data/nlu.yml and tests/nlu/heldout.yml of a 4-intent bot."""
    (root / "data").mkdir(parents=True)
    (root / "domain").mkdir()
    (root / "tests" / "nlu").mkdir(parents=True)
    (root / "config.yml").write_text(CONFIG.format(epochs=epochs), encoding="utf-8")
    (root / "domain" / "domain.yml").write_text(
        'version: "3.1"\nintents: [' + ", ".join(examples) + "]\n", encoding="utf-8"
    )
    (root / "data" / "nlu.yml").write_text(nlu_yaml(examples), encoding="utf-8")
    (root / "tests" / "nlu" / "heldout.yml").write_text(nlu_yaml(HELDOUT), encoding="utf-8")
    return root


def train_nlu(project: Path, out: Path, name: str) -> Path:
    subprocess.run(
        [sys.executable, "-m", "rasa", "train", "nlu", "--config", "config.yml",
         "--nlu", "data", "--domain", "domain", "--out", str(out), "--fixed-model-name", name],
        cwd=project, check=True, capture_output=True,
        env={**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return out / f"{name}.tar.gz"


GOOD = {intent: text.split() for intent, text in EXAMPLES.items()}
# The deliberately broken change: most balance examples relabelled as greetings.
BROKEN = {
    **GOOD,
    "greet": GOOD["greet"] + GOOD["check_balance"][:12],
    "check_balance": GOOD["check_balance"][12:],
}


@pytest.fixture(scope="module")
def evaluations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ev.Evaluation]:
    root = tmp_path_factory.mktemp("evaluate")
    good_project = tiny_project(root / "good", GOOD)
    broken_project = tiny_project(root / "broken", BROKEN)
    heldout = good_project / "tests" / "nlu" / "heldout.yml"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RASA_CACHE_DIRECTORY", str(root / "rasa-cache"))
        good_model = train_nlu(good_project, root / "models", "good")
        broken_model = train_nlu(broken_project, root / "models", "broken")
    with ev.NluModel(good_model) as model:
        good = ev.evaluate_model(model, heldout, name="good")
    seen: list[tuple[str, float]] = []
    broken = ev.evaluate_model(
        broken_model, heldout, name="broken", progress=lambda label, f: seen.append((label, f))
    )
    assert seen[-1][1] == 1.0 and any(label.startswith("parse") for label, _ in seen)
    return {"good": good, "broken": broken, "root": root}  # type: ignore[dict-item]


@pytest.mark.slow
def test_evaluation_scores_every_held_out_example(
    evaluations: dict[str, ev.Evaluation], tmp_path: Path
) -> None:
    good = evaluations["good"]
    assert len(good.predictions) == 16
    assert {i: s.support for i, s in good.intents.items() if s.support} == {
        "check_balance": 4, "goodbye": 4, "greet": 4, "thank": 4,
    }
    assert good.accuracy >= 0.75, good.errors()
    assert sum(map(sum, good.confusion)) == 16
    assert good.model_id and good.test_file_sha
    for score in good.intents.values():
        assert 0.0 <= score.f1 <= 1.0

    path = ev.save_evaluation(good, tmp_path)
    assert (tmp_path / ev.CONFUSION_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = ev.Evaluation.load(path)
    assert again.accuracy == good.accuracy and again.labels == good.labels
    assert [p.predicted for p in again.predictions] == [p.predicted for p in good.predictions]


@pytest.mark.slow
def test_compare_flags_a_deliberately_broken_change(evaluations: dict[str, ev.Evaluation]) -> None:
    good, broken = evaluations["good"], evaluations["broken"]
    comparison = ev.compare(good, broken)
    assert comparison.verdict == "worse"
    assert "check_balance" in comparison.flagged
    assert comparison.broken, "the balance questions now answered as greetings are listed"
    broken_balance = [c for c in comparison.broken if c.expected == "check_balance"]
    assert broken_balance and all(c.new_predicted != "check_balance" for c in broken_balance)
    assert comparison.intents[0].delta < -0.05  # largest drop first
    # Going back from the broken model is an improvement of that intent.
    back = ev.compare(broken, good)
    assert "check_balance" in back.improved and back.verdict in ("better", "mixed")
    assert {c.text for c in back.fixed} == {c.text for c in comparison.broken}
    assert ev.compare(good, good).verdict == "unchanged"


@pytest.mark.slow
def test_cli_compare_fails_on_worse_and_evaluates_archives(
    evaluations: dict[str, ev.Evaluation], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good_json = evaluations["good"].save(tmp_path / "good" / ev.EVALUATION_FILE)
    broken_json = evaluations["broken"].save(tmp_path / "broken" / ev.EVALUATION_FILE)
    assert cli_main(["compare", str(good_json), str(broken_json)]) == 0
    assert cli_main(["compare", str(good_json), str(broken_json), "--fail-on-worse",
                     "--out", str(tmp_path / "cmp.json")]) == 1
    out = capsys.readouterr().out
    assert "verdict / 结论: worse" in out and "check_balance" in out
    assert json.loads((tmp_path / "cmp.json").read_text("utf-8"))["verdict"] == "worse"
    assert cli_main(["compare", str(good_json), str(tmp_path / "nope.tar.gz")]) == 1
    assert "does not exist" in capsys.readouterr().err
    # An archive path is evaluated on the project's held-out file.
    root = Path(evaluations["root"])  # type: ignore[arg-type]
    assert cli_main(["--project", str(root / "good"), "evaluate",
                     str(root / "models" / "good.tar.gz"), "--out", str(tmp_path / "e")]) == 0
    assert (tmp_path / "e" / ev.CONFUSION_FILE).exists()
    assert "accuracy" in capsys.readouterr().out


def test_scores_and_verdicts_on_known_predictions() -> None:
    def preds(pairs: list[tuple[str, str]]) -> list[ev.ExamplePrediction]:
        return [ev.ExamplePrediction(f"t{i}", e, p, 0.9) for i, (e, p) in enumerate(pairs)]

    old = ev.score(preds([("a", "a"), ("a", "a"), ("b", "b"), ("b", "a")]), model="old",
                   test_file="x")
    # a: precision 2/3, recall 1 -> F1 0.8; b: precision 1, recall 1/2 -> F1 2/3
    assert old.intents["a"].f1 == pytest.approx(0.8)
    assert old.intents["b"].f1 == pytest.approx(2 / 3)
    assert old.accuracy == 0.75 and old.confusion == [[2, 0], [1, 1]]
    assert old.macro_f1 == pytest.approx((0.8 + 2 / 3) / 2)
    new = ev.score(preds([("a", "a"), ("a", "a"), ("b", "b"), ("b", "b")]), model="new",
                   test_file="x")
    better = ev.compare(old, new)
    assert better.verdict == "better" and [c.text for c in better.fixed] == ["t3"]
    mixed = ev.score(preds([("a", "b"), ("a", "a"), ("b", "b"), ("b", "b")]), model="mixed",
                     test_file="x")
    assert ev.compare(new, mixed).verdict == "worse"
    assert ev.compare(old, mixed).verdict == "mixed"  # one fixed, one broken, a down b up
    with pytest.raises(ev.EvaluationError):
        ev.score([], model="empty", test_file="x")


@pytest.mark.slow
def test_cross_validation_pools_every_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RASA_CACHE_DIRECTORY", str(tmp_path / "rasa-cache"))
    project = tiny_project(tmp_path / "cv", GOOD, epochs=20)
    seen: list[float] = []
    result = ev.cross_validate(project, folds=2, epochs=10, progress=lambda _l, f: seen.append(f))
    assert result.folds == 2 and len(result.fold_accuracies) == 2
    assert result.epochs == {"2:DIETClassifier": 10}
    # Every training example is predicted exactly once, by the fold that held it out.
    assert len(result.evaluation.predictions) == sum(len(v) for v in GOOD.values())
    assert sorted(p.text for p in result.evaluation.predictions) == sorted(
        t for v in GOOD.values() for t in v
    )
    assert seen == sorted(seen) and seen[-1] == 1.0
    path = result.save(tmp_path / "out")
    assert ev.CrossValidation.load(path).fold_accuracies == result.fold_accuracies
    assert (tmp_path / "out" / ev.CONFUSION_FILE).exists()
