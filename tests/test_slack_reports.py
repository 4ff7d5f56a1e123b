"""Reporting concerns from Slack, end to end over HTTP against the fake Slack Web API: the form,
who receives each kind (and who never does), acknowledgement, notes, questions to the reporter
and closure, anonymity, the chase and escalation timers, and Slack failing meanwhile."""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote_plus

import pytest

from bot.handlers.reports import REPORT_COLUMNS
from bot.store.models import AuditEvent, OutboxItem, Report, ReportEventRow
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack, Fault
from tests.harness import SettableClock, command_body, eventually, view_payload
from tests.processes import ROOT, clean_env, run_cli
from tests.report_samples import report_values
from tests.slack_desk import CHAIR, DSL, GOVERNED, HEADS, NIA, SAM, TEACHER, Desk


def actions_of(shown: Mapping[str, Any]) -> list[str]:
    return [
        e["action_id"] for b in shown["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]


@pytest.fixture
async def desk(start_bot: BotFactory, fake_slack: FakeSlack) -> Desk:
    return Desk(await start_bot(config_path=GOVERNED), fake_slack)


async def test_report_opens_the_form_with_its_warnings(desk: Desk) -> None:
    reply = await desk.bot.command("/report", TEACHER)
    assert reply.status == 200 and reply.elapsed < 3.0
    await desk.slack.wait_for(lambda: bool(desk.slack.calls_to("views.open")), what="the form")
    view = desk.last_view()
    assert view["callback_id"] == "report.form"
    shown = json.dumps(view)
    assert "indecent image of a child" in shown and "phone the DSL now" in shown
    await desk.bot.command("/report", TEACHER, "receipt")
    await desk.slack.wait_for(lambda: len(desk.slack.calls_to("views.open")) == 2, what="form")
    assert desk.last_view()["callback_id"] == "report.receipt"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("disparaging", set(HEADS)),
        ("pupil_request", {DSL, SAM, NIA}),
        ("parent_request", {SAM, NIA}),
        ("staff_misuse", {SAM, NIA}),
        ("safeguarding", {DSL}),
    ],
)
async def test_each_kind_reaches_exactly_the_people_the_policy_names(
    desk: Desk, kind: str, expected: set[str]
) -> None:
    report, result = await desk.report(kind=kind)
    assert report.reference == "R-0001" and "R-0001" in result
    await desk.settled()
    assert desk.receivers("R-0001") == expected
    # Direct messages only, never a channel.
    assert all(c.args["channel"].startswith("D") for c in desk.slack.calls_to("chat.postMessage"))
    # The reporter has the reference and the guidance for their case, here and in their DM.
    if kind == "pupil_request":
        assert "Do not accept the request" in result and "until the DSL says so" in result
    assert "R-0001" in desk.said_to(TEACHER)
    for person in expected:
        assert actions_of(desk.card(person, "R-0001")) == [
            "report.acknowledge",
            "report.note",
            "report.ask",
            "report.close",
        ]


async def test_whoever_is_named_never_receives_it(desk: Desk) -> None:
    # Naming one Co-Headteacher: the other receives it.
    await desk.report(kind="disparaging", involved=(HEADS[0],))
    # Naming both: the chair of governors does.
    await desk.report(kind="disparaging", involved=HEADS)
    # Naming a Network Manager in a misuse report: the other, and the Co-Headteachers.
    await desk.report(kind="staff_misuse", involved=(SAM,))
    await desk.settled()
    assert desk.receivers("R-0001") == {HEADS[1]}
    assert desk.receivers("R-0002") == {CHAIR}
    assert desk.receivers("R-0003") == {NIA, *HEADS}
    assert "R-0003" not in desk.said_to(SAM)
    # Nor can they act on it from anyone else's card.
    third = (await desk.bot.rows(Report))[2]
    await desk.click(SAM, "report.acknowledge", str(third.id))
    await desk.slack.wait_for(
        lambda: "Only the people this report was sent to" in desk.told(SAM), what="the reply"
    )
    assert (await desk.bot.rows(Report))[2].state == "open"


