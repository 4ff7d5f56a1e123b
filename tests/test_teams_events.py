"""Every activity Teams may send the bot gets the answer the Bot Framework expects (200, or the
invoke status it documents) and changes nothing it should not.

The activities are shaped as Microsoft documents them ("Conversation events in your Teams bot",
"Universal Actions for Adaptive Cards"): users are `29:…`, the bot `28:…` (its app id),
personal chats `a:…`, channels `19:…@thread.tacv2`, group chats `19:…@thread.v2`; the tenant
is in channelData.tenant.id, the kind of event in channelData.eventType, and the service URL is
the Bot Connector's (https://smba.trafficmanager.net/emea/).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select

from bot.store.models import Attachment, OutboxItem, Post, TeamsConversation, TeamsUpload
from tests.conftest import BotFactory
from tests.fakes.teams import APP_ID, TENANT, FakeTeams, card_action, install, message
from tests.harness import RunningBot, sessions
from tests.teams_client import TEACHER, TeamsUser, registered, texts_of

Json = dict[str, Any]
BOT = {"id": f"28:{APP_ID}", "name": "socialdesk"}
TEAM = "19:b1a8c3f0e2d94c7a9f0e1d2c3b4a5968@thread.tacv2"
CHANNEL = "19:5e7d0c1a2b3c4d5e6f708192a3b4c5d6@thread.tacv2"
GROUP_CHAT = "19:meeting_6d1f2e3a4b5c4d6e8f90a1b2c3d4e5f6@thread.v2"
COLLEAGUE = "b7c2d1e0-4f3a-4b5c-9d8e-7f6a5b4c3d2e"


@pytest.fixture
async def secured(start_bot: BotFactory, fake_teams: FakeTeams) -> AsyncIterator[RunningBot]:
    yield await start_bot(teams=registered(fake_teams))


def user(aad: str, name: str = "A Teacher") -> Json:
    return {"id": f"29:1{aad.replace('-', '')}", "name": name, "aadObjectId": aad}


def activity(fake: FakeTeams, kind: str, conversation: Json, **fields: Any) -> Json:
    """An activity from Teams, by a person, in `conversation`."""
    channel_data = {"tenant": {"id": TENANT}, **fields.pop("channelData", {})}
    return {
        "type": kind,
        "id": f"1:{uuid.uuid4().hex}",
        "timestamp": "2026-11-28T10:00:00.000Z",
        "localTimestamp": "2026-11-28T10:00:00.000+00:00",
        "channelId": "msteams",
        "serviceUrl": fake.service_url,
        "from": fields.pop("from", user(TEACHER)),
        "conversation": {"tenantId": TENANT, **conversation},
        "recipient": BOT,
        "channelData": channel_data,
        "locale": "en-GB",
        **fields,
    }


def personal(fake: FakeTeams) -> Json:
    return {"conversationType": "personal", "id": fake.conversation_of(TEACHER)}


def in_channel() -> Json:
    return {"isGroup": True, "conversationType": "channel", "id": CHANNEL, "name": "Staffroom"}


def team_data(event: str, **extra: Any) -> Json:
    return {
        "eventType": event,
        "team": {"id": TEAM, "name": "Oakgreen Staff", "aadGroupId": str(uuid.uuid4())},
        **extra,
    }


def channel_event(event: str) -> Callable[[FakeTeams], Json]:
    def make(fake: FakeTeams) -> Json:
        return activity(
            fake,
            "conversationUpdate",
            in_channel(),
            channelData=team_data(event, channel={"id": CHANNEL, "name": "Staffroom"}),
        )

    return make


def team_event(event: str) -> Callable[[FakeTeams], Json]:
    def make(fake: FakeTeams) -> Json:
        return activity(fake, "conversationUpdate", in_channel(), channelData=team_data(event))

    return make


def members(kind: str, where: str) -> Callable[[FakeTeams], Json]:
    def make(fake: FakeTeams) -> Json:
        added = [user(COLLEAGUE, "A Colleague")]
        if where == "personal":
            return activity(fake, "conversationUpdate", personal(fake), **{kind: [*added, BOT]})
        if where == "group chat":
            conversation = {"isGroup": True, "conversationType": "groupChat", "id": GROUP_CHAT}
            return activity(fake, "conversationUpdate", conversation, **{kind: added})
        event = "teamMemberAdded" if kind == "membersAdded" else "teamMemberRemoved"
        return activity(
            fake, "conversationUpdate", in_channel(), channelData=team_data(event), **{kind: added}
        )

    return make


def installation(action: str, where: str = "personal") -> Callable[[FakeTeams], Json]:
    def make(fake: FakeTeams) -> Json:
        if where == "personal":
            return activity(fake, "installationUpdate", personal(fake), action=action)
        return activity(
            fake,
            "installationUpdate",
            in_channel(),
            action=action,
            channelData=team_data("", source={"name": "message"}),
        )

    return make


def reaction(kind: str) -> Callable[[FakeTeams], Json]:
    def make(fake: FakeTeams) -> Json:
        return activity(
            fake,
            "messageReaction",
            personal(fake),
            replyToId="1:1",
            **{kind: [{"type": "like"}]},
        )

    return make


def in_personal(kind: str, **fields: Any) -> Callable[[FakeTeams], Json]:
    def make(fake: FakeTeams) -> Json:
        return activity(fake, kind, personal(fake), **fields)

    return make


# What Teams sends that socialdesk has nothing to do with: each answered 200, nothing sent.
QUIET = {
    "a colleague added to a personal chat": members("membersAdded", "personal"),
    "a colleague added to a team the app is in": members("membersAdded", "team"),
    "a colleague added to a group chat": members("membersAdded", "group chat"),
    "a colleague removed from a team": members("membersRemoved", "team"),
    "a colleague removed from a group chat": members("membersRemoved", "group chat"),
    "channelCreated": channel_event("channelCreated"),
    "channelRenamed": channel_event("channelRenamed"),
    "channelDeleted": channel_event("channelDeleted"),
    "channelRestored": channel_event("channelRestored"),
    "teamRenamed": team_event("teamRenamed"),
    "teamArchived": team_event("teamArchived"),
    "teamUnarchived": team_event("teamUnarchived"),
    "teamDeleted": team_event("teamDeleted"),
    "teamHardDeleted": team_event("teamHardDeleted"),
    "teamRestored": team_event("teamRestored"),
    "the app upgraded (add-upgrade)": installation("add-upgrade"),
    "the app added to a team": installation("add", where="team"),
    "the app removed from a team": installation("remove", where="team"),
    "a reaction added": reaction("reactionsAdded"),
    "a reaction removed": reaction("reactionsRemoved"),
    "typing": in_personal("typing"),
    "a message edited": in_personal(
        "messageUpdate", text="edited", channelData={"eventType": "editMessage"}
    ),
    "a message undeleted": in_personal(
        "messageUpdate", text="back", channelData={"eventType": "undeleteMessage"}
    ),
    "a message deleted": in_personal(
        "messageDelete", channelData={"eventType": "softDeleteMessage"}
    ),
    "a read receipt": in_personal(
        "event",
        name="application/vnd.microsoft.readReceipt",
        value={"lastReadMessageId": "1700000000000"},
    ),
    "a meeting started": in_personal(
        "event",
        name="application/vnd.microsoft.meetingStart",
        value={
            "Id": "MCMxOTptZWV0aW5n",
            "MeetingType": "Scheduled",
            "JoinUrl": "https://teams.microsoft.com/l/meetup-join/x",
            "Title": "Staff briefing",
            "StartTime": "2026-11-28T10:00:00.000Z",
        },
    ),
    "an event of a kind not known": in_personal("event", name="com.contoso.unknown", value={}),
}


async def _conversations(bot: RunningBot) -> list[TeamsConversation]:
    async with sessions(bot.runtime.engine)() as session:
        return list(await session.scalars(select(TeamsConversation)))


async def _state(bot: RunningBot) -> tuple[Any, ...]:
    conversations = sorted(
        (c.aad_object_id, c.conversation_id, c.service_url, c.unreachable_since is not None)
        for c in await _conversations(bot)
    )
    return (
        conversations,
        await bot.count(OutboxItem),
        await bot.count(Post),
        await bot.count(Attachment),
        await bot.count(TeamsUpload),
    )


async def _installed(bot: RunningBot, fake: FakeTeams) -> TeamsUser:
    teacher = TeamsUser(bot, fake, TEACHER, "A Teacher")
    assert (await teacher.install(fake.token())).status == 200
    await fake.wait_for(lambda: len(fake.sent) == 1, what="the welcome")
    return teacher


@pytest.mark.parametrize("case", list(QUIET))
async def test_events_the_bot_has_no_part_in_get_200_and_change_nothing(
    secured: RunningBot, fake_teams: FakeTeams, case: str
) -> None:
    await _installed(secured, fake_teams)
    before = await _state(secured)
    reply = await secured.teams(QUIET[case](fake_teams), fake_teams.token())
    assert reply.status == 200, f"{case}: {reply.status} {reply.text}"
    assert await _state(secured) == before, case
    assert len(fake_teams.sent) == 1, case  # the welcome only


async def test_a_personal_install_announced_with_members_added_is_remembered_without_a_welcome(
    secured: RunningBot, fake_teams: FakeTeams
) -> None:
    # Teams adds the bot to the chat (conversationUpdate) as well as announcing the install;
    # the conversation update alone makes the person reachable, and sends nothing.
    update = activity(
        fake_teams, "conversationUpdate", personal(fake_teams), membersAdded=[BOT, user(TEACHER)]
    )
    reply = await secured.teams(update, fake_teams.token())
    assert reply.status == 200, reply.text
    (kept,) = await _conversations(secured)
    assert (kept.aad_object_id, kept.conversation_id) == (
        TEACHER,
        fake_teams.conversation_of(TEACHER),
    )
    assert kept.service_url == "https://smba.trafficmanager.net/emea/"
    assert fake_teams.sent == []


async def test_an_install_in_a_team_says_nothing_in_its_channel(
    secured: RunningBot, fake_teams: FakeTeams
) -> None:
    reply = await secured.teams(installation("add", where="team")(fake_teams), fake_teams.token())
    assert reply.status == 200, reply.text
    assert fake_teams.sent == []
    assert await secured.count(TeamsConversation) == 0


@pytest.mark.parametrize("action", ["remove", "remove-upgrade"])
async def test_removing_the_app_makes_the_person_unreachable_until_they_add_it_again(
    secured: RunningBot, fake_teams: FakeTeams, action: str
) -> None:
    teacher = await _installed(secured, fake_teams)
    reply = await secured.teams(installation(action)(fake_teams), fake_teams.token())
    assert reply.status == 200, reply.text
    (kept,) = await _conversations(secured)
    assert kept.unreachable_since is not None
    assert len(fake_teams.sent) == 1
    assert (await teacher.install(fake_teams.token())).status == 200
    (kept,) = await _conversations(secured)
    assert kept.unreachable_since is None


@pytest.mark.parametrize(
    "name",
    [
        "composeExtension/query",
        "composeExtension/fetchTask",
        "config/fetch",
        "tab/fetch",
        "fileConsent/invoke",
        "actionableMessage/executeAction",
        "com.contoso.unknown",
    ],
)
async def test_an_invoke_the_bot_does_not_handle_gets_501(
    secured: RunningBot, fake_teams: FakeTeams, name: str
) -> None:
    await _installed(secured, fake_teams)
    before = await _state(secured)
    value: Json = {"commandId": "x", "parameters": [], "queryOptions": {"skip": 0, "count": 25}}
    if name == "fileConsent/invoke":
        value = {
            "type": "fileUpload",
            "action": "accept",
            "context": {"filename": "draft.docx"},
            "uploadInfo": {
                "name": "draft.docx",
                "uploadUrl": "https://contoso-my.sharepoint.com/personal/upload",
                "contentUrl": "https://contoso-my.sharepoint.com/personal/draft.docx",
                "uniqueId": "1150D938-8870-4044-9F2C-5BBDEBA70C9D",
                "fileType": "docx",
            },
        }
    invoke = activity(fake_teams, "invoke", personal(fake_teams), name=name, value=value)
    reply = await secured.teams(invoke, fake_teams.token())
    # As botbuilder answers an invoke no handler takes: 501 Not Implemented.
    assert reply.status == 501, f"{name}: {reply.status} {reply.text}"
    assert await _state(secured) == before
    assert len(fake_teams.sent) == 1


async def test_a_button_of_a_kind_the_bot_does_not_know_changes_nothing(
    secured: RunningBot, fake_teams: FakeTeams
) -> None:
    await _installed(secured, fake_teams)
    before = await _state(secured)
    for verb, data in (("socialdesk.retired", {"sd_value": "post:1:1"}), ("", {})):
        click = card_action(fake_teams, TEACHER, verb, data, reply_to_id="1:1")
        reply = await secured.teams(click, fake_teams.token())
        assert reply.status == 200, reply.text
        answer = reply.json()
        # A message response (Universal Actions): the card stays, the clicker is told why.
        assert answer["statusCode"] == 200
        assert answer["type"] == "application/vnd.microsoft.activity.message"
        assert "no longer in use" in answer["value"]
    assert await _state(secured) == before
    assert len(fake_teams.sent) == 1


@pytest.mark.parametrize(
    ("case", "value"),
    [
        ("no value", None),
        ("no action", {"trigger": "manual"}),
        ("an action that is not Action.Execute", {"action": {"type": "Action.Submit"}}),
        ("a value that is not an object", "socialdesk.post.approve"),
    ],
)
async def test_a_malformed_card_action_gets_the_universal_actions_error_response(
    secured: RunningBot, fake_teams: FakeTeams, case: str, value: Any
) -> None:
    await _installed(secured, fake_teams)
    before = await _state(secured)
    click = card_action(fake_teams, TEACHER, "socialdesk.form", {})
    if value is None:
        click.pop("value")
    else:
        click["value"] = value
    reply = await secured.teams(click, fake_teams.token())
    assert reply.status == 400, f"{case}: {reply.status} {reply.text}"
    answer = reply.json()
    assert answer["statusCode"] == 400
    assert answer["type"] == "application/vnd.microsoft.error"
    assert answer["value"]["code"] == "BadRequest"
    assert answer["value"]["message"]
    assert await _state(secured) == before


async def test_a_message_in_a_team_channel_is_answered_with_where_the_bot_works(
    secured: RunningBot, fake_teams: FakeTeams
) -> None:
    said = message(fake_teams, TEACHER, "<at>socialdesk</at> post")
    said["conversation"] = {"tenantId": TENANT, **in_channel()}
    said["channelData"] = {
        "tenant": {"id": TENANT},
        "team": {"id": TEAM},
        "channel": {"id": CHANNEL},
    }
    said["entities"] = [
        {"type": "mention", "mentioned": BOT, "text": "<at>socialdesk</at>"},
    ]
    reply = await secured.teams(said, fake_teams.token())
    assert reply.status == 200, reply.text
    (answer,) = fake_teams.sent
    assert answer.conversation_id == CHANNEL
    assert "personal chat" in texts_of(answer.activity["attachments"][0]["content"])
    assert await secured.count(TeamsConversation) == 0
    assert await secured.count(TeamsUpload) == 0


def test_the_ids_are_those_teams_uses(fake_teams: FakeTeams) -> None:
    made = install(fake_teams, TEACHER)
    assert made["from"]["id"].startswith("29:") and made["recipient"]["id"].startswith("28:")
    assert made["conversation"]["id"].startswith("a:")


async def test_an_activity_without_a_recipient_is_refused_not_failed(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    """Every activity names the bot it is for; one that does not is malformed (400)."""
    activity = message(fake_teams, TEACHER, "hello")
    del activity["recipient"]
    reply = await bot.teams(activity)
    assert reply.status == 400 and "recipient" in reply.text


@pytest.mark.parametrize("name", ["Robin \\ud800Teacher", "Robin\\u0000 Teacher"])
async def test_a_display_name_no_database_can_hold_is_cleaned(
    bot: RunningBot, fake_teams: FakeTeams, name: str
) -> None:
    """A lone surrogate or a NUL in the name Teams sends would fail every write of where the
    person is reached, for good: the name is kept without them."""
    raw = json.dumps(message(fake_teams, TEACHER, "help", name="NAME")).replace("NAME", name)
    reply = await bot.teams({}, raw=raw.encode())
    assert reply.status == 200
    async with sessions(bot.runtime.engine)() as session:
        (kept,) = list(await session.scalars(select(TeamsConversation)))
    assert kept.name == "Robin Teacher"
