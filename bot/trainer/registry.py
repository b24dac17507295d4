"""Trained model versions: storage, metadata, and hot-swapping the running Rasa server.

Layout under ``<data_dir>/models`` (``var/models`` by default)::

    <version>.tar.gz     the Rasa model archive
    <version>.json       its metadata (see :class:`ModelVersion`)
    <version>/           artefacts: evaluation.json, confusion.png, comparison.json
    registry.json        {"active": ..., "stack": [...], "history": [...]}

A version id is ``YYYYMMDD-HHMM-<first 8 hex of the data hash>``. ``activate`` asks the
running Rasa server to load another archive through its HTTP API (``PUT /model``): the
server keeps running and keeps its tracker store, so conversations continue (with the
SQL tracker store of endpoints.yml; an in-memory store would be replaced). While Rasa
loads the archive its event loop is busy, so messages wait and are answered afterwards.
``rollback`` returns to the version active before the current one (a stack).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bot.settings import Settings

# What a model is trained from; the data hash covers every file below these paths.
HASHED_PATHS = ("config.yml", "domain", "data")


class RegistryError(Exception):
    """A model registry operation failed."""


class VersionNotFound(RegistryError):
    """No model version with that id (or no earlier version to roll back to)."""


class RasaUnavailable(RegistryError):
    """The Rasa server did not answer (not running, wrong URL, timeout, 5xx)."""


class ActivationFailed(RegistryError):
    """Rasa answered but did not load the model (4xx, or /status shows another model)."""


@dataclass
class ModelVersion:
    """One trained model and what is known about it."""

    version: str
    path: Path
    created_at: str
    data_hash: str
    trained_by: str
    model_id: str = ""
    parent: str | None = None  # the active version when training started
    compared_to: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # accuracy, macro_f1, weighted_f1, ...
    comparison: dict[str, Any] = field(default_factory=dict)  # verdict, flagged, fixed, broken
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelVersion:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["path"] = Path(values["path"])
        return cls(**values)


def data_hash(project_root: Path) -> str:
    """sha256 over config.yml, domain/ and data/ (relative paths and contents, sorted)."""
    digest = hashlib.sha256()
    files: list[Path] = []
    for name in HASHED_PATHS:
        top = project_root / name
        if top.is_file():
            files.append(top)
        elif top.is_dir():
            files.extend(p for p in top.rglob("*") if p.is_file())
    for path in sorted(files, key=lambda p: p.relative_to(project_root).as_posix()):
        digest.update(path.relative_to(project_root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def model_metadata(archive: Path) -> dict[str, Any]:
    """``metadata.json`` of a Rasa model archive (model_id, trained_at, ...)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name.lstrip("/") == "metadata.json":
                    handle = tar.extractfile(member)
                    if handle is not None:
                        return dict(json.load(handle))
    except (tarfile.TarError, gzip.BadGzipFile, EOFError) as exc:
        raise RegistryError(f"{archive} is not a Rasa model archive: {exc}") from exc
    raise RegistryError(f"{archive} has no metadata.json: not a Rasa 3 model")


def record_activation(state: dict[str, Any], version: str, user: str, action: str) -> None:
    """Update the registry state: ``active``, the rollback ``stack`` and ``history``.

    Activating pushes the version on the stack; a rollback to a version on the stack
    drops what was activated after it, so repeated rollbacks walk further back.
    """
    previous = state.get("active")
    stack: list[str] = state.setdefault("stack", [])
    if action == "rollback" and version in stack:
        del stack[len(stack) - stack[::-1].index(version) :]
    elif not stack or stack[-1] != version:
        stack.append(version)
    state["active"] = version
    state.setdefault("history", []).append(
        {
            "at": _now().isoformat(timespec="seconds"),
            "user": user,
            "action": action,
            "version": version,
            "previous": previous,
        }
    )


def _now() -> datetime:
    return datetime.now().astimezone()


