"""Model commands of ``python -m bot.trainer``: train, evaluate, compare, models,
activate, rollback, cross-validate, import-model / 模型训练、评估与上线.

Models live in ``$BANKBOT_DATA_DIR/models`` (var/models); activation talks to the Rasa
server at ``RASA_URL`` with ``RASA_TOKEN``. Exit status: 0 ok, 1 failed or refused
(e.g. ``compare --fail-on-worse`` with verdict "worse"), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.settings import PROJECT_ROOT, Settings

from . import evaluate as ev
from .jobs import DEFAULT_TEST_FILE, JobError, JobStatus, TrainingJobs
from .registry import ModelRegistry, ModelVersion, RegistryError


class UsageError(Exception):
    """Wrong arguments (exit status 2)."""


def _settings() -> Settings:
    return Settings.from_env()


def _registry() -> ModelRegistry:
    return ModelRegistry.from_settings(_settings())


def _project(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "project", None) or PROJECT_ROOT).resolve()


def _test_file(args: argparse.Namespace) -> Path:
    given = getattr(args, "test_file", None)
    return Path(given) if given else _project(args) / DEFAULT_TEST_FILE


def _user(args: argparse.Namespace) -> str:
    user = str(getattr(args, "user", "") or "").strip()
    if not user:
        raise UsageError("--user is required (who does this is recorded) / 请用 --user 指明操作人")
    return user


def _bar(total: float, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total, desc=desc, file=sys.stderr, dynamic_ncols=True,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}",
    )


def _progress_bar(desc: str) -> tuple[Any, ev.Progress]:
    bar = _bar(100, desc)

    def update(label: str, fraction: float) -> None:
        target = round(100 * fraction, 1)
        if target > bar.n:
            bar.update(target - bar.n)
        bar.set_postfix_str(label[:60], refresh=True)

    return bar, update


def _print_metrics(evaluation: ev.Evaluation, worst: int = 10) -> None:
    print(
        f"accuracy {evaluation.accuracy:.4f}  macro F1 {evaluation.macro_f1:.4f}  "
        f"weighted F1 {evaluation.weighted_f1:.4f}  fallback {evaluation.fallback_rate:.3f}  "
        f"({len(evaluation.predictions)} examples, {evaluation.seconds:.0f} s)"
    )
    rows = sorted(
        ((k, v) for k, v in evaluation.intents.items() if v.support), key=lambda kv: kv[1].f1
    )
    print(f"per intent, worst first / 各意图（最差在前）: {len(rows)} intents")
    print(f"  {'intent':<36} {'prec':>6} {'recall':>6} {'F1':>6} {'n':>4}")
    for name, s in rows[:worst] if worst else rows:
        print(f"  {name:<36} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {s.support:4d}")


def _print_comparison(comparison: ev.Comparison, show: int) -> None:
    old_acc, new_acc = comparison.accuracy
    old_f1, new_f1 = comparison.macro_f1
    print(f"compare {comparison.old_model} -> {comparison.new_model} "
          f"({comparison.common_examples} common examples)")
    print(f"  accuracy {old_acc:.4f} -> {new_acc:.4f}   macro F1 {old_f1:.4f} -> {new_f1:.4f}")
    moved = [d for d in comparison.intents if abs(d.delta) > 1e-9]
    for d in moved[:show]:
        mark = "  !!" if d.intent in comparison.flagged else ""
        print(f"  {d.intent:<36} F1 {d.old_f1:.3f} -> {d.new_f1:.3f} ({d.delta:+.3f}){mark}")
    print(f"fixed / 修正 ({len(comparison.fixed)}):")
    for c in comparison.fixed[:show]:
        print(f"  + {c.text}  [{c.expected}] was {c.old_predicted}")
    print(f"broken / 变差 ({len(comparison.broken)}):")
    for c in comparison.broken[:show]:
        print(f"  - {c.text}  [{c.expected}] now {c.new_predicted} ({c.new_confidence:.2f})")
    if comparison.flagged:
        print(f"flagged intents (F1 dropped > {comparison.threshold:.2f}) / 需关注: "
              + ", ".join(comparison.flagged))
    print(f"verdict / 结论: {comparison.verdict}")


# -- train ----------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    user = _user(args)
    settings = _settings()
    registry = ModelRegistry.from_settings(settings)
    jobs = TrainingJobs(
        _project(args), registry, settings.data_dir / "trainer" / "jobs",
        test_file=_test_file(args), compare_threshold=args.threshold,
    )

    async def run() -> int:
        job = await jobs.start(
            user, evaluate=not args.no_eval, notes=args.notes or "", baseline=args.baseline
        )
        print(f"training job {job.id} started by {user}; log: {job.log_path}", file=sys.stderr)
        bar = _bar(100, "train")
        seen = 0
        try:
            while not job.finished:
                await asyncio.sleep(0.5)
                if job.progress > bar.n:
                    bar.update(round(job.progress - bar.n, 1))
                bar.set_description_str(job.stage or "train")
                bar.set_postfix_str(job.detail[:60], refresh=True)
                if args.verbose:
                    for number, line in job.tail(seen):
                        bar.write(line, file=sys.stderr)
                        seen = number
        except asyncio.CancelledError:
            await jobs.cancel(job.id)
            raise
        finally:
            bar.close()
        return _report_job(job.id, jobs, registry, args)

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        print("cancelled / 已取消", file=sys.stderr)
        return 1


def _report_job(job_id: str, jobs: TrainingJobs, registry: ModelRegistry,
                args: argparse.Namespace) -> int:
    job = jobs.get(job_id)
    if job.status is not JobStatus.SUCCEEDED:
        print(f"error: training {job.status.value}: {job.error} (log: {job.log_path})",
              file=sys.stderr)
        return 1
    assert job.version is not None
    print(f"trained version / 新模型版本: {job.version} (not activated / 未上线)")
    artefacts = registry.artefact_dir(job.version)
    if (artefacts / ev.EVALUATION_FILE).exists():
        _print_metrics(ev.Evaluation.load(artefacts / ev.EVALUATION_FILE))
        print(f"confusion matrix / 混淆矩阵: {artefacts / ev.CONFUSION_FILE}")
    comparison = job.result.get("comparison")
    if comparison:
        print(f"against {job.baseline}: verdict {comparison['verdict']}, "
              f"fixed {comparison['fixed']}, broken {comparison['broken']}, "
              f"flagged {', '.join(comparison['flagged']) or '-'} "
              f"(details: {artefacts / ev.COMPARISON_FILE})")
        if args.fail_on_worse and comparison["verdict"] == "worse":
            return 1
    print(f"activate with: python -m bot.trainer activate {job.version} --user <you>")
    return 0


# -- evaluate / compare -------------------------------------------------------


def _resolve_model(target: str, registry: ModelRegistry) -> tuple[Path, ModelVersion | None]:
    path = Path(target)
    if path.suffix == ".gz" or path.is_file():
        if not path.is_file():
            raise RegistryError(f"model archive {target} does not exist")
        return path, None
    entry = registry.get(target)
    return entry.path, entry


def _run_evaluation(
    archive: Path, entry: ModelVersion | None, registry: ModelRegistry, test_file: Path
) -> ev.Evaluation:
    """Evaluate with a progress bar; a registered version keeps its result and metrics."""
    bar, update = _progress_bar(f"evaluate {entry.version if entry else archive.name}")
    try:
        evaluation = ev.evaluate_model(
            archive, test_file, name=entry.version if entry else str(archive), progress=update
        )
    finally:
        bar.close()
    if entry is not None:
        ev.save_evaluation(evaluation, registry.artefact_dir(entry.version))
        registry.update(entry.version, metrics=evaluation.summary())
    return evaluation


def _evaluation_for(target: str, registry: ModelRegistry, test_file: Path) -> ev.Evaluation:
    """An evaluation.json, a registered version (cached per test file) or an archive."""
    if target.endswith(".json") and Path(target).is_file():
        return ev.Evaluation.load(Path(target))
    archive, entry = _resolve_model(target, registry)
    if entry is not None:
        cached = registry.artefact_dir(entry.version) / ev.EVALUATION_FILE
        if cached.exists() and test_file.is_file():
            evaluation = ev.Evaluation.load(cached)
            if evaluation.test_file_sha == ev.file_sha(test_file):
                return evaluation
    return _run_evaluation(archive, entry, registry, test_file)


def cmd_evaluate(args: argparse.Namespace) -> int:
    registry = _registry()
    archive, entry = _resolve_model(args.target, registry)
    evaluation = _run_evaluation(archive, entry, registry, _test_file(args))
    written = [registry.artefact_dir(entry.version)] if entry else []
    if args.out or entry is None:
        out = Path(args.out) if args.out else (
            _project(args) / "results" / "trainer" / archive.name.split(".")[0]
        )
        ev.save_evaluation(evaluation, out)
        written.append(out)
    _print_metrics(evaluation, worst=args.worst)
    for folder in written:
        print(f"written / 已保存: {folder / ev.EVALUATION_FILE}, {folder / ev.CONFUSION_FILE}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    registry = _registry()
    test_file = _test_file(args)
    old = _evaluation_for(args.old, registry, test_file)
    new = _evaluation_for(args.new, registry, test_file)
    comparison = ev.compare(old, new, threshold=args.threshold)
    if args.out:
        comparison.save(Path(args.out))
    _print_comparison(comparison, args.show)
    return 1 if args.fail_on_worse and comparison.verdict == "worse" else 0


# -- versions -----------------------------------------------------------------


def cmd_models(args: argparse.Namespace) -> int:
    registry = _registry()
    versions = registry.versions()
    active = registry.active()
    if args.json:
        import json

        print(json.dumps(
            {"active": active.version if active else None,
             "versions": [v.to_json() for v in versions]},
            ensure_ascii=False, indent=2,
        ))
        return 0
    if not versions:
        print(f"no model versions in {registry.root} (train one, or import-model "
              "models/bankbot.tar.gz)")
        return 0
    print(f"  {'version':<26} {'created':<19} {'by':<10} {'data':<8} {'acc':>6} "
          f"{'macroF1':>7}  verdict")
    for v in versions:
        mark = "*" if active and v.version == active.version else " "
        acc = f"{v.metrics['accuracy']:.3f}" if "accuracy" in v.metrics else "-"
        f1 = f"{v.metrics['macro_f1']:.3f}" if "macro_f1" in v.metrics else "-"
        verdict = v.comparison.get("verdict", "")
        print(f"{mark} {v.version:<26} {v.created_at[:19]:<19} {v.trained_by[:10]:<10} "
              f"{v.data_hash[:8]:<8} {acc:>6} {f1:>7}  {verdict}"
              + (f"  ({v.notes})" if v.notes else ""))
    print("* = active / 当前上线")
    return 0


def cmd_activate(args: argparse.Namespace) -> int:
    user = _user(args)
    registry = _registry()
    before = registry.active()
    print(f"loading {args.version} into Rasa at {registry.rasa_url} "
          "(no restart; takes a while) / 正在热切换模型…", file=sys.stderr)
    entry = asyncio.run(registry.activate(args.version, user))
    print(f"active / 已上线: {entry.version} (model {entry.model_id}); "
          f"before: {before.version if before else 'unknown'}; by {user}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    user = _user(args)
    registry = _registry()
    before = registry.active()
    entry = asyncio.run(registry.rollback(user, to=args.to))
    print(f"rolled back / 已回滚: {before.version if before else 'unknown'} -> {entry.version} "
          f"(by {user})")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    registry = _registry()
    entry = registry.register_existing(
        Path(args.path), trained_by=_user(args), project_root=_project(args),
        notes=args.notes or "", mark_active=args.active,
    )
    print(f"imported / 已导入: {entry.version} ({entry.path})"
          + (" marked active" if args.active else ""))
    return 0


def cmd_cross_validate(args: argparse.Namespace) -> int:
    if args.folds < 2:
        raise UsageError("--folds must be at least 2")
    project = _project(args)
    out = Path(args.out) if args.out else (
        _settings().data_dir / "trainer" / "cv" / f"{datetime.now():%Y%m%d-%H%M%S}"
    )
    out.mkdir(parents=True, exist_ok=True)
    bar, update = _progress_bar(f"{args.folds}-fold cross-validation")
    try:
        result = ev.cross_validate(
            project, args.folds, epochs=args.epochs, progress=update, log=out / "cv.log"
        )
    finally:
        bar.close()
    result.save(out)
    print(f"{result.folds}-fold cross-validation, epochs {result.epochs}, "
          f"fold accuracies {result.fold_accuracies}, {result.seconds:.0f} s")
    for note in result.notes:
        print(f"note: {note}")
    _print_metrics(result.evaluation, worst=args.worst)
    print(f"written / 已保存: {out / ev.CROSS_VALIDATION_FILE}, {out / ev.CONFUSION_FILE}")
    return 0


# -- parser -------------------------------------------------------------------


def _guard(handler: Any) -> Any:
    """Map this module's errors to exit codes (1 failed, 2 usage) with a clear message."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except UsageError as exc:
            print(f"usage error: {exc}", file=sys.stderr)
            return 2
        except (RegistryError, JobError, ev.EvaluationError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    run.__name__ = handler.__name__
    return run


def _user_option(parser: argparse.ArgumentParser, what: str) -> None:
    # SUPPRESS: without it here, the top-level --user (default $USER) applies.
    parser.add_argument("--user", default=argparse.SUPPRESS, help=f"who {what} (recorded)")


def register(subparsers: Any) -> None:
    """Add the model commands to ``python -m bot.trainer``'s subparsers."""
    train = subparsers.add_parser(
        "train", help="train a new model version, evaluate and compare it / 训练新模型"
    )
    _user_option(train, "trains")
    train.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation")
    train.add_argument("--notes", help="a note kept with the version")
    train.add_argument("--baseline", metavar="VERSION", help="compare with (default: active)")
    train.add_argument("--test-file", help=f"held-out file (default {DEFAULT_TEST_FILE})")
    train.add_argument("--threshold", type=float, default=0.05,
                       help="flag intents whose F1 drops by more (default 0.05)")
    train.add_argument("--fail-on-worse", action="store_true",
                       help="exit 1 when the comparison verdict is 'worse'")
    train.add_argument("-v", "--verbose", action="store_true", help="print Rasa's log")
    train.set_defaults(handler=_guard(cmd_train))

    evaluate = subparsers.add_parser(
        "evaluate", help="evaluate a version or model archive on the held-out file / 评估"
    )
    evaluate.add_argument("target", metavar="VERSION|PATH")
    evaluate.add_argument("--test-file", help=f"NLU test file (default {DEFAULT_TEST_FILE})")
    evaluate.add_argument("--out", help="folder for evaluation.json and confusion.png")
    evaluate.add_argument("--worst", type=int, default=15, help="intents to list (0: all)")
    evaluate.set_defaults(handler=_guard(cmd_evaluate))

    compare = subparsers.add_parser(
        "compare", help="compare two versions (or archives, evaluation.json) / 对比"
    )
    compare.add_argument("old", metavar="OLD")
    compare.add_argument("new", metavar="NEW")
    compare.add_argument("--test-file", help=f"NLU test file (default {DEFAULT_TEST_FILE})")
    compare.add_argument("--threshold", type=float, default=0.05,
                         help="flag intents whose F1 drops by more (default 0.05)")
    compare.add_argument("--show", type=int, default=20, help="examples/intents to list")
    compare.add_argument("--out", help="write the comparison as JSON")
    compare.add_argument("--fail-on-worse", action="store_true",
                         help="exit 1 when the verdict is 'worse'")
    compare.set_defaults(handler=_guard(cmd_compare))

    models = subparsers.add_parser("models", help="list model versions / 模型版本")
    models.add_argument("--json", action="store_true")
    models.set_defaults(handler=_guard(cmd_models))

    activate = subparsers.add_parser(
        "activate", help="hot-swap the running Rasa server to a version / 上线"
    )
    activate.add_argument("version", metavar="VERSION")
    _user_option(activate, "activates")
    activate.set_defaults(handler=_guard(cmd_activate))

    rollback = subparsers.add_parser(
        "rollback", help="back to the previously active version / 回滚"
    )
    rollback.add_argument("--to", metavar="VERSION", help="a given earlier version")
    _user_option(rollback, "rolls back")
    rollback.set_defaults(handler=_guard(cmd_rollback))

    cv = subparsers.add_parser(
        "cross-validate", help="k-fold cross-validation of the NLU data / 交叉验证"
    )
    cv.add_argument("--folds", type=int, default=3)
    cv.add_argument("--epochs", type=int, help="epochs of DIET/ResponseSelector "
                    "(default: half of config.yml)")
    cv.add_argument("--out", help="result folder (default var/trainer/cv/<time>)")
    cv.add_argument("--worst", type=int, default=15, help="intents to list (0: all)")
    cv.set_defaults(handler=_guard(cmd_cross_validate))

    imp = subparsers.add_parser(
        "import-model", help="register an existing archive (models/bankbot.tar.gz) / 导入"
    )
    imp.add_argument("path")
    imp.add_argument("--active", action="store_true",
                     help="record it as the active version (the one Rasa runs now)")
    imp.add_argument("--notes")
    _user_option(imp, "imports")
    imp.set_defaults(handler=_guard(cmd_import))
