"""manifests/teams: a valid app manifest (v1.17) with the bot's commands and both icons, and
`socialdesk teams-package`, which zips it with the app id, the school's own pages and the
version, needing nothing that does not go in the zip."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.cli import main
from bot.teams.edge import COMMANDS
from tests.harness import FIXTURES
from tests.processes import ROOT, errors
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


SCHOOL_PAGES = {
    "website": "https://www.oakgreen.sch.uk/socialdesk",
    "privacy": "https://www.oakgreen.sch.uk/privacy",
    "terms": "https://www.oakgreen.sch.uk/terms-of-use",
}


def _school_config(tmp_path: Path, teams_app: dict[str, str] | None) -> Path:
    raw = yaml.safe_load((FIXTURES / "school.yaml").read_text(encoding="utf-8"))
    if teams_app is not None:
        raw["teams_app"] = teams_app
    config = tmp_path / "school.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return config


def _only_the_app_id(monkeypatch: pytest.MonkeyPatch, config: Path) -> None:
    # Neither the client secret nor the tenant goes in the zip: whoever builds the package
    # for the Teams admin need not hold them.
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    monkeypatch.delenv("MICROSOFT_APP_PASSWORD", raising=False)
    monkeypatch.delenv("MICROSOFT_APP_TENANT_ID", raising=False)
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(config))


def _read(out: Path) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest: dict[str, Any] = json.loads(package.read("manifest.json"))
    return manifest


def _package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    config = _school_config(tmp_path, {**SCHOOL_PAGES, "version": "1.0.3"})
    _only_the_app_id(monkeypatch, config)
    out = tmp_path / "socialdesk.zip"
    assert main(["teams-package", "--out", str(out)]) == 0
    manifest = _read(out)
    assert manifest["id"] == APP_ID
    assert manifest["bots"][0]["botId"] == APP_ID
    assert manifest["developer"] == {
        "name": "socialdesk",
        "websiteUrl": SCHOOL_PAGES["website"],
        "privacyUrl": SCHOOL_PAGES["privacy"],
        "termsOfUseUrl": SCHOOL_PAGES["terms"],
    }
    assert manifest["version"] == "1.0.3"
    return manifest


def test_teams_package_writes_the_zip_with_the_app_id_and_the_schools_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert teams_manifest_problems(_package(tmp_path, monkeypatch)) == []
    assert f"for app {APP_ID}, version 1.0.3" in capsys.readouterr().out
    # serve still demands the secret and the tenant the package does without.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite")
    assert main(["serve"]) == 2
    assert "MICROSOFT_APP_PASSWORD is missing" in capsys.readouterr().err


def test_teams_packages_manifest_matches_the_teams_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_dir: Path
) -> None:
    _validate(shared_dir, _package(tmp_path, monkeypatch))


def test_the_flags_win_over_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _only_the_app_id(monkeypatch, _school_config(tmp_path, {**SCHOOL_PAGES, "version": "1.0.3"}))
    other = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
    out = tmp_path / "flags.zip"
    flags = ["--app-id", other, "--terms", "https://trust.example.org/terms", "--version", "1.1.0"]
    assert main(["teams-package", "--out", str(out), *flags]) == 0
    manifest = _read(out)
    assert manifest["id"] == other and manifest["bots"][0]["botId"] == other
    assert manifest["developer"]["termsOfUseUrl"] == "https://trust.example.org/terms"
    assert manifest["developer"]["websiteUrl"] == SCHOOL_PAGES["website"]
    assert manifest["version"] == "1.1.0"

    # With no configuration file at all, the flags give everything.
    monkeypatch.delenv("SOCIALDESK_CONFIG")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "school.yaml").unlink()
    pages = [f"--{key}={url}" for key, url in SCHOOL_PAGES.items()]
    assert main(["teams-package", "--out", "flags-only.zip", *pages]) == 0
    manifest = _read(tmp_path / "flags-only.zip")
    assert manifest["developer"]["privacyUrl"] == SCHOOL_PAGES["privacy"]
    assert manifest["version"] == _manifest()["version"]  # the manifest's own, unless given


def test_the_examples_addresses_are_refused_naming_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _only_the_app_id(monkeypatch, _school_config(tmp_path, {"website": SCHOOL_PAGES["website"]}))
    out = tmp_path / "x.zip"
    assert main(["teams-package", "--out", str(out)]) == 2
    (line,) = errors(capsys.readouterr().err)
    assert "example's address (socialdesk.example.sch.uk) for privacy, terms" in line
    assert "set teams_app: privacy, terms" in line and "(or --privacy, --terms)" in line
    assert not out.exists()
    # The example configuration carries them too: a school must set its own.
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(ROOT / "socialdesk.example.yaml"))
    assert main(["teams-package", "--out", str(out)]) == 2
    assert "for website, privacy, terms" in capsys.readouterr().err
    assert not out.exists()
    # A trial may use them, when it says so.
    assert main(["teams-package", "--out", str(out), "--allow-example"]) == 0
    assert "socialdesk.example.sch.uk" in _read(out)["developer"]["privacyUrl"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--website", "http://www.oakgreen.sch.uk"], "--website must be an https:// address"),
        (["--privacy", "oakgreen.sch.uk/privacy"], "--privacy must be an https:// address"),
        (["--version", "1.0"], "--version must be a version of three whole numbers"),
        (["--app-id", "not-a-guid"], "--app-id must be the GUID of the Azure Bot registration"),
    ],
)
def test_a_bad_flag_is_refused_naming_it(
    flags: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _only_the_app_id(monkeypatch, _school_config(tmp_path, SCHOOL_PAGES))
    out = tmp_path / "x.zip"
    assert main(["teams-package", "--out", str(out), *flags]) == 2
    (line,) = errors(capsys.readouterr().err)
    assert message in line
    assert not out.exists()


def test_teams_package_needs_the_app_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _only_the_app_id(monkeypatch, _school_config(tmp_path, SCHOOL_PAGES))
    monkeypatch.delenv("MICROSOFT_APP_ID")
    assert main(["teams-package", "--out", str(tmp_path / "x.zip")]) == 2
    assert "MICROSOFT_APP_ID is missing (or give --app-id)" in capsys.readouterr().err
    monkeypatch.setenv("MICROSOFT_APP_ID", "not-a-guid")
    assert main(["teams-package", "--out", str(tmp_path / "x.zip")]) == 2
    assert "MICROSOFT_APP_ID must be the GUID" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()
    # A configuration SOCIALDESK_CONFIG names must be there.
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(tmp_path / "absent.yaml"))
    assert main(["teams-package", "--out", str(tmp_path / "x.zip")]) == 2
    assert "SOCIALDESK_CONFIG" in capsys.readouterr().err