async def test_bad_input_is_refused_in_the_form_and_nothing_is_kept(desk: Desk) -> None:
    cases = [
        (report_values(kind=None), "kind", "Choose what kind"),
        (report_values(links="instagram dot com"), "links", "is not a web address"),
        (report_values(details="  "), "details", "Say what you saw"),
        (report_values(kind="safeguarding", anonymous=True), "anonymously", "Only a report"),
        (report_values(seen_on="2999-01-01"), "seen_on", "still to come"),
    ]
    big = {"id": "F1", "name": "screen.png", "size": 60 * 1024 * 1024, "mimetype": "image/png"}
    big["url_private_download"] = desk.slack.add_file("screen.png", b"x")
    cases.append((report_values(files=[big]), "evidence", "at most 20 MB"))
    cases.append(
        (report_values(kind="staff_misuse", anonymous=True, files=[big]), "evidence", "cannot")
    )
    for values, field, reason in cases:
        answer = await desk.form(TEACHER, "report.form", "", values)
        assert answer["response_action"] == "errors", answer
        assert reason in answer["errors"][field]
    assert await desk.bot.count(Report) == 0
    assert await desk.bot.count(ReportEventRow) == 0
    assert await desk.bot.count(OutboxItem) == 0


async def test_acknowledge_note_ask_reply_and_close(desk: Desk) -> None:
    report, _ = await desk.report(kind="pupil_request", seen_on="2026-11-20", seen_at="21:15")
    await desk.settled()
    value = str(report.id)

    # Someone it was not sent to cannot act on it; a recipient acknowledges it once.
    await desk.click(HEADS[0], "report.acknowledge", value)
    await desk.slack.wait_for(
        lambda: "Only the people this report was sent to" in desk.told(HEADS[0]), what="the reply"
    )
    await desk.click(SAM, "report.acknowledge", value)
    await desk.click(DSL, "report.acknowledge", value)
    await desk.slack.wait_for(
        lambda: "already acknowledged by Sam Network" in desk.told(DSL), what="the reply"
    )
    await desk.settled()
    assert "has been acknowledged by Sam Network" in desk.said_to(TEACHER)
    for person in (SAM, NIA, DSL):
        card = desk.card(person, "R-0001")
        assert "report.acknowledge" not in actions_of(card)
        assert "Acknowledged by Sam Network" in json.dumps(card["blocks"])
        # The incident time is kept apart from the time it was reported.
        assert "Fri 20 Nov 2026, 21:15 GMT" in json.dumps(card["blocks"])

    # A note, by form.
    await desk.click(DSL, "report.note", value)
    await desk.slack.wait_for(lambda: bool(desk.slack.calls_to("views.open")), what="form")
    assert desk.last_view()["callback_id"] == "report.note_form"
    note = "Spoke to the pupil's head of year <!here>"
    await desk.form(DSL, "report.note_form", value, {"note": {"type": "x", "value": note}})

    # A question for the reporter reaches them with a way to answer.
    question = "Did the pupil send any messages as well?"
    await desk.form(DSL, "report.ask_form", value, {"question": {"type": "x", "value": question}})
    await desk.settled()
    assert question in desk.said_to(TEACHER) and "report.reply" in desk.said_to(TEACHER)
    await desk.click(TEACHER, "report.reply", value)
    await desk.slack.wait_for(lambda: len(desk.slack.calls_to("views.open")) == 2, what="form")
    assert desk.last_view()["callback_id"] == "report.reply_form"
    # Only its maker answers on it.
    refused = await desk.form(NIA, "report.reply_form", value, {"answer": {"value": "x"}})
    assert "Only the person who made this report" in refused["errors"]["answer"]
    await desk.form(TEACHER, "report.reply_form", value, {"answer": {"value": "No, just that."}})
    await desk.settled()
    assert "The reporter has answered" in desk.said_to(DSL)

    # Closing needs an outcome; the reporter is told the outcome, not the summary.
    refused = await desk.form(
        DSL, "report.close_form", value, {"summary": {"value": "Logged and blocked."}}
    )
    assert "Choose the outcome" in refused["errors"]["outcome"]
    await desk.form(
        DSL,
        "report.close_form",
        value,
        {
            "outcome": {"type": "radio_buttons", "selected_option": {"value": "logged"}},
            "summary": {"value": "Logged and blocked."},
        },
    )
    await desk.settled()
    told = desk.said_to(TEACHER)
    assert "is closed: Logged; nothing more needed" in told and "blocked" not in told
    for person in (SAM, NIA, DSL):
        card = desk.card(person, "R-0001")
        assert actions_of(card) == []
        shown = json.dumps(card["blocks"])
        for line in ("Note by Dana Safe", "asked the reporter", "The reporter answered"):
            assert line in shown
        assert "<!here>" not in shown and "&lt;!here&gt;" in shown
    await desk.click(SAM, "report.acknowledge", value)
    await desk.slack.wait_for(
        lambda: "already closed by Dana Safe" in desk.told(SAM), what="the reply"
    )
    kinds = [e.kind for e in await desk.bot.rows(ReportEventRow)]
    assert kinds == [
        "submitted",
        "sent",
        "acknowledged",
        "note",
        "question",
        "reply",
        "closed",
    ]


