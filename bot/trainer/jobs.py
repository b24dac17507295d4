"""Background training jobs: one at a time, live progress and log, never activation.

:class:`TrainingJobs` runs ``rasa train`` (and then the held-out evaluation, and the
comparison with the active version) as subprocesses from asyncio, so the console's
event loop stays free; the CLI drives the same manager with ``asyncio.run``. A file
lock (``<jobs_dir>/running.lock``) keeps a console job and a CLI job from running at
once. Each job keeps its log in ``<jobs_dir>/<id>.log`` and the last lines in memory;
``progress`` (0-100) is derived from Rasa's output: the "Starting to train component"
lines, weighted by the components listed in config.yml (neural ones weigh more), and
tqdm's epoch counters inside a component. A successful training is registered in the
:class:`~bot.trainer.registry.ModelRegistry` with who trained it; it is not activated.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import fcntl
import functools
import json
import os
import re
import secrets
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any

from bot.trainer import evaluate as ev
from bot.trainer.registry import ModelRegistry, ModelVersion, RegistryError, data_hash

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STARTING = re.compile(r"Starting to train component '([^']+)'")
FINISHED = re.compile(r"(?:Finished training component|Restored component) '([^']+)'")
EPOCHS = re.compile(r"Epochs:\s*\d+%\|[^|]*\|\s*(\d+)/(\d+)")
TRAINED = "Your Rasa model is trained and saved"
DEFAULT_TEST_FILE = Path("tests/nlu/heldout.yml")


def rasa_env() -> dict[str, str]:
    """Environment for Rasa subprocesses: no telemetry (no internet here), quiet TF."""
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class LineSplitter:
    """Split a byte stream into lines at ``\\n`` and ``\\r`` (tqdm redraws with ``\\r``).

    ``feed`` returns (line, transient) pairs; a transient line ended with ``\\r`` and
    is a progress-bar redraw (not worth keeping in the log). ANSI colours are removed.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""

    def feed(self, chunk: bytes) -> list[tuple[str, bool]]:
        self._buffer += self._decoder.decode(chunk)
        out: list[tuple[str, bool]] = []
        while True:
            match = re.search(r"\r\n|\r|\n", self._buffer)
            if not match:
                break
            line = ANSI.sub("", self._buffer[: match.start()]).rstrip()
            self._buffer = self._buffer[match.end() :]
            if line:
                out.append((line, match.group() == "\r"))
        return out

    def flush(self) -> list[tuple[str, bool]]:
        rest = ANSI.sub("", self._buffer + self._decoder.decode(b"", final=True)).rstrip()
        self._buffer = ""
        return [(rest, False)] if rest else []


class TrainProgress:
    """How far ``rasa train`` is, from its log lines (0.0-1.0)."""

    def __init__(self, components: list[tuple[str, float]]) -> None:
        self.components = components  # (class name, weight) in training order
        self.done = [False] * len(components)
        self.current: int | None = None
        self.within = 0.0
        self.finished = False
        self.started = False
        self.detail = ""

    @classmethod
    def from_config(cls, config_file: Path) -> TrainProgress:
        """Components of config.yml's pipeline and policies; neural ones weigh more."""
        from ruamel.yaml import YAML

        config = YAML(typ="safe").load(Path(config_file).read_text(encoding="utf-8")) or {}
        components = []
        for item in list(config.get("pipeline") or []) + list(config.get("policies") or []):
            name = str(item.get("name", "")).rsplit(".", 1)[-1]
            epochs = item.get("epochs")
            components.append((name, 1.0 + (float(epochs) / 5.0 if epochs else 0.0)))
        return cls(components)

    def _index(self, name: str) -> int | None:
        for i, (component, _) in enumerate(self.components):
            if component == name and not self.done[i]:
                return i
        return None

    def feed(self, line: str) -> None:
        if TRAINED in line:
            self.finished = True
            self.detail = "model saved"
            return
        if "Started validating" in line or "Training NLU model" in line:
            self.started = True
        if match := STARTING.search(line):
            self.current = self._index(match.group(1))
            self.within = 0.0
            self.detail = f"training {match.group(1)}"
        elif match := FINISHED.search(line):
            i = self._index(match.group(1))
            if i is not None:
                self.done[i] = True
            if i == self.current:
                self.current, self.within = None, 0.0
        elif (match := EPOCHS.search(line)) and self.current is not None:
            done, total = int(match.group(1)), int(match.group(2))
            self.within = done / total if total else 0.0
            self.detail = f"training {self.components[self.current][0]}: epoch {done}/{total}"

    @property
    def fraction(self) -> float:
        if self.finished:
            return 1.0
        total = sum(w for _, w in self.components) or 1.0
        done = sum(w for (_, w), d in zip(self.components, self.done, strict=True) if d)
        if self.current is not None:
            done += self.components[self.current][1] * self.within
        return min(0.99, (0.02 if self.started else 0.0) + 0.97 * done / total)


class JobStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}


class JobError(Exception):
    """A training job could not be started or found."""


class JobAlreadyRunning(JobError):
    """Another training or cross-validation is running (the console answers 409)."""


class JobNotFound(JobError):
    """No job with that id."""


@dataclass
class TrainingJob:
    """One training (kind "train") or cross-validation (kind "cross-validate")."""

    id: str
    kind: str
    user: str
    status: JobStatus = JobStatus.QUEUED
    stage: str = ""  # "train", "evaluate", "compare", "cross-validate"
    progress: float = 0.0  # 0-100
    detail: str = ""
    created_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    version: str | None = None  # the registered model (kind "train")
    baseline: str | None = None  # the version it was compared with
    result: dict[str, Any] = field(default_factory=dict)  # metrics, verdict, paths
    error: str = ""
    notes: str = ""
    log_path: str = ""
    lines: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=2000))
    seq: int = 0

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    def tail(self, after: int = 0, limit: int = 500) -> list[tuple[int, str]]:
        """Log lines with a sequence number above ``after`` (for live polling)."""
        return [item for item in self.lines if item[0] > after][-limit:]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "user": self.user,
            "status": self.status.value,
            "stage": self.stage,
            "progress": round(self.progress, 1),
            "detail": self.detail,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "version": self.version,
            "baseline": self.baseline,
            "result": self.result,
            "error": self.error,
            "notes": self.notes,
            "log_path": self.log_path,
            "last_line": self.seq,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingJob:
        job = cls(id=data["id"], kind=data["kind"], user=data["user"])
        for key in ("stage", "progress", "detail", "created_at", "started_at", "finished_at",
                    "version", "baseline", "result", "error", "notes", "log_path"):
            if key in data:
                setattr(job, key, data[key])
        job.status = JobStatus(data.get("status", "failed"))
        return job


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


class _Cancelled(Exception):
    pass


class _StepFailed(Exception):
    pass


