"""Training jobs: one at a time, live progress and log, registration, never activation."""

from __future__ import annotations

import asyncio
import fcntl
import json
from pathlib import Path

import pytest

from bot.trainer import evaluate as ev
from bot.trainer.cli import main as cli_main
from bot.trainer.jobs import (
    JobAlreadyRunning,
    JobStatus,
    LineSplitter,
    TrainingJob,
    TrainingJobs,
    TrainProgress,
)
from bot.trainer.registry import ModelRegistry, data_hash

EXAMPLES = {
    "greet": "你好 您好 在吗 早上好 下午好 晚上好 哈喽 嗨 你好呀 有人吗 在不在 hello hi 您好请问 你好小助手",
    "goodbye": "再见 拜拜 下次见 回头见 先这样 走了 88 bye 再会 明天见 晚安 不聊了 好的再见 那我先走了 拜拜啦",
    "check_balance": "查余额 我还有多少钱 余额多少 查一下余额 卡里还有多少钱 账户余额 看看余额 帮我查下余额 "
    "我的存款有多少 余额查询 还剩多少钱 账上多少钱 查询账户余额 我卡上有多少钱 存款余额",
}
HELDOUT = {
    "greet": ["你好啊", "您好呀", "早啊"],
    "goodbye": ["再见啦", "拜拜了", "下回见"],
    "check_balance": ["我余额还有多少", "帮我看看余额", "卡里余额多少"],
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
    epochs: 30
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
DOMAIN = """\
version: "3.1"
intents: [greet, goodbye, check_balance]
responses:
  utter_greet:
  - text: 您好
  utter_goodbye:
  - text: 再见
  utter_balance:
  - text: 请先验证身份
"""
RULES = """\
version: "3.1"
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: goodbye
  steps:
  - intent: goodbye
  - action: utter_goodbye
- rule: balance
  steps:
  - intent: check_balance
  - action: utter_balance
"""


def nlu_yaml(examples: dict[str, list[str]]) -> str:
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in examples.items():
        lines += [f"- intent: {intent}", "  examples: |"] + [f"    - {t}" for t in texts]
    return "\n".join(lines) + "\n"


def tiny_project(root: Path, config: str = CONFIG) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "domain").mkdir()
    (root / "tests" / "nlu").mkdir(parents=True)
    (root / "config.yml").write_text(config, encoding="utf-8")
    (root / "domain" / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    examples = {intent: text.split() for intent, text in EXAMPLES.items()}
    (root / "data" / "nlu.yml").write_text(nlu_yaml(examples), encoding="utf-8")
    (root / "data" / "rules.yml").write_text(RULES, encoding="utf-8")
    (root / "tests" / "nlu" / "heldout.yml").write_text(nlu_yaml(HELDOUT), encoding="utf-8")
    return root


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A tiny project, its data folder (BANKBOT_DATA_DIR for the CLI) and a Rasa cache."""
    monkeypatch.setenv("RASA_CACHE_DIRECTORY", str(tmp_path / "rasa-cache"))
    monkeypatch.setenv("BANKBOT_DATA_DIR", str(tmp_path / "var"))
    return {"project": tiny_project(tmp_path / "project"), "var": tmp_path / "var"}


def manager(env: dict[str, Path]) -> TrainingJobs:
    registry = ModelRegistry(env["var"] / "models")
    return TrainingJobs(env["project"], registry, env["var"] / "trainer" / "jobs")


async def watch(job: TrainingJob, timeout: float = 400.0) -> list[tuple[str, float, str]]:
    """(status, progress, detail) samples until the job has finished."""
    samples = []
    deadline = asyncio.get_running_loop().time() + timeout
    while not job.finished:
        assert asyncio.get_running_loop().time() < deadline, "training took too long"
        samples.append((job.status.value, job.progress, job.detail))
        await asyncio.sleep(0.2)
    return samples


def test_line_splitter_handles_progress_bars_and_split_characters() -> None:
    splitter = LineSplitter()
    text = "第一行\nEpochs:  10%|█ | 1/10\rEpochs:  20%|██ | 2/10\r\n\x1b[92m完成\x1b[0m\n尾"
    data = text.encode()
    cut = data.index("完".encode()) + 1  # in the middle of a UTF-8 character
    lines = splitter.feed(data[:cut]) + splitter.feed(data[cut:]) + splitter.flush()
    assert lines == [
        ("第一行", False),
        ("Epochs:  10%|█ | 1/10", True),
        ("Epochs:  20%|██ | 2/10", False),
        ("完成", False),
        ("尾", False),
    ]


def test_train_progress_from_rasa_log_lines(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text(CONFIG, encoding="utf-8")
    progress = TrainProgress.from_config(tmp_path / "config.yml")
    names = [name for name, _ in progress.components]
    assert names == ["JiebaTokenizer", "CountVectorsFeaturizer", "DIETClassifier",
                     "FallbackClassifier", "RulePolicy"]
    assert progress.fraction == 0.0
    seen = []
    for line in [
        "INFO rasa.cli.train  - Started validating domain and training data...",
        "INFO rasa.engine.training.hooks  - Starting to train component 'JiebaTokenizer'.",
        "INFO rasa.engine.training.hooks  - Finished training component 'JiebaTokenizer'.",
        "INFO rasa.engine.training.hooks  - Restored component 'CountVectorsFeaturizer' from cache.",
        "INFO rasa.engine.training.hooks  - Starting to train component 'DIETClassifier'.",
        "Epochs:  10%|█         | 3/30 [00:18<02:46, 18.45s/it]",
        "Epochs:  50%|█████     | 15/30 [00:19<00:10,  2.14s/it, t_loss=5.2, i_acc=0.2]",
        "INFO rasa.engine.training.hooks  - Finished training component 'DIETClassifier'.",
        "INFO rasa.engine.training.hooks  - Starting to train component 'RulePolicy'.",
    ]:
        progress.feed(line)
        seen.append(progress.fraction)
    assert seen == sorted(seen) and 0.0 < seen[0] < seen[-1] < 1.0
    assert progress.detail == "training RulePolicy"
    # DIET (30 epochs) weighs 7 of 11: halfway through it is past a third of the run.
    assert 0.35 < seen[6] < 0.6
    progress.feed("Your Rasa model is trained and saved at '/tmp/x.tar.gz'.")
    assert progress.fraction == 1.0


@pytest.mark.slow
async def test_training_job_registers_evaluates_and_never_activates(
    env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = manager(env)
    job = await jobs.start("alice", notes="first")
    assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    with pytest.raises(JobAlreadyRunning):
        await jobs.start("bob")
    # Another process (the CLI while the console trains) is refused too.
    with pytest.raises(JobAlreadyRunning, match="alice"):
        await manager(env).start("bob")

    samples = await watch(job)
    assert job.status is JobStatus.SUCCEEDED, job.error
    progress = [p for _, p, _ in samples]
    assert progress == sorted(progress)
    assert any(0 < p < 80 for p in progress), progress
    assert any("DIETClassifier" in d for _, _, d in samples)
    assert job.progress == 100.0

    registry = jobs.registry
    entry = registry.get(job.version or "")
    assert entry.trained_by == "alice" and entry.notes == "first"
    assert entry.data_hash == data_hash(env["project"])
    assert entry.version.endswith(entry.data_hash[:8])
    assert entry.metrics["examples"] == 9 and 0 <= entry.metrics["accuracy"] <= 1
    assert (registry.artefact_dir(entry.version) / ev.CONFUSION_FILE).exists()
    assert registry.active() is None  # trained and evaluated, not activated
    log = Path(job.log_path).read_text(encoding="utf-8")
    assert "Starting to train component 'DIETClassifier'" in log
    assert any("registered model version" in line for _, line in job.tail())
    saved = json.loads((env["var"] / "trainer" / "jobs" / f"{job.id}.json").read_text("utf-8"))
    assert saved["status"] == "succeeded" and saved["version"] == entry.version
    assert manager(env).get(job.id).version == entry.version

    # The CLI trains the same data again and compares with the first version.
    code = await asyncio.to_thread(
        cli_main,
        ["--project", str(env["project"]), "--user", "carol", "train",
         "--baseline", entry.version, "--fail-on-worse"],
    )
    out = capsys.readouterr().out
    assert code == 0, out
    second = registry.versions()[0]
    assert second.version != entry.version and second.trained_by == "carol"
    assert second.compared_to == entry.version and second.parent is None
    assert second.comparison["verdict"] == "unchanged"  # same data and seed
    assert "verdict unchanged" in out and second.version in out
    assert registry.active() is None


@pytest.mark.slow
async def test_cancel_and_failed_training_register_nothing(env: dict[str, Path]) -> None:
    jobs = manager(env)
    job = await jobs.start("alice")
    while job.seq < 3 and not job.finished:  # rasa has started and printed something
        await asyncio.sleep(0.2)
    cancelled = await jobs.cancel(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert jobs.registry.versions() == []
    with (env["var"] / "trainer" / "jobs" / "running.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released
        fcntl.flock(handle, fcntl.LOCK_UN)

    (env["project"] / "config.yml").write_text(
        CONFIG.replace("JiebaTokenizer", "NoSuchTokenizer"), encoding="utf-8"
    )
    failed = await jobs.start("alice")
    await watch(failed, timeout=200)
    assert failed.status is JobStatus.FAILED and "exited with" in failed.error
    assert jobs.registry.versions() == []
    assert [j.status for j in jobs.recent()] == [JobStatus.FAILED, JobStatus.CANCELLED]


def test_a_job_left_running_by_a_stopped_process_shows_as_interrupted(
    env: dict[str, Path],
) -> None:
    jobs_dir = env["var"] / "trainer" / "jobs"
    jobs_dir.mkdir(parents=True)
    stale = TrainingJob(id="20261129-0100-abcd", kind="train", user="alice",
                        status=JobStatus.RUNNING, created_at="2026-11-29T01:00:00+08:00")
    (jobs_dir / f"{stale.id}.json").write_text(json.dumps(stale.to_json()), encoding="utf-8")
    jobs = manager(env)
    [job] = jobs.recent()
    assert job.status is JobStatus.FAILED and "interrupted" in job.error
    assert jobs.get(stale.id).status is JobStatus.FAILED
    with (jobs_dir / "running.lock").open("a") as held:  # its process still runs
        fcntl.flock(held, fcntl.LOCK_EX)
        assert jobs.get(stale.id).status is JobStatus.RUNNING