async def test_an_anonymous_report_keeps_no_trace_of_who_made_it(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    report, result = await desk.report(
        kind="staff_misuse", anonymous=True, details="A colleague posts pupils' photos."
    )
    receipt = result.split("Your receipt code: ")[1].split(".")[0]
    assert "cannot be recovered" in result
    await desk.settled()
    assert desk.receivers(report.reference) == {SAM, NIA}
    assert "Anonymous" in json.dumps(desk.card(SAM, report.reference)["blocks"])
    # No receipt or other message went to the reporter's DM: everything stays in modals.
    assert desk.slack.messages_to(TEACHER) == []

    # Sam asks a question; the reporter reads it with the receipt and answers.
    question = "Which account does the colleague post from?"
    await desk.form(SAM, "report.ask_form", str(report.id), {"question": {"value": question}})
    opened = await desk.form(TEACHER, "report.receipt", "", {"receipt": {"value": "WRONG-CODE"}})
    assert "No report has that receipt code" in opened["errors"]["receipt"]
    opened = await desk.form(TEACHER, "report.receipt", "", {"receipt": {"value": receipt}})
    assert opened["response_action"] == "update" and question in json.dumps(opened["view"])
    metadata = opened["view"]["private_metadata"]
    await desk.form(TEACHER, "report.reply_form", metadata, {"answer": {"value": "Her own."}})
    await desk.settled()
    assert "The reporter answered: Her own." in json.dumps(
        desk.card(NIA, report.reference)["blocks"]
    )
    assert desk.slack.messages_to(TEACHER) == []

    # One answer a question: another waits for the next question.
    again = await desk.form(TEACHER, "report.reply_form", metadata, {"answer": {"value": "Also"}})
    assert "no question waiting" in again["errors"]["answer"]
    # The receipt's digest alone (as a backup holds it) opens nothing.
    forged = f"receipt:{(await desk.bot.rows(Report))[0].receipt_digest}"
    refused = await desk.form(TEACHER, "report.reply_form", forged, {"answer": {"value": "x"}})
    assert "no longer opens a report" in refused["errors"]["answer"]

    # Nowhere the bot writes names the reporter.
    (row,) = await desk.bot.rows(Report)
    assert row.reporter_key is None and row.receipt_digest and receipt not in str(row.__dict__)
    stored = json.dumps(
        [
            [str(v) for v in r.__dict__.values()]
            for model in (Report, ReportEventRow, AuditEvent, OutboxItem)
            for r in await desk.bot.rows(model)
        ]
    )
    assert TEACHER not in stored and "U0TEACH" not in stored
    assert "U0TEACH" not in caplog.text
    sent = json.dumps([c.args for c in desk.slack.calls])
    assert TEACHER not in sent


async def test_the_chase_then_the_escalation_once_each(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    clock = SettableClock()
    desk = Desk(await start_bot(config_path=GOVERNED, clock=clock), fake_slack)
    await desk.report(kind="safeguarding")
    await desk.settled()
    assert desk.receivers("R-0001") == {DSL}

    # An hour of working time later: the DSL is reminded.
    clock.advance(timedelta(hours=3))
    desk.bot.runtime.wake_delivery()
    await fake_slack.wait_for(lambda: "waiting to be acknowledged" in desk.said_to(DSL))
    assert desk.receivers("R-0001") == {DSL}
    # Another hour: the Co-Headteachers receive it too.
    clock.advance(timedelta(hours=3))
    desk.bot.runtime.wake_delivery()
    await fake_slack.wait_for(lambda: desk.receivers("R-0001") == {DSL, *HEADS})
    await desk.settled()
    reminders = [c for c in fake_slack.messages_to(DSL) if "waiting to be" in c.args["text"]]
    assert len(reminders) == 1
    # Those it was escalated to may act on it; acknowledging stops everything.
    (report,) = await desk.bot.rows(Report)
    await desk.click(HEADS[1], "report.acknowledge", str(report.id))
    assert (await desk.bot.rows(Report))[0].state == "acknowledged"
    actions = [e.action for e in await desk.bot.rows(AuditEvent)]
    assert actions.count("report.chased") == 1 and actions.count("report.escalated") == 1


async def test_an_acknowledged_report_is_not_chased(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    clock = SettableClock()
    desk = Desk(await start_bot(config_path=GOVERNED, clock=clock), fake_slack)
    report, _ = await desk.report(kind="parent_request")
    await desk.click(NIA, "report.acknowledge", str(report.id))
    clock.advance(timedelta(days=2))
    desk.bot.runtime.wake_delivery()

    async def timer_done() -> bool:
        return all(i.status == "sent" for i in await desk.bot.rows(OutboxItem))

    await eventually(timer_done, what="the chase timer to run")
    assert "waiting to be acknowledged" not in desk.said_to(SAM) + desk.said_to(NIA)


async def test_slack_failing_loses_nothing(desk: Desk) -> None:
    desk.slack.fail_next(
        "chat.postMessage", Fault(status=500), Fault(status=429, headers={"Retry-After": "0"})
    )
    report, result = await desk.report(kind="disparaging")
    assert "R-0001" in result
    await desk.settled()
    assert desk.receivers("R-0001") == set(HEADS)
    assert len(desk.slack.failed) == 2
    desk.slack.fail_next("chat.update", Fault(status=503))
    await desk.click(HEADS[0], "report.acknowledge", str(report.id))
    await desk.settled()
    for head in HEADS:
        assert "report.acknowledge" not in actions_of(desk.card(head, "R-0001"))


async def test_the_same_form_sent_twice_makes_one_report(desk: Desk) -> None:
    payload = view_payload(TEACHER, "report.form", "", report_values())
    first = await desk.bot.submit(payload)
    # Submit pressed again on the same modal: a new interaction, with its own trigger_id (the
    # very same request again is a replay: tests/test_slack_replay.py).
    again = await desk.bot.submit(payload | {"trigger_id": "trigger-pressed-again"})
    assert "R-0001" in first.text and "already sent, as R-0001" in again.text
    assert await desk.bot.count(Report) == 1


async def test_a_report_nobody_can_receive_is_held_and_sent_once_someone_can(
    start_bot: BotFactory, fake_slack: FakeSlack, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = GOVERNED.read_text().replace(
        "  - {name: Gill Governor, roles: [chair_of_governors], slack: U0CHAIR}\n", ""
    )
    lonely = tmp_path / "school.yaml"
    lonely.write_text(config)
    caplog.set_level(logging.WARNING)
    bot = await start_bot(config_path=lonely)
    assert "nobody holds the chair_of_governors role" in caplog.text
    desk = Desk(bot, fake_slack)
    report, result = await desk.report(
        kind="disparaging", involved=HEADS, details="Secret words about the heads"
    )
    assert "kept safely" in result and report.held
    await desk.settled()
    assert desk.receivers("R-0001") == set()
    assert "report R-0001 is held" in caplog.text and "Secret words" not in caplog.text

    # With a chair of governors configured, the next start sends it.
    await bot.stop()
    desk = Desk(await start_bot(config_path=GOVERNED), fake_slack)
    await desk.settled()
    assert desk.receivers("R-0001") == {CHAIR}
    assert not (await desk.bot.rows(Report))[0].held


@pytest.mark.postgres_only
async def test_two_instances_on_postgresql_chase_and_escalate_once(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    clock = SettableClock()
    first = Desk(await start_bot(config_path=GOVERNED, clock=clock), fake_slack)
    second = Desk(await start_bot(config_path=GOVERNED, clock=clock), fake_slack)
    for kind in ("safeguarding", "pupil_request", "disparaging"):
        await first.report(kind=kind)
    await first.settled()
    for hours in (5, 5):
        clock.advance(timedelta(hours=hours))
        first.bot.runtime.wake_delivery()
        second.bot.runtime.wake_delivery()

        async def timers_done() -> bool:
            items = await first.bot.rows(OutboxItem)
            due = [i for i in items if i.kind == "timer" and i.next_attempt_at <= clock.now()]
            return all(i.status == "sent" for i in due) and all(
                i.status != "pending" for i in items if i.kind != "timer"
            )

        await eventually(timers_done, what="the due timers to run")
    for person in (DSL, SAM, NIA, *HEADS):
        reminders = [
            c.args["text"] for c in fake_slack.messages_to(person) if "waiting" in c.args["text"]
        ]
        assert len(reminders) == len(set(reminders)), f"{person} was chased twice: {reminders}"
    actions = [e.action for e in await first.bot.rows(AuditEvent)]
    assert actions.count("report.chased") == 3 and actions.count("report.escalated") == 3
    # The escalations reached those above, once: the DSL's kinds the Co-Headteachers, and the
    # Co-Headteachers' own kind the chair of governors.
    assert len([c for c in fake_slack.messages_to(CHAIR) if "R-0003" in json.dumps(c.args)]) == 1


async def test_exports_and_the_chronology_on_the_command_line(
    desk: Desk, database_url: str, tmp_path: Any
) -> None:
    pupil, _ = await desk.report(kind="pupil_request", seen_on="2026-11-20", seen_at="21:15")
    await desk.report(kind="parent_request", details='=HYPERLINK("https://evil.example")')
    anonymous, _ = await desk.report(
        kind="staff_misuse", anonymous=True, details="Colleague's posts"
    )
    await desk.report(kind="disparaging")
    await desk.click(DSL, "report.acknowledge", str(pupil.id))
    env = clean_env(
        DATABASE_URL=database_url, PYTHONPATH=str(ROOT), SOCIALDESK_CONFIG=str(GOVERNED)
    )
    out = tmp_path / "reports.csv"
    await run_cli(
        env, "export", "reports", "--from", "2020-01-01", "--to", "2999-12-31", "--out", str(out)
    )
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    # An anonymous report is not numbered in turn with the others (issue 13).
    assert [r["reference"] for r in rows] == ["R-0001", "R-0002", anonymous.reference, "R-0003"]
    assert rows[0]["acknowledged_by"] == "Dana Safe" and rows[0]["seen_at"].endswith("GMT")
    # The named reports say who made them (issue 13); the anonymous one nothing of its maker.
    assert rows[0]["reported_by_identity"] == f"slack:{TEACHER}"
    assert rows[2]["reported_by"] == "anonymous" and TEACHER not in json.dumps(rows[2])
    # A formula someone typed never runs in the spreadsheet it is opened in.
    assert rows[1]["what_happened"].startswith("'=HYPERLINK")
    # Before the first report there is nothing.
    empty = await run_cli(env, "export", "reports", "--to", "2020-01-01")
    assert empty.strip() == ",".join(REPORT_COLUMNS)

    log_rows = list(csv.DictReader(io.StringIO(await run_cli(env, "export", "friend-requests"))))
    assert [(r["reference"], r["request_from"]) for r in log_rows] == [
        ("R-0001", "a pupil"),
        ("R-0002", "a parent"),
    ]
    shown = await run_cli(env, "report", "r-0001")
    assert shown.startswith("R-0001: Pupil friend request (acknowledged)")
    assert "Acknowledged by Dana Safe" in shown and "Seen: 2026-11-20 21:15:00 GMT" in shown
    listing = await run_cli(env, "reports")
    assert "R-0003" in listing and "Colleague" not in listing


async def test_an_anonymous_report_by_a_recipient_goes_where_anyones_would(desk: Desk) -> None:
    made, result = await desk.report(SAM, kind="staff_misuse", anonymous=True)
    await desk.settled()
    # Both Network Managers receive it, Sam too: leaving him out would name him.
    assert desk.receivers(made.reference) == {SAM, NIA}
    assert "sent to 2" in json.dumps(desk.card(NIA, made.reference)["blocks"])
    assert "Your receipt code" in result


async def test_the_same_anonymous_form_sent_twice_shows_the_same_receipt(desk: Desk) -> None:
    payload = view_payload(
        TEACHER,
        "report.form",
        "ABCD-EFGH-JKMN-PQRS-TVWX",
        report_values(kind="staff_misuse", anonymous=True),
    )
    first = await desk.bot.submit(payload)
    again = await desk.bot.submit(payload | {"trigger_id": "trigger-pressed-again"})
    assert "ABCD-EFGH-JKMN-PQRS-TVWX" in first.text
    (row,) = await desk.bot.rows(Report)
    assert f"already sent, as {row.reference}" in again.text
    assert "ABCD-EFGH-JKMN-PQRS-TVWX" in again.text
    # Not even the modal's id is kept as Slack gave it.
    assert row.form_key.startswith("anonymous:") and payload["view"]["id"] not in row.form_key


async def test_someone_whose_role_has_gone_stops_seeing_the_report(
    start_bot: BotFactory, fake_slack: FakeSlack, tmp_path: Any
) -> None:
    first = await start_bot(config_path=GOVERNED)
    desk = Desk(first, fake_slack)
    report, _ = await desk.report(kind="pupil_request")
    await desk.settled()
    await first.stop()
    demoted = tmp_path / "school.yaml"
    demoted.write_text(
        GOVERNED.read_text().replace(
            "{name: Nia Deputy, roles: [network_manager], slack: U0NETDEP}",
            "{name: Nia Deputy, slack: U0NETDEP}",
        )
    )
    desk = Desk(await start_bot(config_path=demoted), fake_slack)
    await desk.click(NIA, "report.acknowledge", str(report.id))
    await desk.slack.wait_for(lambda: "Only the people" in desk.told(NIA), what="the refusal")
    await desk.click(DSL, "report.acknowledge", str(report.id))
    await desk.settled()
    assert "Acknowledged by Dana Safe" in json.dumps(desk.card(SAM, "R-0001")["blocks"])
    cards = desk.slack.cards_of(NIA).values()
    assert any("R-0001 is no longer shown to you" in json.dumps(c["blocks"]) for c in cards)
    assert not any("Acknowledged by Dana" in json.dumps(c["blocks"]) for c in cards)


async def test_a_form_slack_will_not_open_is_said_so(desk: Desk) -> None:
    desk.slack.fail_next(
        "views.open", Fault(status=200, body='{"ok": false, "error": "expired_trigger_id"}')
    )
    body = command_body("/report", TEACHER).replace(
        quote_plus("https://hooks.slack.com/commands/T0SCHOOL/1/abc"),
        quote_plus(desk.slack.response_url("report")),
    )
    reply = await desk.bot.slack(body)
    assert reply.status == 200 and reply.elapsed < 3.0
    await desk.slack.wait_for(
        lambda: "phone the DSL now" in json.dumps(desk.slack.responses_to("report")),
        what="the reason",
    )
    assert await desk.bot.count(Report) == 0


async def test_a_role_gone_before_delivery_withdraws_the_card_and_its_evidence(
    start_bot: BotFactory, fake_slack: FakeSlack, tmp_path: Any
) -> None:
    first = await start_bot(config_path=GOVERNED)
    desk = Desk(first, fake_slack)
    # Nia's copy cannot be delivered yet (Slack asks to wait), the others' can.
    fake_slack.fail_next(
        "conversations.open",
        Fault(status=429, headers={"Retry-After": "600"}, only_when={"users": NIA}),
    )
    shot = fake_slack.add_file("request.png", b"\x89PNG the request")
    files = [
        {
            "id": "F0SHOT",
            "name": "request.png",
            "size": 17,
            "mimetype": "image/png",
            "url_private_download": shot,
        }
    ]
    report, _ = await desk.report(kind="pupil_request", files=files)
    await fake_slack.wait_for(lambda: bool(fake_slack.shared_files(SAM)), what="Sam's copy")
    await first.stop()
    # Nia is no longer a Network Manager, and a new DSL has joined.
    changed = tmp_path / "school.yaml"
    changed.write_text(
        GOVERNED.read_text().replace(
            "{name: Nia Deputy, roles: [network_manager], slack: U0NETDEP}",
            "{name: Nia Deputy, slack: U0NETDEP}\n  - {name: Kim New, roles: [dsl], slack: U0KIM}",
        )
    )
    desk = Desk(await start_bot(config_path=changed), fake_slack)
    await desk.click(DSL, "report.acknowledge", str(report.id))
    await desk.settled()
    # Nia never sees the report nor its screenshot; Kim is sent both.
    assert fake_slack.messages_to(NIA) == [] and fake_slack.shared_files(NIA) == []
    withdrawn = [i for i in await desk.bot.rows(OutboxItem) if i.status == "withdrawn"]
    assert {(i.kind, i.recipient_key) for i in withdrawn} == {
        ("message", "slack:U0NETDEP"),
        ("share", "slack:U0NETDEP"),
    }
    await fake_slack.wait_for(lambda: bool(fake_slack.shared_files("U0KIM")), what="Kim's copy")
    assert "Acknowledged by Dana Safe" in json.dumps(desk.card("U0KIM", "R-0001")["blocks"])


async def test_a_note_or_question_sent_again_on_the_same_form_is_kept_once(desk: Desk) -> None:
    """Submit pressed again after no answer came (the bot was being restarted): the form
    arrives again as a new request, signed afresh. The chronology keeps every entry for good,
    so it gets one note and one question, and the reporter is asked once."""
    report, _ = await desk.report(kind="pupil_request")
    await desk.settled()
    value = str(report.id)
    note = {"note": {"type": "plain_text_input", "value": "Logged in the friend-request log."}}
    asked = "Did they message you as well?"
    question = {"question": {"type": "plain_text_input", "value": asked}}
    for form_id, values in (("report.note_form", note), ("report.ask_form", question)):
        form = view_payload(DSL, form_id, value, values)
        first = await desk.bot.submit(form)
        # A second press of Submit is a new interaction with its own trigger_id (the very
        # same request again is a replay: tests/test_slack_replay.py).
        again = await desk.bot.submit(
            form | {"trigger_id": f"pressed-again-{form_id}"}, timestamp=int(time.time()) - 1
        )
        assert first.json()["response_action"] == again.json()["response_action"] == "update"
        assert "already on R-0001" in json.dumps(again.json()["view"])
    await desk.settled()
    kinds = [e.kind for e in await desk.bot.rows(ReportEventRow)]
    assert kinds == ["submitted", "sent", "note", "question"]
    assert desk.said_to(TEACHER).count(asked) == 1
