"""manifests/slack/manifest.yaml: valid, and true to what the code answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.slack.edge import COMMANDS
from tests.harness import RunningBot
from tests.structure import slack_manifest_problems

MANIFEST = Path(__file__).resolve().parents[1] / "manifests" / "slack" / "manifest.yaml"


def _manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return loaded


def test_the_manifest_keeps_slacks_rules() -> None:
    assert slack_manifest_problems(_manifest()) == []


def test_the_manifest_matches_slacks_manifest_schema(shared_dir: Path) -> None:
    schema = json.loads(
        (shared_dir / "schemas" / "slack-app-manifest" / "slack-app-manifest.json").read_text()
    )
    jsonschema.Draft7Validator(schema).validate(_manifest())


def test_the_manifest_declares_what_the_bot_needs() -> None:
    manifest = _manifest()
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert tuple(commands) == COMMANDS
    urls = {c["url"] for c in manifest["features"]["slash_commands"]}
    urls |= {manifest["settings"]["interactivity"]["request_url"]}
    urls |= {manifest["settings"]["event_subscriptions"]["request_url"]}
    assert {url.rsplit("/", 2)[-2:] == ["slack", "events"] for url in urls} == {True}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # commands; chat.postMessage; conversations.open for a DM; message.im; file downloads;
    # users.info and users.list (a sender's name, `socialdesk people`)
    assert {"commands", "chat:write", "im:write", "im:history", "files:read", "users:read"} <= (
        scopes
    )
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["message.im"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


@pytest.mark.parametrize("command", COMMANDS)
async def test_every_declared_command_is_answered(bot: RunningBot, command: str) -> None:
    reply = await bot.command(command, "U0TEACH")
    assert reply.status == 200
