"""The trainer checks: the real data passes, planted problems are found, CI fails on errors."""

from __future__ import annotations

import itertools
import random
import shutil
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT
from bot.trainer import checks
from bot.trainer import nludata as nd
from bot.trainer.checks import ERROR, WARNING, run_checks
from bot.trainer.nludata import Example, ProjectPaths


@pytest.fixture
def project(tmp_path: Path) -> ProjectPaths:
    """data/, domain/, config.yml and the NLU test sets copied into tmp_path."""
    for name in ("data", "domain"):
        shutil.copytree(PROJECT_ROOT / name, tmp_path / name)
    shutil.copy(PROJECT_ROOT / "config.yml", tmp_path / "config.yml")
    shutil.copytree(
        PROJECT_ROOT / "tests" / "nlu",
        tmp_path / "tests" / "nlu",
        ignore=shutil.ignore_patterns("*.py", "__pycache__"),
    )
    return ProjectPaths(tmp_path)


def plant(project: ProjectPaths, topic: str, intent: str, *lines: str) -> None:
    """Append raw example lines as a new block (bypassing add_examples' own refusals)."""
    path = project.nlu_file(topic)
    block = "".join(f"    - {line}\n" for line in lines)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\n- intent: {intent}\n  examples: |\n{block}")


def codes(findings, severity=None) -> set[str]:
    return {f.code for f in findings if severity is None or f.severity == severity}


def test_the_real_data_has_no_errors():
    findings = run_checks(ProjectPaths.default())
    assert [str(f) for f in findings if f.severity == ERROR] == []


def test_minimums_and_extractor_entities_match_the_project():
    from bot.nlu import dupcheck
    from bot.nlu.entities import ALL_DIMENSIONS
    from bot.nlu.normalizer import normalize_text

    assert checks.DEFAULT_MIN_EXAMPLES == dupcheck.MIN_TRAIN
    assert checks.DEFAULT_MIN_FAQ_EXAMPLES == dupcheck.MIN_TOPIC_TRAIN
    assert (checks.MIN_HELDOUT, checks.MIN_FAQ_HELDOUT) == (
        dupcheck.MIN_HELDOUT,
        dupcheck.MIN_TOPIC_HELDOUT,
    )
    assert tuple(nd.EXTRACTOR_ENTITIES) == tuple(ALL_DIMENSIONS)
    assert nd.extractor_entities(ProjectPaths.default()) == frozenset(ALL_DIMENSIONS)
    # The folding repeated in nludata is the pipeline's.
    for text in ["查詢餘額！", "ＡＴＭ取款　限額", "转\u200b账", "￥５０００", "你們好，在嗎？"]:
        assert nd.fold(" ".join(text.split())) == normalize_text(text)
    # Two texts the project's duplicate rule calls equal are equal keys here too.
    assert nd.compare_key("查詢餘額！") == nd.compare_key(dupcheck.canonical("查询余额"))


def test_planted_problems_are_found(project):
    balance = nd.list_intents(project)["check_balance"]
    assert balance.examples >= 30
    long_text = "请帮我看一下我那张工资卡里面现在到底还剩多少钱呢谢谢"
    plant(
        project,
        "_shared",
        "greet",
        "餘額查詢！",  # check_balance has 余额查询
        long_text,
    )
    plant(
        project,
        "_shared",
        "thank",
        long_text[:-1] + "啦",
        "给[五千](amount)",
        "给[王](payee)芳转账",
    )
    plant(project, "_shared", "orphan_intent", "这是一个没有领域的意图")
    heldout_text = nd.read_examples_file(project.heldout)["check_balance"][0]
    plant(project, "accounts", "check_balance", heldout_text)
    domain = project.domain_file("_shared")
    text = domain.read_text(encoding="utf-8")
    text = text.replace("entities:\n", "entities:\n  - loan_term\n", 1)
    text = text.replace(
        "responses:\n", 'responses:\n  utter_orphan:\n    - text: "没人发送我"\n', 1
    )
    domain.write_text(text, encoding="utf-8")
    nd.create_intent(project, "ask_parking", "branches", [Example("网点有停车位吗")], "bob")
    nd.create_faq(project, "lost_passbook", [Example("存折丢了怎么办")], "请到网点挂失。", "bob")

    findings = run_checks(project)
    by_code = {}
    for finding in findings:
        by_code.setdefault(finding.code, []).append(finding)

    assert codes(findings, ERROR) == {
        "duplicate-across-intents",
        "too-few-examples",
        "test-set-overlap",
        "rule-entity-annotated",
        "intent-not-in-domain",
        "response-unused",
    }
    assert {"near-duplicate", "entity-never-annotated", "entity-misaligned"} <= codes(
        findings, WARNING
    )
    assert any(
        "余额查询" in f.message and "check_balance" in f.message
        for f in by_code["duplicate-across-intents"]
    )
    assert [f.where for f in by_code["near-duplicate"]] == ["greet / thank"]
    too_few = {f.where: f.message for f in by_code["too-few-examples"]}
    assert too_few["ask_parking"] == "1 examples (at least 30)"
    assert too_few["faq/lost_passbook"] == "1 examples (at least 12)"
    assert "orphan_intent" in too_few and "greet" not in too_few
    assert [f.where for f in by_code["intent-not-in-domain"]] == ["orphan_intent"]
    assert [f.where for f in by_code["entity-never-annotated"]] == [
        "loan_term"
    ]  # not risk_answer, not amount
    assert [f.where for f in by_code["response-unused"]] == ["utter_orphan (domain/_shared.yml)"]
    assert "王" in by_code["entity-misaligned"][0].message
    assert heldout_text in by_code["test-set-overlap"][0].message
    # Errors come first.
    severities = [f.severity for f in findings]
    assert severities == sorted(severities, key=lambda s: s != ERROR)


def test_the_faq_floor_is_lower_and_configurable(project):
    questions = [Example(f"存折第{n}次丢了怎么办才好") for n in "一二三四五六七八九十甲乙"]
    nd.create_faq(project, "lost_passbook", questions, "请到网点挂失。", "bob")
    findings = run_checks(project)
    assert not [f for f in findings if f.code == "too-few-examples"]
    assert [f.where for f in findings if f.code == "few-heldout-examples"] == ["faq/lost_passbook"]
    stricter = run_checks(project, min_examples=1000)
    assert "greet" in {f.where for f in stricter if f.code == "too-few-examples"}


def test_similar_pairs_matches_brute_force():
    rng = random.Random(7)
    alphabet = "查询余额转账卡冻结网点"
    keys = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(300)]
    keys += [k + "呢" for k in keys[:50]]
    for threshold in (0.5, 0.75, 0.9):
        fast = {(i, j) for i, j, _ in checks.similar_pairs(keys, threshold)}
        slow = {
            (i, j)
            for i, j in itertools.combinations(range(len(keys)), 2)
            if checks.jaccard(checks.bigrams(keys[i]), checks.bigrams(keys[j])) >= threshold
        }
        assert fast == slow


def test_bot_validate_fails_on_check_errors(project, capsys):
    from bot.validate import main

    # Rasa's validator sees two different texts; the trainer checks see one example twice.
    plant(project, "_shared", "greet", "餘額查詢！")
    args = [
        "--domain",
        str(project.domain),
        "--data",
        str(project.data),
        "--config",
        str(project.config),
    ]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "data validation: clean" in out
    assert "check: error [duplicate-across-intents]" in out
    assert "trainer checks: 1 error(s)" in out
    assert main([*args, "--no-checks"]) == 0
