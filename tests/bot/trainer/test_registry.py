"""Model registry: versions, metadata, data hash, activation bookkeeping, clear errors."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT
from bot.trainer.registry import (
    ModelRegistry,
    RasaUnavailable,
    RegistryError,
    VersionNotFound,
    data_hash,
    model_metadata,
    record_activation,
)

MODEL = PROJECT_ROOT / "models" / "bankbot.tar.gz"


@pytest.fixture
def trained_model() -> Path:
    """The trained model: `make test` trains it first, so a missing one fails (as the
    integration tests' stack does), never skips."""
    if not MODEL.is_file():
        pytest.fail(f"{MODEL} is missing: `make test` trains it before running pytest")
    return MODEL


needs_model = pytest.mark.usefixtures("trained_model")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def small_project(root: Path) -> Path:
    (root / "data" / "nlu").mkdir(parents=True)
    (root / "domain").mkdir()
    (root / "config.yml").write_text("language: zh\npipeline: []\n", encoding="utf-8")
    (root / "domain" / "a.yml").write_text('version: "3.1"\nintents: [greet]\n', "utf-8")
    (root / "data" / "nlu" / "a.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - 你好\n', "utf-8"
    )
    return root


def test_data_hash_follows_training_data_only(tmp_path: Path) -> None:
    project = small_project(tmp_path)
    first = data_hash(project)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert data_hash(project) == first
    # Files outside config.yml, domain/ and data/ do not count.
    (project / "README.md").write_text("notes", encoding="utf-8")
    assert data_hash(project) == first
    nlu = project / "data" / "nlu" / "a.yml"
    nlu.write_text(nlu.read_text(encoding="utf-8") + "    - 您好\n", encoding="utf-8")
    changed = data_hash(project)
    assert changed != first
    # Moving the same content to another file name changes it too (paths are hashed).
    nlu.rename(project / "data" / "nlu" / "b.yml")
    assert data_hash(project) not in (first, changed)


@needs_model
def test_register_existing_list_get_and_update(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    assert registry.versions() == [] and registry.active() is None
    entry = registry.register_existing(MODEL, trained_by="alice", project_root=PROJECT_ROOT)

    assert re.fullmatch(r"\d{8}-\d{4}-[0-9a-f]{8}", entry.version)
    assert entry.version.endswith(data_hash(PROJECT_ROOT)[:8])
    assert entry.path == (tmp_path / "models" / f"{entry.version}.tar.gz").resolve()
    assert entry.path.stat().st_size == MODEL.stat().st_size  # copied, original kept
    assert MODEL.exists()
    assert entry.model_id == model_metadata(MODEL)["model_id"]
    assert entry.trained_by == "alice" and entry.data_hash == data_hash(PROJECT_ROOT)
    sidecar = json.loads((tmp_path / "models" / f"{entry.version}.json").read_text("utf-8"))
    assert sidecar["trained_by"] == "alice" and sidecar["model_id"] == entry.model_id
    assert registry.active() is None  # importing does not activate

    # A second version of the same data in the same minute gets its own id.
    second = registry.add(
        registry.archive_path(entry.version), trained_by="bob",
        data_hash=entry.data_hash, parent=entry.version, move=False,
    )
    assert second.version != entry.version and second.parent == entry.version
    assert {v.version for v in registry.versions()} == {entry.version, second.version}

    updated = registry.update(
        second.version, metrics={"accuracy": 0.9, "macro_f1": 0.8}, notes="more FAQs"
    )
    again = registry.get(second.version)
    assert again.metrics == updated.metrics == {"accuracy": 0.9, "macro_f1": 0.8}
    assert again.notes == "more FAQs"
    with pytest.raises(RegistryError):
        registry.update(second.version, trained_by="mallory")

    registry.mark_active(entry.version, "alice")
    with pytest.raises(RegistryError, match="active"):
        registry.delete(entry.version)
    registry.delete(second.version)
    assert [v.version for v in registry.versions()] == [entry.version]


def test_unknown_versions_and_bad_archives(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    with pytest.raises(VersionNotFound):
        registry.get("20260101-0000-deadbeef")
    with pytest.raises(VersionNotFound):
        registry.get("../registry")
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not a model")
    with pytest.raises(RegistryError, match="not a Rasa model archive"):
        registry.add(bogus, trained_by="alice", data_hash="0" * 64)
    with pytest.raises(RegistryError, match="does not exist"):
        registry.add(tmp_path / "missing.tar.gz", trained_by="alice", data_hash="0" * 64)


def test_rollback_stack_walks_back_through_activations() -> None:
    state: dict = {}
    for version in ("A", "B", "C"):
        record_activation(state, version, "alice", "activate")
    assert state["active"] == "C" and state["stack"] == ["A", "B", "C"]
    record_activation(state, "B", "bob", "rollback")
    assert state["active"] == "B" and state["stack"] == ["A", "B"]
    record_activation(state, "A", "bob", "rollback")
    assert state["stack"] == ["A"]
    record_activation(state, "D", "carol", "activate")
    assert state["stack"] == ["A", "D"]
    actions = [(h["action"], h["version"], h["previous"], h["user"]) for h in state["history"]]
    assert actions[-3:] == [
        ("rollback", "B", "C", "bob"),
        ("rollback", "A", "B", "bob"),
        ("activate", "D", "A", "carol"),
    ]


@needs_model
async def test_activation_errors_are_clear(tmp_path: Path) -> None:
    registry = ModelRegistry(
        tmp_path / "models", rasa_url=f"http://127.0.0.1:{closed_port()}", rasa_token="t"
    )
    entry = registry.register_existing(MODEL, trained_by="alice")
    with pytest.raises(RasaUnavailable, match="did not answer"):
        await registry.activate(entry.version, "alice")
    assert registry.active() is None and registry.history() == []
    with pytest.raises(VersionNotFound):
        await registry.activate("20990101-0000-00000000", "alice")
    with pytest.raises(VersionNotFound, match="no earlier"):
        await registry.rollback("alice")
    with pytest.raises(RegistryError, match="user"):
        await registry.activate(entry.version, "")
    # An archive that vanished is reported before Rasa is asked to load it.
    shutil.move(str(entry.path), tmp_path / "elsewhere.tar.gz")
    with pytest.raises(RegistryError, match="missing"):
        await registry.activate(entry.version, "alice")


@needs_model
def test_cli_models_activate_rollback_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.trainer.cli import main as cli_main

    monkeypatch.setenv("BANKBOT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{closed_port()}")
    assert cli_main(["models"]) == 0
    assert "no model versions" in capsys.readouterr().out
    assert cli_main(["import-model", str(MODEL), "--user", "alice", "--active"]) == 0
    version = ModelRegistry(tmp_path / "var" / "models").versions()[0].version
    capsys.readouterr()
    assert cli_main(["models"]) == 0
    listing = capsys.readouterr().out
    assert f"* {version}" in listing and "alice" in listing
    assert cli_main(["models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["active"] == version

    assert cli_main(["activate", version, "--user", "bob"]) == 1
    assert "did not answer" in capsys.readouterr().err
    assert cli_main(["activate", "20990101-0000-00000000", "--user", "bob"]) == 1
    assert "no model version" in capsys.readouterr().err
    assert cli_main(["rollback", "--user", "bob"]) == 1
    assert "no earlier" in capsys.readouterr().err
    assert cli_main(["--user", "", "activate", version]) == 2
    assert cli_main(["cross-validate", "--folds", "1"]) == 2
    with pytest.raises(SystemExit) as usage:
        cli_main(["activate"])
    assert usage.value.code == 2
