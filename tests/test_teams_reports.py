"""Reporting concerns in Teams: the form in a dialog (never in the chat), the recipients' cards
acted on in Teams, anonymous reports followed up by receipt, and Teams failing meanwhile, all
over HTTP as the Bot Connector would send them."""

from __future__ import annotations

import json
from typing import Any

from bot.store.models import Attachment, OutboxItem, Report, ReportEventRow
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import PNG, FakeTeams, Fault
from tests.harness import RunningBot, eventually
from tests.teams_client import (
    SAM,
    TEACHER,
    TeamsUser,
    action_titled,
    card_for,
    report_inputs,
    texts_of,
)

TEAMS_DSL = "00000000-0000-0000-0000-00000000d5a1"
SLACK_DSL, NIA = "U0DSL", "U0NETDEP"


async def settled(bot: RunningBot) -> None:
    async def nothing_pending() -> bool:
        return all(i.status != "pending" or i.kind == "timer" for i in await bot.rows(OutboxItem))

    await eventually(nothing_pending, what="the outbox to empty")


async def open_form(teacher: TeamsUser) -> dict[str, Any]:
    await teacher.say("report")
    _, menu = teacher.last_card()
    return await teacher.open_dialog(menu, "Make a report")


async def test_a_report_made_in_a_dialog_reaches_its_people_and_is_acknowledged(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    dsl = TeamsUser(bot, fake_teams, TEAMS_DSL, "Teams Only")
    await dsl.install()
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.install()
    form = await open_form(teacher)
    shown = texts_of(form)
    assert "indecent image of a child" in shown and "phone the DSL now" in shown
    before = len(teacher.messages)

    # Bad input comes back in the dialog with its reasons, and nothing is kept.
    refused = await teacher.submit_dialog(form, report_inputs(kind="", links="not a link"))
    assert "Choose what kind" in texts_of(refused) and "is not a web address" in texts_of(refused)
    assert await bot.count(Report) == 0

    done = await teacher.submit_dialog(refused, report_inputs())
    assert "R-0001" in texts_of(done) and "Do not accept the request" in texts_of(done)
    await settled(bot)
    # The report itself never went into the teacher's chat; its receipt did, to hear back there.
    said = [json.dumps(m.activity) for m in teacher.messages[before:]]
    assert len(said) == 1 and "R-0001" in said[0] and "tutor group" not in said[0]
    sent, card = dsl.last_card()
    assert "tutor group" in texts_of(card) and "Fri 20 Nov 2026, 19:05 GMT" in texts_of(card)
    for person in (SLACK_DSL, NIA):
        assert "R-0001" in json.dumps([c.args for c in fake_slack.messages_to(person)])

    # The DSL acknowledges in Teams; the card changes for them at once and for the others.
    answer = await dsl.click(card, "Acknowledge", reply_to=sent)
    assert "Acknowledged by Teams Only" in texts_of(answer["value"])
    await settled(bot)
    assert "acknowledged by Teams Only" in texts_of(teacher.last_card()[1])
    slack_card = fake_slack.cards_of(NIA)
    assert "Acknowledged by Teams Only" in json.dumps(slack_card)

    # A note and closure, in the card's own forms.
    _, card = dsl.last_card()
    await dsl.click(card, "Add note", {"report.note.note": "Logged in the friend-request log."})
    await dsl.click(
        card,
        "Close report",
        {"report.close.outcome": "logged", "report.close.summary": "Logged."},
    )
    await settled(bot)
    assert "is closed: Logged; nothing more needed" in texts_of(teacher.last_card()[1])
    kinds = [e.kind for e in await bot.rows(ReportEventRow)]
    assert kinds == ["submitted", "sent", "acknowledged", "note", "closed"]


async def test_an_anonymous_report_stays_in_dialogs(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    manager = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    await manager.install()
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.install()
    form = await open_form(teacher)
    before = len(teacher.messages)
    done = await teacher.submit_dialog(
        form, report_inputs(kind="staff_misuse", anonymously="anonymously")
    )
    receipt = texts_of(done).split("Your receipt code: ")[1].split(".")[0]
    await settled(bot)
    assert len(teacher.messages) == before  # nothing in the chat
    _, card = manager.last_card()
    assert "Anonymous" in texts_of(card)
    await manager.click(
        card, "Send question", {"report.ask.question": "Was it on a school account?"}
    )

    await teacher.say("report")
    _, menu = teacher.last_card()
    opened = await teacher.open_dialog(menu, "Follow up an anonymous report")
    wrong = await teacher.submit_dialog(opened, {"receipt": "0000-0000-0000-0000-0000"})
    assert "No report has that receipt code" in texts_of(wrong)
    status = await teacher.submit_dialog(wrong, {"receipt": receipt.lower()})
    assert "Was it on a school account?" in texts_of(status)
    thanks = await teacher.submit_dialog(status, {"answer": "Yes, the PE account."})
    (made,) = await bot.rows(Report)
    assert f"Your answer was added to {made.reference}" in texts_of(thanks)
    await settled(bot)
    await card_for(manager, fake_teams, "The reporter answered: Yes, the PE account.")
    (row,) = await bot.rows(Report)
    assert row.reporter_key is None
    everything = json.dumps(
        [[str(v) for v in r.__dict__.values()] for r in await bot.rows(OutboxItem)]
    ) + json.dumps(
        [
            s.activity
            for s in fake_teams.sent
            if s.conversation_id != fake_teams.conversation_of(TEACHER)
        ]
    )
    assert TEACHER not in everything


async def test_teams_failing_loses_nothing(bot: RunningBot, fake_teams: FakeTeams) -> None:
    dsl = TeamsUser(bot, fake_teams, TEAMS_DSL, "Teams Only")
    await dsl.install()
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.install()
    form = await open_form(teacher)
    fake_teams.faults.extend([Fault(status=502), Fault(status=503)])
    await teacher.submit_dialog(form, report_inputs(kind="safeguarding"))
    await settled(bot)
    assert fake_teams.faults == []  # both failures were met, and the card still arrived
    _, card = dsl.last_card()
    assert "R-0001" in texts_of(card)
    assert action_titled(card, "Acknowledge")


async def test_screenshots_sent_with_report_go_with_it(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    dsl = TeamsUser(bot, fake_teams, TEAMS_DSL, "Teams Only")
    await dsl.install()
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.install()
    shot = fake_teams.add_file("message.png", PNG + b"the message", inline=True)
    await teacher.say("report", [{"contentType": "image/png", "contentUrl": shot}])
    _, menu = teacher.last_card()
    assert "The 1 file you sent will go with the report" in texts_of(menu)
    form = await teacher.open_dialog(menu, "Make a report")
    assert "(sent with your message)" in texts_of(form)
    assert "indecent image of a child" in texts_of(form)
    # Not anonymously: the platform knows who uploaded them.
    refused = await teacher.submit_dialog(
        form, report_inputs(kind="staff_misuse", anonymously="anonymously")
    )
    assert "cannot carry files" in texts_of(refused)
    await teacher.submit_dialog(refused, report_inputs(kind="safeguarding"))

    async def kept() -> bool:
        rows = await bot.rows(Attachment)
        return len(rows) == 1 and rows[0].status == "kept" and rows[0].report_id is not None

    await eventually(kept, what="the screenshot kept")
    await settled(bot)
    # The DSL gets the card and, beneath it, the screenshot.
    await fake_teams.wait_for(lambda: len(dsl.messages) >= 2, what="card and screenshot")
    await card_for(dsl, fake_teams, "1 evidence file, sent below.")
    assert any(s.activity.get("attachments") for s in dsl.messages[1:])


async def test_help_starts_a_report_and_each_dialog_is_its_own_report(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.install()
    await teacher.say("help")
    _, help_card = teacher.last_card()
    # No message of its own needed: the help card opens the form.
    form = await teacher.open_dialog(help_card, "Report a concern")
    await teacher.submit_dialog(form, report_inputs())
    shot = fake_teams.add_file("profile.png", PNG + b"profile", inline=True)
    await teacher.say("report", [{"contentType": "image/png", "contentUrl": shot}])
    _, menu = teacher.last_card()
    for details in ("The first request.", "A second, different request."):
        form = await teacher.open_dialog(menu, "Make a report")
        done = await teacher.submit_dialog(form, report_inputs(details=details))
        assert "already sent" not in texts_of(done)
    assert [r.reference for r in await bot.rows(Report)] == ["R-0001", "R-0002", "R-0003"]


async def test_a_refused_anonymous_form_keeps_its_receipt(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.install()
    form = await open_form(teacher)
    (submit,) = form["actions"]
    receipt = submit["data"]["sd_context"]
    anonymous = report_inputs(kind="staff_misuse", anonymously="anonymously")
    refused = await teacher.submit_dialog(form, {**anonymous, "links": "not a link"})
    assert refused["actions"][0]["data"]["sd_context"] == receipt
    done = await teacher.submit_dialog(refused, anonymous)
    assert f"Your receipt code: {receipt}." in texts_of(done)
    # Sent again (a lost answer): the same code, which still opens the report.
    again = await teacher.submit_dialog(refused, anonymous)
    (made,) = await bot.rows(Report)
    assert f"already sent, as {made.reference}" in texts_of(again) and receipt in texts_of(again)