class TrainingJobs:
    """Starts, tracks and cancels training jobs for one project folder."""

    def __init__(
        self,
        project_root: Path,
        registry: ModelRegistry,
        jobs_dir: Path,
        *,
        test_file: Path | None = None,
        python: str = sys.executable,
        compare_threshold: float = 0.05,
    ) -> None:
        self.project_root = Path(project_root).resolve()
        self.registry = registry
        self.jobs_dir = Path(jobs_dir)
        self.test_file = Path(test_file) if test_file else self.project_root / DEFAULT_TEST_FILE
        self.python = python
        self.compare_threshold = compare_threshold
        self._jobs: dict[str, TrainingJob] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._cancel: set[str] = set()
        self._lock_file: IO[str] | None = None
        self._saved_at: dict[str, float] = {}

    # -- queries -----------------------------------------------------------

    def current(self) -> TrainingJob | None:
        """The job this manager is running, if any."""
        return next((j for j in self._jobs.values() if not j.finished), None)

    def get(self, job_id: str) -> TrainingJob:
        if job_id in self._jobs:
            return self._jobs[job_id]
        path = self.jobs_dir / f"{job_id}.json"
        if "/" in job_id or not path.exists():
            raise JobNotFound(f"no training job {job_id!r}")
        return self._from_disk(path)

    def _from_disk(self, path: Path) -> TrainingJob:
        """A job another process ran (or runs: then it holds the lock and saves progress)."""
        job = TrainingJob.from_json(json.loads(path.read_text(encoding="utf-8")))
        if not job.finished and self._lock_is_free():
            job.status = JobStatus.FAILED
            job.error = job.error or "interrupted: the process running it has stopped"
        return job

    def _lock_is_free(self) -> bool:
        if self._lock_file is not None:
            return False
        path = self.jobs_dir / "running.lock"
        if not path.exists():
            return True
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(handle, fcntl.LOCK_UN)
            return True

    def recent(self, limit: int = 50) -> list[TrainingJob]:
        """Recent jobs, newest first (this process's and earlier ones from disk)."""
        jobs = dict(self._jobs)
        if self.jobs_dir.is_dir():
            for path in self.jobs_dir.glob("*.json"):
                if path.stem not in jobs:
                    jobs[path.stem] = self._from_disk(path)
        return sorted(jobs.values(), key=lambda j: (j.created_at, j.id), reverse=True)[:limit]

    # -- lifecycle ---------------------------------------------------------

    def _acquire(self) -> None:
        """Take the one-job-at-a-time lock (shared with other processes)."""
        running = self.current()
        if running is not None:
            raise JobAlreadyRunning(f"training job {running.id} is still running")
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        handle = (self.jobs_dir / "running.lock").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise JobAlreadyRunning(f"a training job is already running ({holder})") from exc
        self._lock_file = handle

    def _release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.truncate(0)
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _new_job(self, kind: str, user: str, notes: str) -> TrainingJob:
        if not user:
            raise JobError("a training job needs a user (who started it)")
        self._acquire()
        try:
            job_id = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
            job = TrainingJob(
                id=job_id, kind=kind, user=user, notes=notes, created_at=_now(),
                log_path=str(self.jobs_dir / f"{job_id}.log"),
            )
            assert self._lock_file is not None
            self._lock_file.truncate(0)
            self._lock_file.write(f"job {job_id} by {user}, pid {os.getpid()}")
            self._lock_file.flush()
            self._save(job)
        except BaseException:
            self._release()
            raise
        self._jobs[job_id] = job
        return job

    async def start(
        self,
        user: str,
        *,
        evaluate: bool = True,
        notes: str = "",
        baseline: str | None = None,
    ) -> TrainingJob:
        """Start a training in the background; :class:`JobAlreadyRunning` if one runs.

        ``baseline``: the version to compare with (default: the active one).
        """
        job = self._new_job("train", user, notes)
        self._tasks[job.id] = asyncio.create_task(
            self._run(job, lambda log: self._train(job, log, evaluate, baseline))
        )
        return job

    async def start_cross_validation(
        self, user: str, *, folds: int = 3, epochs: int | None = None
    ) -> TrainingJob:
        """Start a cross-validation in the background (same one-at-a-time rule)."""
        if folds < 2:
            raise JobError("cross-validation needs at least 2 folds")
        job = self._new_job("cross-validate", user, f"{folds} folds")
        self._tasks[job.id] = asyncio.create_task(
            self._run(job, lambda log: self._cross_validate(job, log, folds, epochs))
        )
        return job

    async def wait(self, job_id: str) -> TrainingJob:
        """Wait until the job has finished; returns it."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.shield(task)
        return self.get(job_id)

    def _signal(self, job_id: str, signum: int) -> None:
        proc = self._procs.get(job_id)
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signum)

    async def cancel(self, job_id: str, *, grace: float = 10.0) -> TrainingJob:
        """Stop a running job (its subprocess group gets SIGTERM, SIGKILL after ``grace``)."""
        job = self.get(job_id)
        if job.finished:
            return job
        self._cancel.add(job_id)
        self._signal(job_id, signal.SIGTERM)
        task = self._tasks.get(job_id)
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), grace)
            except asyncio.TimeoutError:
                self._signal(job_id, signal.SIGKILL)
                await asyncio.shield(task)
        return self.get(job_id)

    async def close(self) -> None:
        """Cancel what is running (console shutdown)."""
        for job in list(self._jobs.values()):
            if not job.finished:
                await self.cancel(job.id)

    # -- running -----------------------------------------------------------

    def _save(self, job: TrainingJob) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        path = self.jobs_dir / f"{job.id}.json"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(job.to_json(), ensure_ascii=False, indent=1), "utf-8")
        os.replace(tmp, path)

    def _log(self, job: TrainingJob, line: str, log: IO[str]) -> None:
        job.seq += 1
        job.lines.append((job.seq, line))
        log.write(line + "\n")
        log.flush()

    def _set_progress(self, job: TrainingJob, percent: float, detail: str = "") -> None:
        job.progress = max(job.progress, min(100.0, percent))
        if detail:
            job.detail = detail
        # Other processes (a console watching a CLI job) read the job file.
        now = time.monotonic()
        if now - self._saved_at.get(job.id, 0.0) > 2.0:
            self._saved_at[job.id] = now
            self._save(job)

    async def _step(
        self,
        job: TrainingJob,
        args: list[str],
        log: IO[str],
        on_line: Callable[[str], None],
        *,
        grace: float = 10.0,
    ) -> None:
        """Run one subprocess of the job, feeding its output to ``on_line``."""
        if job.id in self._cancel:
            raise _Cancelled()
        self._log(job, "$ " + " ".join(args), log)
        proc = await asyncio.create_subprocess_exec(
            *args,
            cwd=self.project_root,
            env=rasa_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self._procs[job.id] = proc
        splitter = LineSplitter()
        assert proc.stdout is not None
        try:
            while chunk := await proc.stdout.read(65536):
                for line, transient in splitter.feed(chunk):
                    on_line(line)
                    if not transient:
                        self._log(job, line, log)
            for line, _ in splitter.flush():
                on_line(line)
                self._log(job, line, log)
            try:
                code = await asyncio.wait_for(proc.wait(), timeout=grace * 6)
            except asyncio.TimeoutError:
                code = -1
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
            self._procs.pop(job.id, None)
        if job.id in self._cancel:
            raise _Cancelled()
        if code != 0:
            raise _StepFailed(f"{Path(args[0]).name} {' '.join(args[1:4])} exited with {code}")

    async def _evaluate_step(
        self, job: TrainingJob, model: Path, out_dir: Path, name: str,
        log: IO[str], start: float, span: float,
    ) -> ev.Evaluation:
        def on_line(line: str) -> None:
            if line.startswith(ev.PROGRESS_PREFIX):
                parts = line.split(maxsplit=2)
                with contextlib.suppress(ValueError, IndexError):
                    label = parts[2] if len(parts) > 2 else ""
                    self._set_progress(job, start + span * float(parts[1]),
                                       f"evaluate {name}: {label}")

        await self._step(
            job,
            [self.python, "-m", "bot.trainer.evaluate", "evaluate", "--model", str(model),
             "--test-file", str(self.test_file), "--out", str(out_dir), "--name", name],
            log, on_line,
        )
        return ev.Evaluation.load(out_dir / ev.EVALUATION_FILE)

    def _cached_evaluation(self, version: ModelVersion) -> ev.Evaluation | None:
        """The version's saved evaluation if it was made on the current test file."""
        path = self.registry.artefact_dir(version.version) / ev.EVALUATION_FILE
        if not path.exists() or not self.test_file.exists():
            return None
        evaluation = ev.Evaluation.load(path)
        return evaluation if evaluation.test_file_sha == ev.file_sha(self.test_file) else None

    async def _run(self, job: TrainingJob, body: Callable[[IO[str]], Awaitable[None]]) -> None:
        """Run ``body`` with the job's log open; record how it ended; free the lock."""
        with Path(job.log_path).open("a", encoding="utf-8") as log:
            try:
                job.status, job.started_at = JobStatus.RUNNING, _now()
                self._save(job)
                await body(log)
                job.status = JobStatus.SUCCEEDED
                self._set_progress(job, 100.0, "done")
            except _Cancelled:
                job.status, job.error = JobStatus.CANCELLED, "cancelled"
            except asyncio.CancelledError:
                job.status, job.error = JobStatus.CANCELLED, "cancelled (shutdown)"
                raise
            except (_StepFailed, RegistryError, ev.EvaluationError, OSError, ValueError) as exc:
                job.status, job.error = JobStatus.FAILED, str(exc)
                self._log(job, f"error: {exc}", log)
            finally:
                if not job.finished:  # an unexpected error: it propagates, the job failed
                    job.status, job.error = JobStatus.FAILED, job.error or "internal error"
                job.finished_at = _now()
                self._cancel.discard(job.id)
                self._save(job)
                self._release()

    async def _train(
        self, job: TrainingJob, log: IO[str], evaluate: bool, baseline: str | None
    ) -> None:
        job.stage = "train"
        hash_ = data_hash(self.project_root)
        version = self.registry.new_version_id(hash_)
        parent = self.registry.active()
        base = self.registry.get(baseline) if baseline else parent
        progress = TrainProgress.from_config(self.project_root / "config.yml")
        train_share = 80.0 if evaluate else 100.0

        def on_train_line(line: str) -> None:
            progress.feed(line)
            self._set_progress(job, train_share * progress.fraction, progress.detail)

        with tempfile.TemporaryDirectory(prefix="bankbot-train-") as tmp:
            await self._step(
                job,
                [self.python, "-m", "rasa", "train", "--domain", "domain", "--data", "data",
                 "--config", "config.yml", "--out", tmp, "--fixed-model-name", version],
                log, on_train_line,
            )
            archive = Path(tmp) / f"{version}.tar.gz"
            if not archive.is_file():
                raise _StepFailed(f"rasa train finished but {archive.name} is missing")
            # Reading the archive's metadata takes a moment: keep the event loop free.
            entry = await asyncio.to_thread(
                functools.partial(
                    self.registry.add, archive, trained_by=job.user, data_hash=hash_,
                    version=version, parent=parent.version if parent else None,
                    notes=job.notes,
                )
            )
        job.version = entry.version
        job.result["model"] = str(entry.path)
        self._log(job, f"registered model version {entry.version} (not activated)", log)
        self._set_progress(job, train_share, "model registered")
        self._save(job)
        if evaluate:
            await self._evaluate_and_compare(job, entry, base, log, train_share)

    async def _evaluate_and_compare(
        self, job: TrainingJob, entry: ModelVersion, base: ModelVersion | None,
        log: IO[str], start: float,
    ) -> None:
        job.stage = "evaluate"
        old: ev.Evaluation | None = None
        span = 100.0 - start
        if base is not None and base.version != entry.version:
            old = self._cached_evaluation(base)
            if old is None:
                half = span / 2
                old = await self._evaluate_step(
                    job, base.path, self.registry.artefact_dir(base.version), base.version,
                    log, start, half,
                )
                self.registry.update(base.version, metrics=old.summary())
                start, span = start + half, half
        new = await self._evaluate_step(
            job, entry.path, self.registry.artefact_dir(entry.version), entry.version,
            log, start, span,
        )
        job.result["metrics"] = new.summary()
        changes: dict[str, Any] = {"metrics": new.summary()}
        if old is not None and base is not None:
            job.stage = "compare"
            comparison = ev.compare(old, new, threshold=self.compare_threshold)
            comparison.save(self.registry.artefact_dir(entry.version) / ev.COMPARISON_FILE)
            job.baseline = base.version
            job.result["comparison"] = comparison.summary()
            changes.update(compared_to=base.version, comparison=comparison.summary())
            self._log(job, f"compared with {base.version}: {comparison.verdict}", log)
        self.registry.update(entry.version, **changes)
        self._log(
            job,
            f"held-out accuracy {new.accuracy:.4f}, macro F1 {new.macro_f1:.4f}, "
            f"weighted F1 {new.weighted_f1:.4f}",
            log,
        )

    async def _cross_validate(
        self, job: TrainingJob, log: IO[str], folds: int, epochs: int | None
    ) -> None:
        job.stage = "cross-validate"
        out = self.jobs_dir / job.id

        def on_line(line: str) -> None:
            if line.startswith(ev.PROGRESS_PREFIX):
                parts = line.split(maxsplit=2)
                with contextlib.suppress(ValueError, IndexError):
                    self._set_progress(job, 100.0 * float(parts[1]),
                                       parts[2] if len(parts) > 2 else "")

        args = [self.python, "-m", "bot.trainer.evaluate", "cross-validate",
                "--project", str(self.project_root), "--folds", str(folds), "--out", str(out)]
        if epochs:
            args += ["--epochs", str(epochs)]
        await self._step(job, args, log, on_line)
        result = ev.CrossValidation.load(out / ev.CROSS_VALIDATION_FILE)
        job.result = {
            "path": str(out / ev.CROSS_VALIDATION_FILE),
            "confusion": str(out / ev.CONFUSION_FILE),
            "accuracy": round(result.evaluation.accuracy, 4),
            "macro_f1": round(result.evaluation.macro_f1, 4),
            "fold_accuracies": result.fold_accuracies,
        }
