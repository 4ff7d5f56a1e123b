"""The draft-post workflow on Slack, end to end over HTTP against the fake Slack Web API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import make_url

from bot.settings import SettingsError
from bot.store.db import head_revision
from bot.store.models import Attachment, AuditEvent, Card, OutboxItem, Post, PostVersion
from tests.conftest import as_admin, postgres_url
from tests.fakes.slack import FakeSlack, Fault
from tests.harness import (
    ALL_CONFIRMATIONS,
    FIXTURES,
    RunningBot,
    direct_message_event,
    draft_payload,
    event_callback,
    eventually,
    slack_file,
)

TEACHER = "U0TEACH"
NETWORK_MANAGERS = ("U0NETMGR", "U0NETDEP")
CO_HEADS = ("U0COHEAD1", "U0COHEAD2")


async def nothing_stored(bot: RunningBot) -> None:
    for model in (Post, PostVersion, Attachment, AuditEvent, OutboxItem):
        assert await bot.count(model) == 0, model.__name__


async def _count_is(bot: RunningBot, model: Any, expected: int) -> bool:
    return await bot.count(model) == expected


def all_text(call_args: dict[str, Any]) -> str:
    return json.dumps(call_args)


async def test_post_command_opens_the_draft_form(bot: RunningBot, fake_slack: FakeSlack) -> None:
    reply = await bot.command("/post", TEACHER)
    assert reply.status == 200
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("views.open")), what="views.open")
    (call,) = fake_slack.calls_to("views.open")
    view = (
        json.loads(call.args["view"]) if isinstance(call.args["view"], str) else call.args["view"]
    )
    assert view["callback_id"] == "post.draft"
    block_ids = [b.get("block_id") for b in view["blocks"] if b["type"] == "input"]
    assert block_ids[:4] == ["text", "accounts", "attachments", "wished_date"]
    assert block_ids[4:] == list(ALL_CONFIRMATIONS)
    accounts = next(b for b in view["blocks"] if b.get("block_id") == "accounts")
    assert [o["value"] for o in accounts["element"]["options"]] == [
        "Facebook",
        "Instagram",
        "X",
        "LinkedIn",
        "School website",
    ]
    assert call.args["trigger_id"].startswith(f"trigger-{TEACHER}")
    assert fake_slack.invalid == []


async def test_a_complete_draft_reaches_every_network_manager(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    reply = await bot.submit(draft_payload(TEACHER))
    assert reply.status == 200
    answer = reply.json()
    assert answer["response_action"] == "update"
    assert "P-0001" in json.dumps(answer["view"])

    await fake_slack.wait_for(
        lambda: all(fake_slack.messages_to(u) for u in (*NETWORK_MANAGERS, TEACHER)),
        what="approval cards and the receipt",
    )
    for manager in NETWORK_MANAGERS:
        (card,) = fake_slack.messages_to(manager)
        blocks = (
            json.loads(card.args["blocks"])
            if isinstance(card.args["blocks"], str)
            else card.args["blocks"]
        )
        actions = next(b for b in blocks if b["type"] == "actions")
        assert [e["action_id"] for e in actions["elements"]] == [
            "post.approve",
            "post.request_changes",
            "post.reject",
        ]
        text = all_text(card.args)
        assert "P-0001" in text and "county maths quiz" in text
        assert "<@U0TEACH>" in text  # the submitter, as a mention built by us
        assert "Facebook, X" in text
        assert "version 1" in text
    for person in (*CO_HEADS, "U0DSL"):
        assert fake_slack.messages_to(person) == []
    assert fake_slack.invalid == []

    (post,) = await bot.rows(Post)
    assert (post.reference, post.state, post.version, post.submitter_key) == (
        "P-0001",
        "awaiting_approval",
        1,
        "slack:U0TEACH",
    )
    (audit,) = await bot.rows(AuditEvent)
    assert (audit.action, audit.object_id, audit.actor_key) == (
        "post.submitted",
        "P-0001",
        "slack:U0TEACH",
    )
    assert "county" not in json.dumps(audit.detail)  # ids, never content
    await eventually(lambda: _count_is(bot, Card, 2), what="two card records")
    cards = await bot.rows(Card)
    assert sorted(c.recipient_key for c in cards) == ["sam", "slack:U0NETDEP"]
    assert {c.card_key for c in cards} == {f"post:{post.id}:v1:approval"}
    assert all(c.channel.startswith("D") and c.message_id for c in cards)

    async def all_sent() -> bool:
        return {i.status for i in await bot.rows(OutboxItem)} == {"sent"}

    await eventually(all_sent, what="every message to be sent")
    # Once sent, the queue keeps no copy of the draft: retention purges it in one place.
    assert all(i.payload is None for i in await bot.rows(OutboxItem))


async def test_a_network_managers_own_draft_goes_to_the_co_headteachers(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    reply = await bot.submit(draft_payload("U0NETMGR"))
    assert reply.json()["response_action"] == "update"
    await fake_slack.wait_for(lambda: all(fake_slack.messages_to(u) for u in CO_HEADS))
    await asyncio.sleep(0.2)
    assert fake_slack.messages_to("U0NETDEP") == []
    assert len(fake_slack.messages_to("U0NETMGR")) == 1  # the receipt only
    assert "Co-Headteachers" in json.dumps(reply.json()["view"])


async def test_each_missing_confirmation_is_refused_on_its_own_field(bot: RunningBot) -> None:
    for missing in ALL_CONFIRMATIONS:
        confirmed = tuple(c for c in ALL_CONFIRMATIONS if c != missing)
        reply = await bot.submit(draft_payload(TEACHER, confirmed=confirmed))
        assert reply.status == 200
        answer = reply.json()
        assert answer["response_action"] == "errors"
        assert list(answer["errors"]) == [missing]
    reply = await bot.submit(draft_payload(TEACHER, confirmed=()))
    errors = reply.json()["errors"]
    assert set(errors) == set(ALL_CONFIRMATIONS)
    assert "parent or carer" in errors["parental_permission"]
    assert "Staff protocol for use of social media" in errors["parental_permission"]
    assert "do-not-publish" in errors["do_not_publish_list"]
    await nothing_stored(bot)


async def test_a_draft_too_long_for_x_is_refused_on_the_text(bot: RunningBot) -> None:
    reply = await bot.submit(draft_payload(TEACHER, text="a" * 281, accounts=("X", "Facebook")))
    errors = reply.json()["errors"]
    assert list(errors) == ["text"]
    assert "X takes at most 280 characters" in errors["text"] and "281" in errors["text"]
    ok = await bot.submit(draft_payload(TEACHER, text="a" * 281, accounts=("Facebook",)))
    assert ok.json()["response_action"] == "update"


async def test_other_bad_drafts_are_refused_and_nothing_is_stored(bot: RunningBot) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        (draft_payload(TEACHER, text="   \n "), "text", "Write the text"),
        (draft_payload(TEACHER, text="x" * 3001, accounts=("Facebook",)), "text", "at most 3,000"),
        (draft_payload(TEACHER, accounts=()), "accounts", "at least one"),
        (draft_payload(TEACHER, accounts=("MySpace",)), "accounts", "MySpace"),
        (draft_payload(TEACHER, wished_date="2020-01-01"), "wished_date", "in the past"),
        (draft_payload(TEACHER, wished_date="next tuesday"), "wished_date", "not a date"),
        (
            draft_payload(TEACHER, files=[slack_file(f"F{i}", "x.png", 10) for i in range(11)]),
            "attachments",
            "at most 10",
        ),
        (
            draft_payload(TEACHER, files=[slack_file("F1", "huge.mov", 21 * 1024 * 1024)]),
            "attachments",
            "huge.mov",
        ),
    ]
    for payload, field, words in cases:
        reply = await bot.submit(payload)
        answer = reply.json()
        assert answer["response_action"] == "errors", payload
        assert field in answer["errors"] and words in answer["errors"][field], answer
    await nothing_stored(bot)


async def test_malformed_form_state_is_refused_clearly(bot: RunningBot) -> None:
    payload = draft_payload(TEACHER)
    payload["view"]["state"] = "nonsense"
    answer = (await bot.submit(payload)).json()
    assert answer["response_action"] == "errors" and "text" in answer["errors"]
    await nothing_stored(bot)


async def test_user_text_is_escaped_everywhere_it_is_shown(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    smuggled = "Hi <!channel> & <!here>, see <https://evil.example|the school site> *now* > quote"
    reply = await bot.submit(draft_payload(TEACHER, text=smuggled, accounts=("Facebook",)))
    modal = json.dumps(reply.json()["view"])
    await fake_slack.wait_for(lambda: all(fake_slack.messages_to(u) for u in NETWORK_MANAGERS))
    for shown in [modal] + [all_text(c.args) for c in fake_slack.calls_to("chat.postMessage")]:
        assert "<!channel>" not in shown and "<!here>" not in shown
        assert "<https://evil" not in shown
        assert "&lt;!channel&gt; &amp; &lt;!here&gt;" in shown
        assert "&lt;https://evil.example|the school site&gt;" in shown


async def test_unsigned_badly_signed_and_stale_requests_get_401(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    attempts = [
        await bot.command("/post", TEACHER, signed=False),
        await bot.command("/post", TEACHER, secret="not-the-secret"),
        await bot.command("/post", TEACHER, timestamp=int(time.time()) - 6 * 60),
        await bot.submit(draft_payload(TEACHER), signed=False),
        await bot.submit(draft_payload(TEACHER), secret="not-the-secret"),
        await bot.submit(draft_payload(TEACHER), timestamp=int(time.time()) - 301),
    ]
    assert [a.status for a in attempts] == [401] * len(attempts)
    await asyncio.sleep(0.3)
    assert fake_slack.calls_to("views.open") == []
    await nothing_stored(bot)


async def test_malformed_and_oversized_requests_are_refused(bot: RunningBot) -> None:
    reply = await bot.slack("payload=%7Bnot-json")
    assert reply.status == 400 and "malformed" in reply.text
    huge = "payload=" + "a" * (1024 * 1024 + 10)
    reply = await bot.slack(huge)
    assert reply.status == 413
    await nothing_stored(bot)


async def test_a_slack_outage_is_retried_without_loss_or_duplicates(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_next(
        "chat.postMessage",
        Fault(status=503, body="<html>upstream down</html>"),
        Fault(status=500),
        Fault(
            status=429, body='{"ok": false, "error": "ratelimited"}', headers={"Retry-After": "1"}
        ),
        Fault(drop_connection=True),
    )
    fake_slack.fail_next("conversations.open", Fault(status=502, body="bad gateway"))
    reply = await bot.submit(draft_payload(TEACHER))
    assert reply.json()["response_action"] == "update"
    await fake_slack.wait_for(
        lambda: all(fake_slack.messages_to(u) for u in (*NETWORK_MANAGERS, TEACHER)),
        timeout=15,
        what="delivery after the outage",
    )
    await asyncio.sleep(0.5)
    for person in (*NETWORK_MANAGERS, TEACHER):
        assert len(fake_slack.messages_to(person)) == 1, person
    assert len(fake_slack.failed) == 5

    async def all_sent() -> bool:
        return {i.status for i in await bot.rows(OutboxItem)} == {"sent"}

    await eventually(all_sent, what="every outbox item to be marked sent")
    items = await bot.rows(OutboxItem)
    assert {i.status for i in items if i.kind == "message"} == {"sent"}
    assert sum(i.attempts for i in items if i.kind == "message") == 3 + 5


async def test_a_permanent_refusal_is_kept_for_the_operator(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_next(
        "conversations.open", Fault(status=200, body='{"ok": false, "error": "user_not_found"}')
    )
    await bot.submit(draft_payload(TEACHER))

    async def one_failed() -> bool:
        return [i.status for i in await bot.rows(OutboxItem)].count("failed") == 1

    await eventually(one_failed, what="the refused message to be kept as failed")
    await fake_slack.wait_for(lambda: len(fake_slack.calls_to("chat.postMessage")) == 2)
    failed = [i for i in await bot.rows(OutboxItem) if i.status == "failed"]
    assert len(failed) == 1 and "user_not_found" in (failed[0].last_error or "")


async def test_attachments_are_fetched_and_kept(bot: RunningBot, fake_slack: FakeSlack) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    url = fake_slack.add_file("quiz.png", photo)
    files = [slack_file("F0PHOTO", "quiz.png", len(photo), url)]
    reply = await bot.submit(draft_payload(TEACHER, files=files))
    assert reply.json()["response_action"] == "update"

    async def kept() -> bool:
        return any(a.status == "kept" for a in await bot.rows(Attachment))

    await eventually(kept, what="the attachment to be kept")
    (attachment,) = await bot.rows(Attachment)
    assert attachment.content == photo and attachment.size == len(photo)
    assert attachment.source_id == "F0PHOTO" and attachment.mimetype == "image/png"
    assert attachment.sha256 == hashlib.sha256(photo).hexdigest()
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to("U0NETMGR")))
    assert "quiz.png" in all_text(fake_slack.messages_to("U0NETMGR")[0].args)

    # Each approver gets the bot's copy beneath their own card: the submitter's upload is private.
    for approver in NETWORK_MANAGERS:
        await fake_slack.wait_for(lambda a=approver: bool(fake_slack.shared_files(a)))
        (card,) = fake_slack.messages_to(approver)
        assert fake_slack.shared_files(approver) == [(card.answer["ts"], photo)]
    assert not fake_slack.shared_files(TEACHER)


async def test_a_failed_upload_is_retried_and_a_lost_file_is_kept_for_the_operator(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + b"sports day" * 100
    files = [
        slack_file("F0OK", "sports.png", len(photo), fake_slack.add_file("sports.png", photo)),
        slack_file("F0GONE", "gone.png", 10, f"{fake_slack.root}/files/gone.png"),
    ]
    fake_slack.fail_next("upload", Fault(status=503, body="busy"))
    await bot.submit(draft_payload(TEACHER, files=files))

    for approver in NETWORK_MANAGERS:
        await fake_slack.wait_for(
            lambda a=approver: bool(fake_slack.shared_files(a)), what=f"a share to {approver}"
        )
        assert [content for _, content in fake_slack.shared_files(approver)] == [photo]
    assert fake_slack.faults["upload"] == [], "the failed upload was tried"

    async def settled() -> bool:
        items = [i for i in await bot.rows(OutboxItem) if i.kind == "share"]
        return sorted(i.status for i in items) == ["failed", "failed", "sent", "sent"]

    await eventually(settled, what="the shares to settle")
    statuses = {a.source_id: a.status for a in await bot.rows(Attachment)}
    assert statuses == {"F0OK": "kept", "F0GONE": "failed"}


async def test_references_are_unique_under_concurrent_submissions(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    replies = await asyncio.gather(
        *(bot.submit(draft_payload(f"U0STAFF{i:02d}")) for i in range(12))
    )
    assert all(r.json()["response_action"] == "update" for r in replies)
    references = sorted(p.reference for p in await bot.rows(Post))
    assert references == [f"P-{n:04d}" for n in range(1, 13)]


async def test_times_are_stored_in_utc_and_shown_in_the_schools_zone(
    start_bot: Any, fake_slack: FakeSlack, tmp_path: Any
) -> None:
    config = tmp_path / "school.yaml"
    config.write_text(
        (FIXTURES / "school.yaml").read_text().replace("Europe/London", "Pacific/Auckland")
    )
    bot = await start_bot(config_path=config)
    await bot.submit(draft_payload(TEACHER))
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to("U0NETMGR")))
    (post,) = await bot.rows(Post)
    local = post.created_at.astimezone(ZoneInfo("Pacific/Auckland"))
    card = all_text(fake_slack.messages_to("U0NETMGR")[0].args)
    assert f"{local:%H:%M} {local.tzname()}" in card


async def test_the_policy_command_answers_privately(bot: RunningBot) -> None:
    bare = (await bot.command("/policy", TEACHER)).json()
    assert bare["response_type"] == "ephemeral" and "/post" in json.dumps(bare)
    asked = await bot.command("/policy", TEACHER, "can I use my own phone for trip photos?")
    assert asked.json()["response_type"] == "ephemeral" and "school devices" in asked.text


async def test_healthz_reports_the_database(bot: RunningBot) -> None:
    reply = await bot.get("/healthz")
    assert reply.status == 200
    assert reply.json() == {
        "status": "ok",
        "database": "ok",
        "schema": head_revision(),
        "slack": "http",
        "teams": "local",
    }


async def test_a_direct_message_gets_the_help_once(bot: RunningBot, fake_slack: FakeSlack) -> None:
    message = direct_message_event(TEACHER)
    assert (await bot.event(event_callback(message))).status == 200
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("chat.postMessage")))
    (reply,) = fake_slack.calls_to("chat.postMessage")
    assert reply.args["channel"] == "D0TEACH" and "/post" in all_text(reply.args)
    # Slack's retry of the same event, and the bot's own messages, get no second answer.
    retry = await bot.event(event_callback(message), extra_headers={"X-Slack-Retry-Num": "1"})
    assert retry.status == 200
    own = {**message, "bot_id": "B0BOT", "user": "U0BOT"}
    assert (await bot.event(event_callback(own))).status == 200
    await asyncio.sleep(0.3)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


async def test_slack_url_verification_is_answered(bot: RunningBot) -> None:
    reply = await bot.event({"token": "t", "challenge": "abc123", "type": "url_verification"})
    assert reply.status == 200 and "abc123" in reply.text


async def test_a_direct_message_channel_is_opened_once_and_reopened_when_it_goes(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    people = {TEACHER, *NETWORK_MANAGERS}
    for sent in (3, 6):
        await bot.submit(draft_payload(TEACHER))
        await fake_slack.wait_for(lambda n=sent: len(fake_slack.calls_to("chat.postMessage")) == n)
    assert sorted(c.args["users"] for c in fake_slack.calls_to("conversations.open")) == sorted(
        people
    )

    # Slack forgets the channel (the app was reinstalled): the message is still delivered.
    gone = Fault(status=200, body='{"ok": false, "error": "channel_not_found"}')
    fake_slack.fail_next("chat.postMessage", gone)
    await bot.submit(draft_payload(TEACHER))
    await fake_slack.wait_for(lambda: len(fake_slack.calls_to("chat.postMessage")) == 9)
    assert len(fake_slack.calls_to("conversations.open")) == len(people) + 1

    async def all_sent() -> bool:
        return all(i.status == "sent" for i in await bot.rows(OutboxItem))

    await eventually(all_sent, what="every message to be marked sent")

    # Any other refusal on a remembered channel is kept for the operator, not retried.
    too_long = Fault(
        status=200,
        body='{"ok": false, "error": "msg_too_long"}',
        only_when={"channel": "DU0NETMGR"},
    )
    fake_slack.fail_next("chat.postMessage", too_long)
    await bot.submit(draft_payload(TEACHER))

    async def refused_once() -> bool:
        items = await bot.rows(OutboxItem)
        return any(i.status == "failed" and i.attempts == 1 for i in items)

    await eventually(refused_once, what="the refused message to be kept as failed")


async def test_a_refused_bot_token_stops_start_up_with_its_name(
    start_bot: Any, fake_slack: FakeSlack
) -> None:
    refused = Fault(status=200, body='{"ok": false, "error": "invalid_auth"}')
    fake_slack.fail_next("auth.test", refused)
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN was refused by Slack"):
        await start_bot()


async def test_a_slack_outage_at_start_up_loses_no_draft(
    start_bot: Any, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_next("auth.test", *(Fault(status=500) for _ in range(5)))
    bot = await start_bot()
    reply = await bot.submit(draft_payload(TEACHER))
    assert reply.json()["response_action"] == "update"
    assert [p.reference for p in await bot.rows(Post)] == ["P-0001"]
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to("U0NETMGR")))


async def test_a_photo_for_a_card_that_could_not_be_delivered_stops_waiting(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + b"class photo" * 50
    files = [
        slack_file("F0CLASS", "class.png", len(photo), fake_slack.add_file("class.png", photo))
    ]
    # The deputy Network Manager has left the workspace.
    refused = Fault(
        status=200,
        body='{"ok": false, "error": "user_not_found"}',
        only_when={"users": "U0NETDEP"},
    )
    fake_slack.fail_next("conversations.open", refused)
    await bot.submit(draft_payload(TEACHER, files=files))

    async def settled() -> bool:
        cards = [i for i in await bot.rows(OutboxItem) if i.card_key]
        return len(cards) == 4 and all(i.status in ("sent", "failed") for i in cards)

    await eventually(settled, what="cards and shares to settle")
    items = [i for i in await bot.rows(OutboxItem) if i.card_key]
    outcome = {(i.kind, i.recipient_key): i.status for i in items}
    deputy = next(i.recipient_key for i in items if i.address == "U0NETDEP")
    assert outcome == {
        ("message", "sam"): "sent",
        ("share", "sam"): "sent",
        ("message", deputy): "failed",
        ("share", deputy): "failed",
    }
    assert all(i.attempts < 5 for i in items)


async def test_the_same_form_submitted_twice_makes_one_draft(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    # Slack showed "trouble connecting" although the draft was saved; the teacher submits again.
    first = await bot.submit(draft_payload(TEACHER, view_id="V0SAMEFORM"))
    again = await bot.submit(draft_payload(TEACHER, view_id="V0SAMEFORM"))
    assert first.json()["response_action"] == again.json()["response_action"] == "update"
    assert "already sent" in json.dumps(again.json())
    assert [p.reference for p in await bot.rows(Post)] == ["P-0001"]
    await fake_slack.wait_for(lambda: len(fake_slack.calls_to("chat.postMessage")) == 3)
    await asyncio.sleep(0.2)
    assert len(fake_slack.calls_to("chat.postMessage")) == 3

    # Twice at the very same moment (a double click on Submit): still one draft, and neither
    # answer says the draft was lost.
    both = await asyncio.gather(
        *(bot.submit(draft_payload(TEACHER, view_id="V0DOUBLE")) for _ in range(2))
    )
    assert [r.json()["response_action"] for r in both] == ["update", "update"]
    assert sorted(p.reference for p in await bot.rows(Post)) == ["P-0001", "P-0002"]


async def test_a_rate_limit_is_honoured_for_as_long_as_slack_asks(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    # The tests' own back-off is 50 ms; Slack asks for 3 s, and gets them.
    limited = Fault(
        status=429, body='{"ok": false, "error": "ratelimited"}', headers={"Retry-After": "3"}
    )
    fake_slack.fail_next("chat.postMessage", limited)
    await bot.submit(draft_payload(TEACHER))

    async def rate_limited() -> list[OutboxItem]:
        return [i for i in await bot.rows(OutboxItem) if "rate limit" in (i.last_error or "")]

    async def any_rate_limited() -> bool:
        return bool(await rate_limited())

    await eventually(any_rate_limited, what="the rate-limited item")
    (item,) = await rate_limited()
    assert item.status == "pending"
    assert (item.next_attempt_at - datetime.now(UTC)).total_seconds() > 2
    await eventually(lambda: _count_is(bot, Card, 2), timeout=15, what="both cards")


# PostgreSQL only: a SQLite file stays readable to the process that has it open.
@pytest.mark.postgres_only
async def test_healthz_answers_503_when_the_database_is_gone(
    bot: RunningBot, database_url: str
) -> None:
    name = make_url(database_url).database
    await as_admin(postgres_url(), f'DROP DATABASE "{name}" WITH (FORCE)')
    reply = await bot.get("/healthz")
    assert reply.status == 503
    assert reply.json()["status"] == "degraded"
    assert reply.json()["database"].startswith("unreachable")


@pytest.mark.parametrize("hidden", ["\\u0000", "\\ud800"])
async def test_a_draft_with_characters_no_database_keeps_is_saved_without_them(
    bot: RunningBot, hidden: str
) -> None:
    """A NUL or a lone surrogate pasted into a draft: PostgreSQL refuses the first and no
    encoder takes the second, so "try again" would never work. The draft is kept without them."""
    payload = json.dumps(draft_payload("U0TEACH", text="Year 4 wonHIDDEN the quiz!"))
    reply = await bot.slack(urlencode({"payload": payload.replace("HIDDEN", hidden)}))
    assert reply.status == 200 and reply.json()["response_action"] == "update", reply.text
    (version,) = await bot.rows(PostVersion)
    assert version.text == "Year 4 won the quiz!"
