"""Which model `make run` starts: the version a trainer activated, else the newest archive."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bot.run import model_to_run
from bot.settings import Settings
from bot.trainer.registry import ModelRegistry, ModelVersion


def settings_for(tmp_path: Path) -> Settings:
    return Settings.from_env({"BANKBOT_DATA_DIR": str(tmp_path / "var")})


def archives(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    for age, name in enumerate(["new.tar.gz", "old.tar.gz"]):
        path = models / name
        path.write_bytes(b"model")
        os.utime(path, (1_700_000_000 - age * 100, 1_700_000_000 - age * 100))
    return models


def test_without_an_activated_version_the_newest_archive_runs(tmp_path: Path) -> None:
    models = archives(tmp_path)
    assert model_to_run(settings_for(tmp_path), models) == models / "new.tar.gz"


def test_an_activated_version_survives_a_restart(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    models = archives(tmp_path)
    registry = ModelRegistry.from_settings(settings)
    registry.root.mkdir(parents=True)
    archive = registry.archive_path("20261129-0100-abcdef12")
    archive.write_bytes(b"model")
    entry = ModelVersion(
        version="20261129-0100-abcdef12",
        path=archive,
        created_at="2026-11-29T01:00:00",
        data_hash="abcdef12",
        trained_by="trainer",
    )
    (registry.root / "20261129-0100-abcdef12.json").write_text(json.dumps(entry.to_json()))
    registry.mark_active("20261129-0100-abcdef12", "trainer")
    assert model_to_run(settings, models) == archive.resolve()
    archive.unlink()  # a version whose archive is gone cannot run: fall back
    assert model_to_run(settings, models) == models / "new.tar.gz"
