"""The draft-post workflow in Teams, driven over HTTP as the Bot Connector would."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.settings import TeamsSettings
from bot.store.models import Post, TeamsConversation
from bot.teams.edge import is_loopback
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import TENANT, FakeTeams, inputs_of, install, message
from tests.harness import ALL_CONFIRMATIONS, RunningBot, heading, sessions
from tests.teams_client import SAM, TEACHER, TeamsUser, draft_inputs, texts_of


async def test_installing_greets_and_keeps_where_to_reach_the_person(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    reply = await teacher.install()
    assert reply.status == 200
    _, card = teacher.last_card()
    assert "Welcome" in card["fallbackText"]
    assert "post - draft a post" in texts_of(card)
    async with sessions(bot.runtime.engine)() as session:
        (kept,) = await session.scalars(select(TeamsConversation))
    assert kept.aad_object_id == TEACHER
    assert kept.tenant_id == TENANT  # botbuilder's own reference would have dropped it
    assert kept.conversation_id == fake_teams.conversation_of(TEACHER)
    assert kept.service_url == fake_teams.service_url


async def test_post_opens_the_draft_form_and_a_complete_draft_goes_for_approval(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.say("post")
    sent, form = teacher.last_card()
    ids = {i["id"] for i in inputs_of(form)}
    assert {"text", "accounts", "wished_date", *ALL_CONFIRMATIONS} <= ids

    answer = await teacher.click(form, "Send for approval", draft_inputs(), reply_to=sent)
    assert "sent for approval" in texts_of(answer["value"])
    assert await bot.count(Post) == 1
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to("U0NETMGR")), what="card")


async def _draft_from_teams(
    bot: RunningBot, fake_teams: FakeTeams, teacher: TeamsUser, **inputs: Any
) -> dict[str, Any]:
    await teacher.say("post")
    sent, form = teacher.last_card()
    return await teacher.click(form, "Send for approval", draft_inputs(**inputs), reply_to=sent)


async def test_an_approver_in_teams_decides_and_every_copy_updates(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    await sam.install()
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.install()
    await _draft_from_teams(bot, fake_teams, teacher)

    # Sam has the bot in Teams and Slack: the card reaches him in both; Nia has Slack only.
    await fake_teams.wait_for(lambda: len(sam.messages) == 2, what="Sam's Teams card")
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to("U0NETDEP")), what="Nia's card")
    sent, card = sam.last_card()
    shown = texts_of(card)
    assert "Draft post P-0001 for approval" in shown
    assert "Submitted by: Robin Teacher" in shown  # the name Teams gave, shown, not trusted

    answer = await sam.click(card, "Approve", reply_to=sent)
    updated = texts_of(answer["value"])
    assert "Approved by Sam Network" in updated
    assert "Approve" not in [a.get("title") for a in answer["value"].get("actions", [])]

    # Nia's Slack copy shows the outcome; the teacher hears in Teams.
    await fake_slack.wait_for(
        lambda: any(
            "Approved by" in str(c["blocks"]) for c in fake_slack.cards_of("U0NETDEP").values()
        ),
        what="Nia's card updated",
    )
    await fake_teams.wait_for(
        lambda: any(
            "approved" in (s.activity.get("summary") or "").lower() for s in teacher.messages
        ),
        what="the teacher told",
    )


async def test_a_refused_draft_comes_back_in_its_form_with_the_reasons_and_nothing_is_saved(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.say("post")
    sent, form = teacher.last_card()
    answer = await teacher.click(
        form,
        "Send for approval",
        draft_inputs(text="x" * 300, accounts="X", confirmed=ALL_CONFIRMATIONS[:-1]),
        reply_to=sent,
    )
    shown = answer["value"]
    text = texts_of(shown)
    assert "280" in text  # X's limit, as on Slack
    assert "positive" in text.lower()  # the unticked confirmation is named
    # What was typed is still there, and the same form submitted again is the same draft.
    (typed,) = [i for i in inputs_of(shown) if i["id"] == "text"]
    assert typed["value"] == "x" * 300
    assert await bot.count(Post) == 0

    fixed = await teacher.click(shown, "Send for approval", draft_inputs(), reply_to=sent)
    assert "sent for approval" in texts_of(fixed["value"])
    again = await teacher.click(shown, "Send for approval", draft_inputs(), reply_to=sent)
    assert again["type"] == "application/vnd.microsoft.activity.message"
    assert "already reached socialdesk" in again["value"]
    assert await bot.count(Post) == 1


async def test_help_and_other_words(bot: RunningBot, fake_teams: FakeTeams) -> None:
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.say("help")
    _, card = teacher.last_card()
    shown = texts_of(card)
    for command in ("post - ", "report - ", "policy <your question> - ", "help - "):
        assert command in shown
    assert "/post" not in shown
    await teacher.say("report")
    _, menu = teacher.last_card()
    assert "phone the DSL now" in texts_of(menu)
    # The report form opens in a dialog, so nothing of a report stays in the chat.
    assert [a["type"] for a in menu["actions"]] == ["Action.Submit", "Action.Submit"]
    # Any other words are a policy question.
    await teacher.say("Can I accept a friend request from a former pupil?")
    assert heading("Personal Use of Social Media") in texts_of(teacher.last_card()[1])


async def test_the_bot_framework_emulator_works_in_local_mode(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    # The Emulator has no Entra ID and announces the bot by adding it to the conversation.
    activity = {
        "type": "conversationUpdate",
        "id": "emu-1",
        "channelId": "emulator",
        "serviceUrl": fake_teams.service_url,
        "from": {"id": "emulator-user-1", "name": "User"},
        "recipient": {"id": "bot-1", "name": "Bot"},
        "conversation": {"id": fake_teams.conversation_of("emulator-user-1")},
        "membersAdded": [{"id": "bot-1"}, {"id": "emulator-user-1"}],
    }
    assert (await bot.teams(activity)).status == 200
    await fake_teams.wait_for(lambda: bool(fake_teams.to("emulator-user-1")), what="welcome")
    user = TeamsUser(bot, fake_teams, "emulator-user-1", "User")
    assert "Welcome" in user.last_card()[1]["fallbackText"]


async def test_local_mode_takes_nothing_from_or_for_another_machine(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    activity = message(fake_teams, TEACHER, "help")
    activity["serviceUrl"] = "https://smba.trafficmanager.net/emea/"
    reply = await bot.teams(activity)
    assert reply.status == 403
    assert await bot.count(TeamsConversation) == 0
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("10.0.0.5") and not is_loopback(None)


async def test_local_mode_refuses_what_a_proxy_passes_on(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    # A reverse proxy on this machine would make any caller look local.
    body = json.dumps(message(fake_teams, TEACHER, "help")).encode()
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        reply = await bot.post_raw(
            "/api/messages", body, {"Content-Type": "application/json", header: "203.0.113.9"}
        )
        assert reply.status == 403, header
    assert await bot.count(TeamsConversation) == 0
    assert is_loopback("::ffff:127.0.0.1") and is_loopback("LOCALHOST")


async def test_beside_slack_without_a_registration_teams_is_off(
    start_bot: BotFactory, fake_teams: FakeTeams
) -> None:
    bot = await start_bot(teams=TeamsSettings(local_allowed=False))
    reply = await bot.teams(message(fake_teams, TEACHER, "help"))
    assert reply.status == 404
    assert "MICROSOFT_APP_ID" in reply.text
    assert (await bot.get("/healthz")).json()["teams"] == "off"
    assert fake_teams.sent == []


async def test_a_form_whose_photos_are_no_longer_held_sends_nothing(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.say("post")
    sent, form = teacher.last_card()
    inputs = {**draft_inputs(), "sd_files_kept": True}
    answer = await teacher.click(form, "Send for approval", inputs, reply_to=sent)
    assert answer["type"] == "application/vnd.microsoft.activity.message"
    assert "send them again" in answer["value"]
    assert await bot.count(Post) == 0


async def test_an_upgrade_is_not_welcomed_again(bot: RunningBot, fake_teams: FakeTeams) -> None:
    await bot.teams(install(fake_teams, TEACHER))
    await bot.teams(install(fake_teams, TEACHER, action="add-upgrade"))
    welcomes = [s for s in fake_teams.to(TEACHER) if "Welcome" in str(s.activity)]
    assert len(welcomes) == 1
