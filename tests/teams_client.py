"""Plays the Teams client for tests: installs the app, types in the personal chat, and clicks
the buttons on the cards the bot sent, merging what the person typed into the action's data
as the Teams client does for Action.Execute. Also who is in Teams in the test school, what they
type into the draft and report forms, and the bot's settings when registered with the fake Bot
Connector."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from bot.settings import TeamsSettings
from tests.fakes.teams import (
    APP_ID,
    APP_PASSWORD,
    TENANT,
    FakeTeams,
    Sent,
    card_action,
    cards_in,
    dialog_invoke,
    install,
    message,
    validate_card,
)
from tests.harness import ALL_CONFIRMATIONS, Reply, RunningBot

Json = dict[str, Any]

TEACHER = "7b2a0c55-0000-4000-8000-00000000c0de"
SAM = "00000000-0000-0000-0000-00000000a001"  # network manager, in Slack and Teams


def registered(fake: FakeTeams, password: str = APP_PASSWORD) -> TeamsSettings:
    """Settings for a bot registered with the fake Bot Connector, so that every request must
    carry its signed token."""
    return TeamsSettings(
        app_id=APP_ID,
        app_password=password,
        tenant_id=TENANT,
        openid_metadata_url=fake.metadata_url,
        login_url=fake.root,
    )


def draft_inputs(
    text: str = "Year 4 won the county maths quiz today - well done everyone!",
    accounts: str = "Facebook,X",
    confirmed: tuple[str, ...] = ALL_CONFIRMATIONS,
) -> dict[str, Any]:
    """What a person types into the draft form's card; every item of the checklist not in
    `confirmed` is left unconfirmed."""
    values: dict[str, Any] = {"text": text, "accounts": accounts, "wished_date": ""}
    for name in ALL_CONFIRMATIONS:
        values[name] = "confirmed" if name in confirmed else "not_confirmed"
    return values


def report_inputs(**given: Any) -> dict[str, Any]:
    """What a person types into the report form's dialog: a pupil's friend request, unless
    `given` says otherwise."""
    inputs = {
        "kind": "pupil_request",
        "where": "Snapchat",
        "links": "https://snapchat.com/add/someone",
        "seen_on": "2026-11-20",
        "seen_at": "19:05",
        "details": "A pupil in my tutor group sent me a friend request.",
        "involved": "",
        "involved_text": "",
        "anonymously": "",
    }
    inputs.update(given)
    return inputs


def actions_of(card: Mapping[str, Any]) -> Iterator[Json]:
    """Every action on the card, those inside Action.ShowCard included."""
    for action in card.get("actions") or []:
        yield action
        if action.get("type") == "Action.ShowCard":
            yield from actions_of(action["card"])


def action_titled(card: Mapping[str, Any], title: str) -> Json:
    found = [a for a in actions_of(card) if a.get("title") == title and "verb" in a]
    assert found, f"no {title!r} button; there are {[a.get('title') for a in actions_of(card)]}"
    return found[-1]


def texts_of(card: Mapping[str, Any]) -> str:
    """All the text a person sees on the card (its actions aside), a block per line."""
    runs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "RichTextBlock":
                runs.append("".join(str(run["text"]) for run in node["inlines"]))
                return
            if node.get("type") == "TextBlock":
                runs.append(str(node["text"]))
            for key, value in node.items():
                if key != "actions":
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return "\n".join(runs)


class TeamsUser:
    def __init__(self, bot: RunningBot, fake: FakeTeams, aad: str, name: str) -> None:
        self.bot = bot
        self.fake = fake
        self.aad = aad
        self.name = name

    async def install(self, token: str | None = None) -> Reply:
        return await self.bot.teams(install(self.fake, self.aad, self.name), token)

    async def say(
        self, text: str, attachments: list[Json] | None = None, token: str | None = None
    ) -> Reply:
        return await self.bot.teams(
            message(self.fake, self.aad, text, self.name, attachments), token
        )

    @property
    def messages(self) -> list[Sent]:
        return self.fake.to(self.aad)

    def last_card(self) -> tuple[Sent, Json]:
        for sent in reversed(self.messages):
            cards = cards_in(sent.activity)
            if cards:
                return sent, cards[0]
        raise AssertionError(f"no card was sent to {self.name}")

    async def click(
        self,
        card: Mapping[str, Any],
        title: str,
        inputs: Mapping[str, Any] | None = None,
        reply_to: Sent | None = None,
        token: str | None = None,
    ) -> Json:
        action = action_titled(card, title)
        data = {**action.get("data", {}), **(inputs or {})}
        reply = await self.bot.teams(
            card_action(
                self.fake,
                self.aad,
                action["verb"],
                data,
                reply_to.activity_id if reply_to else None,
                self.name,
            ),
            token,
        )
        assert reply.status == 200, reply.text
        answer: Json = reply.json()
        if answer.get("type") == "application/vnd.microsoft.card.adaptive":
            validate_card(answer["value"])
        return answer

    async def open_dialog(self, card: Mapping[str, Any], title: str) -> Json:
        """Click a button that opens a dialog; the card the dialog shows."""
        (action,) = [
            a for a in actions_of(card) if a.get("title") == title and a["type"] == "Action.Submit"
        ]
        assert action["data"]["msteams"] == {"type": "task/fetch"}
        return await self._dialog(True, action["data"])

    async def submit_dialog(self, card: Mapping[str, Any], inputs: Mapping[str, Any]) -> Json:
        """Fill in and submit the form a dialog shows; the dialog's answer (a card, or the
        text it closes with)."""
        (submit,) = [a for a in card["actions"] if a["type"] == "Action.Submit"]
        return await self._dialog(False, {**submit["data"], **inputs})

    async def _dialog(self, fetch: bool, data: Mapping[str, Any]) -> Json:
        reply = await self.bot.teams(
            dialog_invoke(self.fake, self.aad, self.name, fetch, dict(data))
        )
        assert reply.status == 200, reply.text
        task: Json = reply.json()["task"]
        if task["type"] == "continue":
            card: Json = task["value"]["card"]["content"]
            validate_card(card)
            return card
        return {"closed": task["value"]}


async def card_for(user: TeamsUser, fake: FakeTeams, title: str) -> tuple[Sent, Json]:
    """The message that carried the newest card sent to `user` showing `title`, and that card;
    waits for one to arrive."""
    await fake.wait_for(
        lambda: any(title in texts_of(c) for c in user.fake.cards_to(user.aad)), what=title
    )
    for sent in reversed(user.messages):
        for card in cards_in(sent.activity):
            if title in texts_of(card):
                return sent, card
    raise AssertionError(title)
