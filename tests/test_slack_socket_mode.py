"""Socket Mode: a school without a public URL. The bot connects out to Slack over a WebSocket
(here the fake's), takes the same commands and answers in the envelope acknowledgements."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qsl

import pytest

from bot.settings import SettingsError
from bot.store.models import Post
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack, Fault
from tests.harness import command_body, draft_payload


async def test_socket_mode_takes_commands_and_form_submissions(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = await start_bot(app_token=fake_slack.app_token, signing_secret=None)
    await fake_slack.wait_for(lambda: fake_slack.socket_connected, what="a Socket Mode connection")
    opened = fake_slack.calls_to("apps.connections.open")
    assert opened and all(call.token == fake_slack.app_token for call in opened)

    health = (await bot.get("/healthz")).json()
    assert health["slack"] == "socket"
    # Without a signing secret nothing is accepted over HTTP.
    assert (await bot.slack(command_body("/post", "U0TEACH"))).status == 404

    await fake_slack.send_envelope(
        {
            "envelope_id": "env-command",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": dict(parse_qsl(command_body("/post", "U0TEACH"))),
        }
    )
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("views.open")), what="views.open")
    assert any(a.get("envelope_id") == "env-command" for a in fake_slack.socket_acks)

    await fake_slack.send_envelope(
        {
            "envelope_id": "env-submit",
            "type": "interactive",
            "accepts_response_payload": True,
            "payload": draft_payload("U0TEACH"),
        }
    )
    await fake_slack.wait_for(
        lambda: any(a.get("envelope_id") == "env-submit" for a in fake_slack.socket_acks),
        what="the submission's acknowledgement",
    )
    ack = next(a for a in fake_slack.socket_acks if a.get("envelope_id") == "env-submit")
    assert ack["payload"]["response_action"] == "update"
    assert "P-0001" in json.dumps(ack["payload"])
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to("U0NETMGR")), what="the card")
    assert [p.reference for p in await bot.rows(Post)] == ["P-0001"]
    assert fake_slack.invalid == []


async def test_socket_mode_answers_a_direct_message_once(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    await start_bot(app_token=fake_slack.app_token, signing_secret=None)
    await fake_slack.wait_for(lambda: fake_slack.socket_connected, what="a Socket Mode connection")
    message = {
        "type": "message",
        "channel_type": "im",
        "channel": "DU0TEACH",
        "user": "U0TEACH",
        "text": "hello",
        "ts": "1700000000.000200",
    }
    # Socket Mode numbers a first delivery 0 and Slack's resends from 1.
    for attempt in (0, 1):
        await fake_slack.send_envelope(
            {
                "envelope_id": f"env-dm-{attempt}",
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": attempt,
                "retry_reason": "timeout" if attempt else "",
                "payload": {
                    "type": "event_callback",
                    "team_id": "T0SCHOOL",
                    "api_app_id": "A0SOCIAL",
                    "event_id": "Ev0DM",
                    "event_time": 1700000000,
                    "event": message,
                },
            }
        )
        await fake_slack.wait_for(
            lambda a=attempt: any(
                ack.get("envelope_id") == f"env-dm-{a}" for ack in fake_slack.socket_acks
            ),
            what="the envelope's acknowledgement",
        )
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("chat.postMessage")))
    await asyncio.sleep(0.3)
    (reply,) = fake_slack.calls_to("chat.postMessage")
    assert reply.args["channel"] == "DU0TEACH"


async def test_a_refused_app_token_stops_start_up_with_its_name(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN was refused by Slack"):
        await start_bot(app_token="xapp-not-this-one", signing_secret=None)


async def test_start_up_does_not_wait_for_an_unreachable_slack(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    # Slack is down when the bot starts: it serves at once and connects when Slack is back.
    down = [Fault(status=503, body="<html>down</html>") for _ in range(2)]
    fake_slack.fail_next("auth.test", *down)
    fake_slack.fail_next("apps.connections.open", *down)
    started = time.monotonic()
    bot = await start_bot(app_token=fake_slack.app_token, signing_secret=None)
    # Socket Mode's first retry comes 10 s later; start-up must not have waited for it.
    assert time.monotonic() - started < 5
    assert (await bot.get("/healthz")).status == 200
    await fake_slack.wait_for(
        lambda: fake_slack.socket_connected, timeout=30, what="a Socket Mode connection"
    )
