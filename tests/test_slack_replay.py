"""Replays, Slack's retries and other workspaces, over HTTP with signed requests: the same
request delivered twice has one effect, on one instance or two, before a restart or after;
a request from a workspace other than the bot token's is refused and nothing of it logged."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select, text

from bot.handlers.workflow import QUESTION_FAILED, SAVE_FAILED
from bot.store.models import PolicyQuestion, ReportEventRow, SeenRequest
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack
from tests.harness import (
    SIGNING_SECRET,
    TEAM,
    RunningBot,
    SettableClock,
    command_body,
    direct_message_event,
    event_callback,
    sessions,
    view_payload,
)
from tests.slack_desk import DSL, GOVERNED, TEACHER, Desk

PATH = "/slack/events"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
OTHER_TEAM = "T0ELSEWHERE"


def signed(
    body: str, content_type: str = FORM, at: int | None = None, **headers: str
) -> tuple[bytes, dict[str, str]]:
    """A request as Slack signs it: the bytes and headers to send as they are, again."""
    raw = body.encode()
    stamp = str(at if at is not None else int(time.time()))
    return raw, {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": SignatureVerifier(SIGNING_SECRET).generate_signature(
            timestamp=stamp, body=raw
        ),
        **headers,
    }


def interaction(payload: Mapping[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def note_form(report_id: int, note: str, team: str = TEAM) -> str:
    payload = view_payload(
        DSL,
        "report.note_form",
        str(report_id),
        {"note": {"type": "plain_text_input", "value": note}},
    )
    payload["team"]["id"] = team
    payload["user"]["team_id"] = team
    payload["view"]["team_id"] = team
    return interaction(payload)


def direct_message(event_id: str, team: str = TEAM) -> str:
    message = direct_message_event(TEACHER)
    body = event_callback(message) | {"event_id": event_id, "team_id": team}
    body["authorizations"] = [
        {"enterprise_id": None, "team_id": team, "user_id": "U0BOT", "is_bot": True}
    ]
    return json.dumps(body)


async def remembered(bot: RunningBot) -> list[SeenRequest]:
    async with sessions(bot.runtime.engine)() as session:
        return list(await session.scalars(select(SeenRequest)))


async def notes(bot: RunningBot) -> list[str | None]:
    return [e.text for e in await bot.rows(ReportEventRow) if e.kind == "note"]


async def report_desk(start_bot: BotFactory, fake_slack: FakeSlack, **kwargs: Any) -> Desk:
    return Desk(await start_bot(config_path=GOVERNED, **kwargs), fake_slack)


@pytest.fixture
async def desk(start_bot: BotFactory, fake_slack: FakeSlack) -> Desk:
    return await report_desk(start_bot, fake_slack)


async def test_a_replayed_note_goes_into_the_chronology_once(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    report, _ = await desk.report(kind="pupil_request")
    note = "Spoke to the pupil's head of year"
    raw, headers = signed(note_form(report.id, note))

    first = await desk.bot.post_raw(PATH, raw, headers)
    assert first.status == 200 and first.json()["response_action"] == "update"
    # The captured request sent again, as it was, and then twice more at once.
    again = await desk.bot.post_raw(PATH, raw, headers)
    assert (again.status, again.text) == (200, "")
    both = await asyncio.gather(*(desk.bot.post_raw(PATH, raw, headers) for _ in range(2)))
    assert [(r.status, r.text) for r in both] == [(200, ""), (200, "")]

    assert await notes(desk.bot) == [note]
    assert "seen before" in caplog.text and note not in caplog.text
    # What is remembered is a digest of each request, never what it said.
    kept = await remembered(desk.bot)
    assert len(kept) == 2  # the report's form, and the note's
    assert all(len(row.digest) == 64 and int(row.digest, 16) >= 0 for row in kept)


async def test_an_event_is_answered_once_however_often_it_comes(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    body = direct_message("Ev0REPLAY")
    raw, headers = signed(body, JSON, at=int(time.time()) - 2)
    assert (await bot.post_raw(PATH, raw, headers)).status == 200
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("chat.postMessage")))
    # An attacker's replay of the captured request; then Slack's own retry, which is the same
    # body in a new request with its own timestamp and signature.
    assert (await bot.post_raw(PATH, raw, headers)).status == 200
    retry_raw, retry_headers = signed(
        body, JSON, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert retry_headers["X-Slack-Signature"] != headers["X-Slack-Signature"]
    retried = await bot.post_raw(PATH, retry_raw, retry_headers)
    assert (retried.status, retried.text) == (200, "")
    await asyncio.sleep(0.3)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1

    # A retry of an event whose first delivery never arrived is answered, once.
    lost = direct_message("Ev0LOSTFIRST")
    retry_raw, retry_headers = signed(
        lost, JSON, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "connection_failed"}
    )
    assert (await bot.post_raw(PATH, retry_raw, retry_headers)).status == 200
    await fake_slack.wait_for(lambda: len(fake_slack.calls_to("chat.postMessage")) == 2)


async def test_a_replay_after_a_restart_changes_nothing(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    before = await report_desk(start_bot, fake_slack)
    report, _ = await before.report(kind="pupil_request")
    raw, headers = signed(note_form(report.id, "Logged with the DSL"))
    assert (await before.bot.post_raw(PATH, raw, headers)).status == 200
    await before.settled()
    await before.bot.stop()

    after = await report_desk(start_bot, fake_slack)
    replayed = await after.bot.post_raw(PATH, raw, headers)
    assert (replayed.status, replayed.text) == (200, "")
    assert await notes(after.bot) == ["Logged with the DSL"]


async def test_two_instances_given_the_same_request_act_once(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    first = await report_desk(start_bot, fake_slack)
    second = await report_desk(start_bot, fake_slack)
    report, _ = await first.report(kind="pupil_request")
    for round_ in range(3):
        raw, headers = signed(note_form(report.id, f"note {round_}"))
        answers = await asyncio.gather(
            first.bot.post_raw(PATH, raw, headers), second.bot.post_raw(PATH, raw, headers)
        )
        assert sorted(bool(a.text) for a in answers) == [False, True]
        assert all(a.status == 200 for a in answers)
    # The same event, delivered to each.
    raw, headers = signed(direct_message("Ev0BOTH"), JSON)
    await asyncio.gather(
        first.bot.post_raw(PATH, raw, headers), second.bot.post_raw(PATH, raw, headers)
    )
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("chat.postMessage")))
    await first.settled()
    await asyncio.sleep(0.3)
    assert await notes(first.bot) == ["note 0", "note 1", "note 2"]
    assert (
        len([c for c in fake_slack.calls_to("chat.postMessage") if "D0TEACH" in str(c.args)]) == 1
    )


async def test_requests_from_another_workspace_are_refused_and_not_logged(
    desk: Desk, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    report, _ = await desk.report(kind="pupil_request")
    secret = "a question nobody outside the school should see"
    command = command_body("/policy", TEACHER, secret).replace(TEAM, OTHER_TEAM)
    refused = [
        signed(command),
        signed(note_form(report.id, secret, team=OTHER_TEAM)),
        signed(direct_message("Ev0ELSEWHERE", team=OTHER_TEAM), JSON),
    ]
    assert desk.bot.http is not None
    for raw, headers in refused:
        async with desk.bot.http.post(desk.bot.url + PATH, data=raw, headers=headers) as answer:
            assert answer.status == 403
            # Slack sends an event refused so again only if told it may.
            assert answer.headers.get("X-Slack-No-Retry") == "1"
    await asyncio.sleep(0.3)
    assert await notes(desk.bot) == []
    assert await desk.bot.count(PolicyQuestion) == 0
    assert all("D0TEACH" not in str(c.args) for c in fake_slack.calls_to("chat.postMessage"))
    assert caplog.text.count(f"workspace {OTHER_TEAM}") == 3
    assert secret not in caplog.text

    # An org-wide install's interaction names no team, only the user's: still ours.
    payload = view_payload(
        DSL, "report.note_form", str(report.id), {"note": {"type": "x", "value": "ours"}}
    )
    payload["team"] = None
    ours = await desk.bot.submit(payload)
    assert ours.status == 200 and await notes(desk.bot) == ["ours"]


# (installed across the organisation?, the request's workspace and organisation, taken?)
GRID = [
    # Installed across the organisation: any of its workspaces is ours.
    (True, "T0SISTER", "E0TRUST", True),
    (True, "T0SISTER", "E0OTHER", False),
    # Installed in one workspace of it: only that one.
    (False, "T0SISTER", "E0TRUST", False),
    (False, TEAM, "E0TRUST", True),
]


async def test_enterprise_grid_workspaces(start_bot: BotFactory, fake_slack: FakeSlack) -> None:
    fake_slack.enterprise_id = "E0TRUST"
    for org_wide, team, enterprise, taken in GRID:
        fake_slack.enterprise_install = org_wide
        bot = await start_bot()
        fields = dict(p.split("=", 1) for p in command_body("/policy", TEACHER, "hi").split("&"))
        fields |= {"team_id": team, "enterprise_id": enterprise, "enterprise_name": "Trust"}
        raw, headers = signed("&".join(f"{k}={v}" for k, v in fields.items()))
        answer = await bot.post_raw(PATH, raw, headers)
        assert answer.status == (200 if taken else 403), (org_wide, team, enterprise)
        await bot.stop()


async def test_socket_mode_envelopes_from_another_workspace_are_acknowledged_and_ignored(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    await start_bot(app_token=fake_slack.app_token, signing_secret=None)
    await fake_slack.wait_for(lambda: fake_slack.socket_connected, what="a Socket Mode connection")
    for envelope_id, team in (("env-elsewhere", OTHER_TEAM), ("env-ours", TEAM)):
        await fake_slack.send_envelope(
            {
                "envelope_id": envelope_id,
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": 0,
                "retry_reason": "",
                "payload": json.loads(direct_message(f"Ev-{envelope_id}", team=team)),
            }
        )
        await fake_slack.wait_for(
            lambda e=envelope_id: any(a.get("envelope_id") == e for a in fake_slack.socket_acks),
            what="the envelope's acknowledgement",
        )
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("chat.postMessage")))
    await asyncio.sleep(0.3)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


async def test_when_the_database_cannot_say_nothing_is_done_and_people_are_told(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    report, _ = await desk.report(kind="pupil_request")
    async with desk.bot.runtime.engine.begin() as db:
        await db.execute(text("DROP TABLE seen_requests"))
    form = await desk.bot.post_raw(PATH, *signed(note_form(report.id, "not kept")))
    assert form.json() == {"response_action": "errors", "errors": {"note": SAVE_FAILED}}
    command = await desk.bot.post_raw(PATH, *signed(command_body("/policy", TEACHER, "logos?")))
    assert command.status == 200 and QUESTION_FAILED in command.text
    assert command.json()["response_type"] == "ephemeral"
    # Slack sends an event again later when it gets no 200.
    event = await desk.bot.post_raw(PATH, *signed(direct_message("Ev0LATER"), JSON))
    assert event.status == 503
    await asyncio.sleep(0.3)
    assert await notes(desk.bot) == []
    assert await desk.bot.count(PolicyQuestion) == 0
    assert all("D0TEACH" not in str(c.args) for c in fake_slack.calls_to("chat.postMessage"))


async def test_only_signed_requests_are_remembered_and_only_for_their_window(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    clock = SettableClock()
    bot = await start_bot(clock=clock)
    body = command_body("/policy", TEACHER, "logos?")
    raw, headers = signed(body)
    unsigned = {"Content-Type": FORM}
    badly_signed = signed(body)[1] | {"X-Slack-Signature": "v0=" + "0" * 64}
    stale = signed(body, at=int(time.time()) - 600)[1]
    for junk in (unsigned, badly_signed, stale):
        assert (await bot.post_raw(PATH, raw, junk)).status == 401
    assert await bot.count(SeenRequest) == 0

    assert (await bot.post_raw(PATH, raw, headers)).status == 200
    (first,) = await remembered(bot)
    assert (await bot.post_raw(PATH, raw, headers)).text == ""
    # Past the signature window (and the allowance for clocks) an entry no longer stands in
    # the way, purged or not (here not yet: purges run at most once a minute)...
    clock.advance(timedelta(minutes=7))
    again = await bot.post_raw(PATH, *signed(body))
    assert again.status == 200 and again.json()["response_type"] == "ephemeral"
    # ...and the next request after that purges it.
    clock.advance(timedelta(minutes=7))
    assert (await bot.post_raw(PATH, *signed(command_body("/policy", TEACHER, "x")))).status == 200
    (second,) = await remembered(bot)
    assert second.digest != first.digest
