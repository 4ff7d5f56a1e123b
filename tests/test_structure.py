"""tests/structure.py, our own checks of Slack's and Teams' manifests and of Adaptive Cards:
what the bot ships passes them, and each rule catches what it is there to catch."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.structure import card_problems, slack_manifest_problems, teams_manifest_problems

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"


def _slack() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((MANIFESTS / "slack" / "manifest.yaml").read_text())
    return loaded


def _teams() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MANIFESTS / "teams" / "manifest.json").read_text())
    return loaded


def _card() -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "version": "1.5",
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "RichTextBlock",
                "inlines": [{"type": "TextRun", "text": "Hi", "weight": "Bolder"}],
            },
            {"type": "Input.Text", "id": "reason", "label": "Reason", "style": "Url"},
            {
                "type": "Input.ChoiceSet",
                "id": "kind",
                "choices": [{"title": "A pupil", "value": "pupil_request"}],
            },
        ],
        "actions": [
            {"type": "Action.Execute", "title": "Send", "verb": "send", "data": {"id": "x"}},
            {
                "type": "Action.ShowCard",
                "title": "More",
                "card": {
                    "type": "AdaptiveCard",
                    "body": [{"type": "Input.Toggle", "id": "sure", "title": "Sure"}],
                },
            },
        ],
    }  # fmt: skip


def test_what_the_bot_ships_passes() -> None:
    assert slack_manifest_problems(_slack()) == []
    assert teams_manifest_problems(_teams()) == []
    assert card_problems(_card()) == []


Breakage = Callable[[dict[str, Any]], object]

SLACK_BREAKAGES: dict[str, Breakage] = {
    "a name over 35 characters": lambda m: m["display_information"].update(name="s" * 36),
    "a description over 140": lambda m: m["display_information"].update(description="d" * 141),
    "a command without its slash": lambda m: m["features"]["slash_commands"][0].update(
        command="post"
    ),
    "a plain http request url": lambda m: m["settings"]["interactivity"].update(
        request_url="http://socialdesk.example.sch.uk/slack/events"
    ),
    "a bot name with a space": lambda m: m["features"]["bot_user"].update(
        display_name="social desk"
    ),
    "no display information": lambda m: m.pop("display_information"),
    "interactivity without is_enabled": lambda m: m["settings"]["interactivity"].pop("is_enabled"),
}
TEAMS_BREAKAGES: dict[str, Breakage] = {
    "a short name over 30": lambda m: m["name"].update(short="s" * 31),
    "a short description over 80": lambda m: m["description"].update(short="d" * 81),
    "an app id that is no GUID": lambda m: m.update(id="socialdesk"),
    "a colour name for accentColor": lambda m: m.update(accentColor="green"),
    "a version that is not semver": lambda m: m.update(version="1.0"),
    "a command description over 128": lambda m: m["bots"][0]["commandLists"][0]["commands"][
        0
    ].update(description="d" * 129),
    "eleven commands": lambda m: m["bots"][0]["commandLists"][0].update(
        commands=[{"title": f"c{n}", "description": "x"} for n in range(11)]
    ),
    "an unknown bot scope": lambda m: m["bots"][0].update(scopes=["everyone"]),
    "a privacy page over http": lambda m: m["developer"].update(privacyUrl="http://x.example"),
}
CARD_BREAKAGES: dict[str, Breakage] = {
    "a later version": lambda c: c.update(version="1.6"),
    "an element 1.5 does not have": lambda c: c["body"].append({"type": "Table", "rows": []}),
    "a property the element may not have": lambda c: c["body"][0].update(colour="red"),
    "an input without an id": lambda c: c["body"][1].pop("id"),
    "an input id used twice, once in a ShowCard": lambda c: c["actions"][1]["card"]["body"][
        0
    ].update(id="reason"),
    "a choice without its value": lambda c: c["body"][2]["choices"][0].pop("value"),
    "a weight that does not exist": lambda c: c["body"][0]["inlines"][0].update(weight="Heavy"),
    "an action 1.5 does not have": lambda c: c["actions"].append({"type": "Action.Http"}),
    "a TextRun without text": lambda c: c["body"][0]["inlines"][0].pop("text"),
    "a shown card that is no card": lambda c: c["actions"][1].update(card={"type": "Container"}),
}


@pytest.mark.parametrize("broken", SLACK_BREAKAGES)
def test_slack_manifest_rules_catch(broken: str) -> None:
    manifest = copy.deepcopy(_slack())
    SLACK_BREAKAGES[broken](manifest)
    assert slack_manifest_problems(manifest)


@pytest.mark.parametrize("broken", TEAMS_BREAKAGES)
def test_teams_manifest_rules_catch(broken: str) -> None:
    manifest = copy.deepcopy(_teams())
    TEAMS_BREAKAGES[broken](manifest)
    assert teams_manifest_problems(manifest)


@pytest.mark.parametrize("broken", CARD_BREAKAGES)
def test_card_rules_catch(broken: str) -> None:
    card = _card()
    CARD_BREAKAGES[broken](card)
    assert card_problems(card)
