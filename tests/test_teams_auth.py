"""Who may talk to /api/messages, and how the bot proves itself to the Bot Connector.

With an app id, every request carries the Bot Connector's signed token: a valid one is
accepted; a missing, malformed, forged, expired or misdirected one gets 401 and stores
nothing; when the signing keys cannot be fetched the answer is 503, never 500.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from bot.settings import SettingsError
from bot.store.models import Attachment, OutboxItem, Post, TeamsConversation, TeamsUpload
from tests.conftest import BotFactory
from tests.fakes.teams import FakeTeams, card_action, install
from tests.harness import RunningBot, eventually, sessions
from tests.teams_client import SAM, TEACHER, TeamsUser, draft_inputs, registered, texts_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
# A QuickTime film's first box: its size, "ftyp" and the brand "qt  ".
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  "


@pytest.fixture
async def secured(start_bot: BotFactory, fake_teams: FakeTeams) -> AsyncIterator[RunningBot]:
    yield await start_bot(teams=registered(fake_teams))


async def _nothing_stored(bot: RunningBot, fake: FakeTeams) -> None:
    assert await bot.count(TeamsConversation) == 0
    assert fake.sent == []


async def test_a_valid_token_is_accepted_and_the_bot_answers_with_its_own_token(
    secured: RunningBot, fake_teams: FakeTeams
) -> None:
    reply = await secured.teams(install(fake_teams, TEACHER), fake_teams.token())
    assert reply.status == 200
    await fake_teams.wait_for(lambda: bool(fake_teams.sent), what="the welcome")
    assert fake_teams.expects_token(fake_teams.sent[0].authorization)
    assert await secured.count(TeamsConversation) == 1


@pytest.mark.parametrize(
    ("case", "header"),
    [
        ("missing", None),
        ("not bearer", "Basic dXNlcjpwYXNz"),
        ("malformed", "Bearer not.a.jwt"),
        ("garbage", "Bearer abc"),
    ],
)
async def test_a_request_without_a_usable_token_gets_401(
    secured: RunningBot, fake_teams: FakeTeams, case: str, header: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if header:
        headers["Authorization"] = header
    body = json.dumps(install(fake_teams, TEACHER)).encode()
    reply = await secured.post_raw("/api/messages", body, headers)
    assert reply.status == 401, case
    await _nothing_stored(secured, fake_teams)


def _forged(fake: FakeTeams) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return fake.token(key=other)


@pytest.mark.parametrize(
    ("case", "token"),
    [
        ("forged", _forged),
        ("expired", lambda f: f.token(expires_in=-600)),
        ("another bot's", lambda f: f.token(audience="11111111-2222-3333-4444-555555555555")),
        ("another issuer", lambda f: f.token(issuer="https://sts.windows.net/evil/")),
        ("another service", lambda f: f.token(service_url="https://evil.example/")),
        ("unknown key", lambda f: f.token(key_id="not-a-key")),
        ("no serviceUrl vouched for", lambda f: f.token(vouch_for_service_url=False)),
    ],
)
async def test_a_bad_token_gets_401_and_stores_nothing(
    secured: RunningBot, fake_teams: FakeTeams, case: str, token: Any
) -> None:
    reply = await secured.teams(install(fake_teams, TEACHER), token(fake_teams))
    assert reply.status == 401, case
    await _nothing_stored(secured, fake_teams)


async def test_when_the_signing_keys_cannot_be_fetched_the_answer_is_503(
    secured: RunningBot, fake_teams: FakeTeams
) -> None:
    fake_teams.key_faults = 10
    reply = await secured.teams(install(fake_teams, TEACHER), fake_teams.token())
    assert reply.status == 503
    await _nothing_stored(secured, fake_teams)
    # Nor is every request a fetch: the failure is remembered for a moment.
    fetches = fake_teams.metadata_fetches
    for _ in range(5):
        reply = await secured.teams(install(fake_teams, TEACHER), fake_teams.token(key_id="k9"))
        assert reply.status == 503
    assert fake_teams.metadata_fetches == fetches
    fake_teams.key_faults = 0

    # Keys are looked for again a little later (not on every request): then it works.
    async def accepted() -> bool:
        reply = await secured.teams(install(fake_teams, TEACHER), fake_teams.token())
        assert reply.status in (200, 503)
        return reply.status == 200

    await eventually(accepted, what="the keys fetched again")


async def test_a_bad_body_gets_400_not_500(secured: RunningBot, fake_teams: FakeTeams) -> None:
    for body in (b"{", b"[]", b'{"type": "message"}'):
        reply = await secured.post_raw("/api/messages", body, {"Content-Type": "application/json"})
        assert reply.status == 400
    reply = await secured.post_raw("/api/messages", b"x", {"Content-Type": "text/plain"})
    assert reply.status == 415


async def test_photos_sent_with_post_go_on_the_draft_and_beneath_the_approvers_card(
    secured: RunningBot, fake_teams: FakeTeams
) -> None:
    token = fake_teams.token()
    sam = TeamsUser(secured, fake_teams, SAM, "Sam Network")
    teacher = TeamsUser(secured, fake_teams, TEACHER, "Robin Teacher")
    await sam.install(token)
    await teacher.install(token)
    pasted = fake_teams.add_file("pasted", PNG, inline=True)
    shared = fake_teams.add_file("sports-day.mov", MOV + b"\x00" * 4096)
    attachments = [
        {"contentType": "image/png", "contentUrl": pasted},
        {
            "contentType": "application/vnd.microsoft.teams.file.download.info",
            "name": "sports-day.mov",
            "content": {"downloadUrl": shared, "uniqueId": "u-1", "fileType": "mov"},
        },
        {"contentType": "text/html", "content": "<p>post</p>"},
    ]
    await teacher.say("post", attachments, token)
    sent, form = teacher.last_card()
    assert "photo-1.png, sports-day.mov (sent with your message)" in texts_of(form)
    answer = await teacher.click(
        form, "Send for approval", draft_inputs(), reply_to=sent, token=token
    )
    assert "sent for approval" in texts_of(answer["value"])

    async def both_kept() -> bool:
        rows = await secured.rows(Attachment)
        return len(rows) == 2 and all(r.status == "kept" for r in rows)

    await eventually(both_kept, what="both files kept")
    # The bot's token went to the Bot Connector's own address, never to the file's host.
    assert fake_teams.expects_token(fake_teams.file_authorizations["pasted"])
    assert fake_teams.file_authorizations["sports-day.mov"] is None
    await fake_teams.wait_for(lambda: len(sam.messages) >= 4, what="card and both files")
    # Beneath the card (in whichever order they finish): the photo itself, and the film named.
    beneath = [s.activity for s in sam.messages[2:]]
    (photo,) = [b for b in beneath if b.get("attachments")]
    assert photo["attachments"][0]["contentUrl"].startswith("data:image/png;base64,")
    (named,) = [b for b in beneath if "sports-day.mov" in b.get("text", "")]
    assert "ask the submitter" in named["text"]
    assert await secured.count(Post) == 1


async def test_a_client_secret_entra_id_refuses_stops_start_up(
    start_bot: BotFactory, fake_teams: FakeTeams
) -> None:
    # The bot could send nothing: said at start-up, as a refused Slack token is.
    with pytest.raises(SettingsError, match=r"MICROSOFT_APP_PASSWORD .*invalid_client"):
        await start_bot(teams=registered(fake_teams, password="wrong"))


async def test_refused_app_credentials_keep_messages_waiting(
    start_bot: BotFactory, fake_teams: FakeTeams
) -> None:
    bot = await start_bot(teams=registered(fake_teams))
    # The secret is revoked (or expires) while the bot runs.
    fake_teams.app_password = "rotated"
    reply = await bot.teams(install(fake_teams, TEACHER), fake_teams.token())
    assert reply.status == 200  # the install is kept; the welcome waits in the outbox
    assert await bot.count(TeamsConversation) == 1
    assert fake_teams.sent == []

    async def waits_naming_the_settings() -> bool:
        rows = await bot.rows(OutboxItem)
        return any(
            r.status == "pending" and "MICROSOFT_APP_PASSWORD" in (r.last_error or "") for r in rows
        )

    await eventually(waits_naming_the_settings, what="the welcome waiting")


@pytest.mark.parametrize(
    ("case", "change"),
    [
        ("another tenant", lambda a: a["channelData"].update(tenant={"id": "other-tenant"})),
        ("no tenant", lambda a: a.pop("channelData")),
        ("another channel", lambda a: a.update(channelId="webchat")),
    ],
)
async def test_only_the_schools_own_teams_is_served(
    secured: RunningBot, fake_teams: FakeTeams, case: str, change: Any
) -> None:
    activity = install(fake_teams, TEACHER)
    activity["conversation"].pop("tenantId")
    change(activity)
    reply = await secured.teams(activity, fake_teams.token())
    # Another channel fails already at the key, which is endorsed for msteams only.
    assert reply.status in ((401, 403) if case == "another channel" else (403,)), case
    await _nothing_stored(secured, fake_teams)


async def test_file_addresses_come_from_teams_never_from_the_card(
    secured: RunningBot, fake_teams: FakeTeams
) -> None:
    token = fake_teams.token()
    teacher = TeamsUser(secured, fake_teams, TEACHER, "Robin Teacher")
    await teacher.install(token)
    await teacher.say("post", token=token)
    sent, form = teacher.last_card()
    # A changed client adds a file of its choosing to the submission: it is not fetched.
    planted = fake_teams.add_file("internal-admin", b"secret", inline=True)
    inputs = {**draft_inputs(), "sd_files": [{"url": planted, "name": "x.png"}]}
    answer = await teacher.click(form, "Send for approval", inputs, reply_to=sent, token=token)
    assert "sent for approval" in texts_of(answer["value"])
    assert await secured.count(Attachment) == 0
    assert "internal-admin" not in fake_teams.file_authorizations


async def test_a_file_waits_while_the_bots_credentials_are_refused(
    start_bot: BotFactory, fake_teams: FakeTeams
) -> None:
    # The form is filled in while the credentials still worked; then the secret is revoked.
    bot = await start_bot(teams=registered(fake_teams))
    fake_teams.app_password = "rotated"
    token = fake_teams.token()
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    pasted = fake_teams.add_file("pasted", PNG, inline=True)
    await teacher.say("post", [{"contentType": "image/png", "contentUrl": pasted}], token)

    async def form_queued() -> bool:
        return any(r.kind == "message" for r in await bot.rows(OutboxItem))

    await eventually(form_queued, what="the form waiting in the outbox")
    data = {
        "sd_form": "post.draft",
        "sd_context": "",
        "sd_form_key": await _only_form_key(bot),
        "sd_files_kept": True,
        **draft_inputs(),
    }
    reply = await bot.teams(card_action(fake_teams, TEACHER, "socialdesk.form", data), token)
    assert "sent for approval" in reply.text

    async def fetch_waits() -> bool:
        rows = [r for r in await bot.rows(OutboxItem) if r.kind == "fetch"]
        return bool(rows) and rows[0].status == "pending" and rows[0].attempts > 0

    await eventually(fetch_waits, what="the fetch waiting")
    (photo,) = await bot.rows(Attachment)
    assert photo.status == "pending"


async def _only_form_key(bot: RunningBot) -> str:
    async with sessions(bot.runtime.engine)() as session:
        (key,) = await session.scalars(select(TeamsUpload.form_key))
    return str(key)