def _write_json(path: Path, data: Any) -> None:
    """Write atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


class ModelRegistry:
    """Model versions in one folder, and the Rasa server that runs one of them."""

    def __init__(
        self,
        root: Path,
        *,
        rasa_url: str = "",
        rasa_token: str = "",
        load_timeout: float = 600.0,
    ) -> None:
        self.root = Path(root)
        self.rasa_url = rasa_url.rstrip("/")
        self.rasa_token = rasa_token
        # Loading the project's model (TensorFlow graphs) takes a while on 2 cores.
        self.load_timeout = load_timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelRegistry:
        return cls(
            settings.data_dir / "models",
            rasa_url=settings.rasa_url,
            rasa_token=settings.rasa_token,
        )

    # -- files -------------------------------------------------------------

    def archive_path(self, version: str) -> Path:
        return self.root / f"{version}.tar.gz"

    def artefact_dir(self, version: str) -> Path:
        """Where evaluation results of ``version`` live (created on demand)."""
        path = self.root / version
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _meta_path(self, version: str) -> Path:
        return self.root / f"{version}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise writers (the console and CLI runs may write at the same time)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _state(self) -> dict[str, Any]:
        path = self.root / "registry.json"
        if not path.exists():
            return {"active": None, "stack": [], "history": []}
        return dict(json.loads(path.read_text(encoding="utf-8")))

    def _save_state(self, state: dict[str, Any]) -> None:
        _write_json(self.root / "registry.json", state)

    # -- queries -----------------------------------------------------------

    def versions(self) -> list[ModelVersion]:
        """All versions, newest first."""
        if not self.root.is_dir():
            return []
        versions = [
            self._load_meta(p)
            for p in self.root.glob("*.json")
            if p.name != "registry.json" and not p.name.startswith(".")
        ]
        return sorted(versions, key=lambda v: (v.created_at, v.version), reverse=True)

    def get(self, version: str) -> ModelVersion:
        path = self._meta_path(version)
        if not version or "/" in version or not path.exists():
            raise VersionNotFound(f"no model version {version!r} in {self.root}")
        return self._load_meta(path)

    def _load_meta(self, path: Path) -> ModelVersion:
        entry = ModelVersion.from_json(json.loads(path.read_text(encoding="utf-8")))
        # The archive sits next to its metadata, wherever the data folder was moved.
        entry.path = self.archive_path(entry.version).resolve()
        return entry

    def active(self) -> ModelVersion | None:
        """The version last activated through this registry (None before the first)."""
        name = self._state().get("active")
        return self.get(name) if name else None

    def history(self) -> list[dict[str, Any]]:
        """Activations and rollbacks, oldest first: {at, user, action, version, previous}."""
        return list(self._state().get("history", []))

    def new_version_id(self, hash_: str, when: datetime | None = None) -> str:
        """``YYYYMMDD-HHMM-<hash8>``, with ``-2``, ``-3``... if that id is taken."""
        base = f"{(when or _now()):%Y%m%d-%H%M}-{hash_[:8]}"
        candidate, n = base, 1
        while self._meta_path(candidate).exists() or self.archive_path(candidate).exists():
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    # -- writes ------------------------------------------------------------

    def add(
        self,
        archive: Path,
        *,
        trained_by: str,
        data_hash: str,
        version: str | None = None,
        parent: str | None = None,
        notes: str = "",
        move: bool = True,
    ) -> ModelVersion:
        """Store ``archive`` as a new version (moved, or copied with ``move=False``)."""
        archive = Path(archive)
        if not archive.is_file():
            raise RegistryError(f"model archive {archive} does not exist")
        meta = model_metadata(archive)
        with self._locked():
            version = version or self.new_version_id(data_hash)
            target = self.archive_path(version)
            if target.exists() or self._meta_path(version).exists():
                raise RegistryError(f"model version {version} already exists")
            tmp = target.with_name(f".{target.name}.tmp")
            if move:
                shutil.move(str(archive), tmp)
            else:
                shutil.copyfile(archive, tmp)
            os.replace(tmp, target)
            entry = ModelVersion(
                version=version,
                path=target.resolve(),
                created_at=_now().isoformat(timespec="seconds"),
                data_hash=data_hash,
                trained_by=trained_by,
                model_id=str(meta.get("model_id", "")),
                parent=parent,
                notes=notes,
            )
            _write_json(self._meta_path(version), entry.to_json())
        return entry

    def register_existing(
        self,
        archive: Path,
        *,
        trained_by: str = "import",
        project_root: Path | None = None,
        notes: str = "",
        mark_active: bool = False,
    ) -> ModelVersion:
        """Import an already trained archive (e.g. models/bankbot.tar.gz) as a version.

        The archive is copied. Its data hash is that of ``project_root``'s current data
        (the best guess for a model trained from this checkout). With ``mark_active``
        the version is recorded as the active one without calling Rasa (for the model
        the server was started with).
        """
        from bot.settings import PROJECT_ROOT

        archive = Path(archive)
        hash_ = data_hash(project_root or PROJECT_ROOT)
        meta = model_metadata(archive)
        trained_at = meta.get("trained_at")
        when = datetime.fromisoformat(trained_at) if isinstance(trained_at, str) else None
        entry = self.add(
            archive,
            trained_by=trained_by,
            data_hash=hash_,
            version=self.new_version_id(hash_, when),
            notes=notes or f"imported from {archive}",
            move=False,
        )
        if mark_active:
            with self._locked():
                state = self._state()
                record_activation(state, entry.version, trained_by, "import")
                self._save_state(state)
        return entry

    def update(self, version: str, **changes: Any) -> ModelVersion:
        """Set metadata fields (metrics, comparison, compared_to, notes)."""
        with self._locked():
            entry = self.get(version)
            for key, value in changes.items():
                if key not in {"metrics", "comparison", "compared_to", "notes"}:
                    raise RegistryError(f"metadata field {key!r} cannot be changed")
                setattr(entry, key, value)
            _write_json(self._meta_path(version), entry.to_json())
        return entry

    def delete(self, version: str) -> None:
        """Remove a version that is not active (archive, metadata, artefacts)."""
        with self._locked():
            entry = self.get(version)
            if self._state().get("active") == version:
                raise RegistryError(f"{version} is the active model; activate another first")
            entry.path.unlink(missing_ok=True)
            self._meta_path(version).unlink()
            shutil.rmtree(self.root / version, ignore_errors=True)

    def mark_active(self, version: str, user: str, *, action: str = "detected") -> ModelVersion:
        """Record ``version`` as active without calling Rasa (it was started with it)."""
        entry = self.get(version)
        with self._locked():
            state = self._state()
            record_activation(state, entry.version, user, action)
            self._save_state(state)
        return entry

    # -- Rasa server -------------------------------------------------------

    def _params(self) -> dict[str, str]:
        return {"token": self.rasa_token} if self.rasa_token else {}

    async def _request(
        self, method: str, path: str, *, payload: Any = None, timeout: float = 10.0
    ) -> tuple[int, str]:
        if not self.rasa_url:
            raise RasaUnavailable("no Rasa URL configured (RASA_URL)")
        url = f"{self.rasa_url}{path}"
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout)
            ) as http, http.request(method, url, params=self._params(), json=payload) as resp:
                return resp.status, await resp.text()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise RasaUnavailable(
                f"Rasa at {self.rasa_url} did not answer {method} {path}: "
                f"{exc.__class__.__name__} {exc}"
            ) from exc

    async def server_status(self) -> dict[str, Any]:
        """Rasa's ``GET /status``: model_file, model_id of the model it runs."""
        status, text = await self._request("GET", "/status")
        if status >= 500:
            raise RasaUnavailable(f"Rasa /status answered {status}: {text[:200]}")
        if status >= 400:
            raise ActivationFailed(f"Rasa /status answered {status}: {text[:200]}")
        return dict(json.loads(text))

    async def running_version(self) -> ModelVersion | None:
        """The registered version whose model the Rasa server is running, if any."""
        model_id = (await self.server_status()).get("model_id")
        return next((v for v in self.versions() if model_id and v.model_id == model_id), None)

    async def sync_with_server(self, user: str = "system") -> ModelVersion | None:
        """Point ``active`` at the registered version Rasa runs (e.g. after a restart)."""
        running = await self.running_version()
        active = self.active()
        if running is not None and (active is None or active.version != running.version):
            self.mark_active(running.version, user)
        return running

    async def _load_on_server(self, entry: ModelVersion) -> None:
        if not entry.path.is_file():
            raise ActivationFailed(f"the archive of {entry.version} is missing: {entry.path}")
        status, text = await self._request(
            "PUT",
            "/model",
            payload={"model_file": str(entry.path.resolve())},
            timeout=self.load_timeout,
        )
        if status >= 500:
            # Rasa answers 500 "LoadingError" when the archive cannot be loaded.
            raise ActivationFailed(f"Rasa could not load {entry.version} ({status}): {text[:300]}")
        if status >= 400:
            raise ActivationFailed(f"Rasa refused {entry.version} ({status}): {text[:300]}")
        running = await self.server_status()
        if entry.model_id and running.get("model_id") != entry.model_id:
            raise ActivationFailed(
                f"Rasa runs model {running.get('model_id')} after loading {entry.version} "
                f"(expected {entry.model_id})"
            )

    async def activate(self, version: str, user: str, *, action: str = "activate") -> ModelVersion:
        """Load ``version`` into the running Rasa server (no restart), then record it."""
        if not user:
            raise RegistryError("activation needs a user (who activated it)")
        entry = self.get(version)
        await self._load_on_server(entry)
        with self._locked():
            state = self._state()
            record_activation(state, entry.version, user, action)
            self._save_state(state)
        return entry

    async def rollback(self, user: str, to: str | None = None) -> ModelVersion:
        """Activate the version active before the current one (or ``to``)."""
        state = self._state()
        if to is None:
            stack = state.get("stack", [])
            if len(stack) < 2:
                raise VersionNotFound("no earlier active version to roll back to")
            to = stack[-2]
        return await self.activate(to, user, action="rollback")
