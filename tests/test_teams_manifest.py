"""manifests/teams: a valid app manifest (v1.17) with the bot's commands and both icons, and
`socialdesk teams-package`, which zips it with the app id from the settings."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.cli import main
from bot.teams.edge import COMMANDS
from tests.structure import teams_manifest_problems

TEAMS = Path(__file__).resolve().parents[1] / "manifests" / "teams"
APP_ID = "5d3f2e9a-1b2c-4d5e-8f90-123456789abc"


def _manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((TEAMS / "manifest.json").read_text(encoding="utf-8"))
    return loaded


def _validate(shared_dir: Path, manifest: dict[str, Any]) -> None:
    version = manifest["manifestVersion"]
    schema_path = shared_dir / "schemas" / "teams-app-manifest" / f"v{version}"
    schema = json.loads((schema_path / "MicrosoftTeams.schema.json").read_text())
    # The schema says draft-04 but uses `const`; draft 7 enforces manifestVersion.
    jsonschema.Draft7Validator(schema).validate(manifest)


def test_the_manifest_keeps_teams_rules() -> None:
    manifest = _manifest()
    assert tuple(int(p) for p in manifest["manifestVersion"].split(".")) >= (1, 17)
    assert teams_manifest_problems(manifest) == []


def test_the_manifest_matches_the_teams_schema(shared_dir: Path) -> None:
    manifest = _manifest()
    assert tuple(int(p) for p in manifest["manifestVersion"].split(".")) >= (1, 17)
    _validate(shared_dir, manifest)


def test_the_manifest_lists_the_commands_the_bot_answers() -> None:
    (bot,) = _manifest()["bots"]
    assert bot["scopes"] == ["personal"]
    (commands,) = bot["commandLists"]
    assert tuple(c["title"] for c in commands["commands"]) == COMMANDS
    assert bot["supportsFiles"] is True  # photos come as files in the chat


def _png_size(data: bytes) -> tuple[int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, colour


def test_the_icons_are_the_sizes_teams_requires() -> None:
    assert _png_size((TEAMS / "color.png").read_bytes())[:2] == (192, 192)
    width, height, colour = _png_size((TEAMS / "outline.png").read_bytes())
    assert (width, height) == (32, 32)
    assert colour == 6  # RGBA: the outline icon is white on transparent


def _package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    monkeypatch.setenv("MICROSOFT_APP_PASSWORD", "secret")
    monkeypatch.setenv("MICROSOFT_APP_TENANT_ID", "72f988bf-0000-4000-8000-0000000005c1")
    out = tmp_path / "socialdesk.zip"
    assert main(["teams-package", "--out", str(out)]) == 0
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
    assert manifest["id"] == APP_ID
    assert manifest["bots"][0]["botId"] == APP_ID
    return manifest


def test_teams_package_writes_the_zip_with_the_app_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert teams_manifest_problems(_package(tmp_path, monkeypatch)) == []


def test_teams_packages_manifest_matches_the_teams_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_dir: Path
) -> None:
    _validate(shared_dir, _package(tmp_path, monkeypatch))


def test_teams_package_needs_the_app_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MICROSOFT_APP_ID", raising=False)
    monkeypatch.delenv("MICROSOFT_APP_PASSWORD", raising=False)
    assert main(["teams-package", "--out", str(tmp_path / "x.zip")]) == 2
    assert "MICROSOFT_APP_ID is missing" in capsys.readouterr().err
    monkeypatch.setenv("MICROSOFT_APP_ID", "not-a-guid")
    monkeypatch.setenv("MICROSOFT_APP_PASSWORD", "secret")
    monkeypatch.setenv("MICROSOFT_APP_TENANT_ID", "72f988bf-0000-4000-8000-0000000005c1")
    assert main(["teams-package", "--out", str(tmp_path / "x.zip")]) == 2
    assert "must be the GUID" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()
