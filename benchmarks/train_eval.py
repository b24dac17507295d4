"""Time a full training + held-out evaluation of the project's own data, as the console runs it.

Runs one training job (bot/trainer/jobs.py: ``rasa train`` of config.yml, domain/ and
data/, then the evaluation of the new model on tests/nlu/heldout.yml and the comparison
with the current model) into a temporary data folder, with an empty Rasa cache so
every component really trains. The current model (models/bankbot.tar.gz) is imported as
the active version and evaluated before the clock starts, as the console has its
evaluation from when it was trained. Target: train + evaluate < 300 s on the 2-core
machine. ``--cross-validate`` also times a 3-fold cross-validation (separately).

    python benchmarks/train_eval.py [--baseline models/bankbot.tar.gz] [--use-cache]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average

from bot.settings import PROJECT_ROOT
from bot.trainer import evaluate as ev
from bot.trainer.jobs import JobStatus, TrainingJobs
from bot.trainer.registry import ModelRegistry

TARGET_SECONDS = 300.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run_job(jobs: TrainingJobs) -> tuple[dict[str, float], str]:
    """Start the training job and time its stages (train, then evaluate + compare)."""
    from tqdm import tqdm

    started = time.monotonic()
    job = await jobs.start("benchmark", notes="benchmarks/train_eval.py")
    marks: dict[str, float] = {}
    with tqdm(total=100, desc="train", file=sys.stderr, dynamic_ncols=True) as bar:
        while not job.finished:
            await asyncio.sleep(0.5)
            if job.stage and job.stage not in marks:
                marks[job.stage] = time.monotonic() - started
            bar.set_description_str(job.stage or "train")
            bar.set_postfix_str(job.detail[:50])
            if job.progress > bar.n:
                bar.update(round(job.progress - bar.n, 1))
    total = time.monotonic() - started
    if job.status is not JobStatus.SUCCEEDED:
        raise SystemExit(f"training job {job.status.value}: {job.error}; log {job.log_path}")
    train = marks.get("evaluate", total)
    return {"train": train, "evaluate": total - train, "total": total}, job.version or ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=PROJECT_ROOT / "models" / "bankbot.tar.gz",
                        help="the current model to compare with ('' to skip)")
    parser.add_argument("--use-cache", action="store_true",
                        help="keep Rasa's training cache (unchanged components are restored)")
    parser.add_argument("--cross-validate", action="store_true",
                        help="also time a 3-fold cross-validation")
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bankbot-bench-train-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.use_cache:
            os.environ["RASA_CACHE_DIRECTORY"] = str(tmp / "rasa-cache")
        registry = ModelRegistry(tmp / "models")
        jobs = TrainingJobs(PROJECT_ROOT, registry, tmp / "jobs")
        if args.baseline and str(args.baseline) != "." and args.baseline.is_file():
            base = registry.register_existing(args.baseline, trained_by="benchmark",
                                              mark_active=True)
            print(f"evaluating the baseline {args.baseline} first (not timed)", flush=True)
            evaluation = ev.evaluate_model(base.path, jobs.test_file, name=base.version)
            ev.save_evaluation(evaluation, registry.artefact_dir(base.version))
        cpu_before = children_cpu()
        times, version = asyncio.run(run_job(jobs))
        cpu = children_cpu() - cpu_before
        entry = registry.get(version)
        metrics, comparison = entry.metrics, entry.comparison
        load_after = load_average()
        print(f"new model: held-out accuracy {metrics.get('accuracy')}, macro F1 "
              f"{metrics.get('macro_f1')}, weighted F1 {metrics.get('weighted_f1')} "
              f"({metrics.get('examples')} examples)")
        if comparison:
            print(f"against {entry.compared_to}: verdict {comparison['verdict']}, fixed "
                  f"{comparison['fixed']}, broken {comparison['broken']}, flagged "
                  f"{', '.join(comparison['flagged']) or '-'}")
        verdict = "ok" if times["total"] < TARGET_SECONDS else "OVER TARGET"
        print(f"train {times['train']:.0f} s, evaluate {times['evaluate']:.0f} s, "
              f"total {times['total']:.0f} s; target < {TARGET_SECONDS:.0f} s {verdict}")
        print(f"CPU time of the job's processes {cpu:.0f} s on {os.cpu_count()} cores; "
              f"load average {load_before:.2f} before, {load_after:.2f} after"
              + ("  (busy machine: timings are inflated)" if load_before > 1.5 else ""))
        if args.cross_validate:
            started = time.monotonic()
            result = ev.cross_validate(PROJECT_ROOT, 3)
            print(f"3-fold cross-validation: {time.monotonic() - started:.0f} s, epochs "
                  f"{result.epochs}, accuracy {result.evaluation.accuracy:.4f}, macro F1 "
                  f"{result.evaluation.macro_f1:.4f}, folds {result.fold_accuracies}")
    return 0 if times["total"] < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
