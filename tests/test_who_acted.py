"""Records say who acted (issue 13): a teacher the configuration does not name is named in
`socialdesk report`, both CSV exports and `socialdesk history` as they were when they acted,
with their platform identity, read by the command line in a process of its own (which knows
nothing the running bot learned); anonymous reports excepted."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from bot.store.models import OutboxItem, PolicyQuestion, Post, Report
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import FakeTeams
from tests.harness import (
    FIXTURES,
    RunningBot,
    draft_payload,
    eventually,
    view_payload,
)
from tests.processes import ROOT, clean_env, run_cli
from tests.report_samples import report_values
from tests.teams_client import TeamsUser

TERRY = "U0TERRY"
SAM, DSL = "U0NETMGR", "U0DSL"
TESS_AAD = "5e55a000-0000-4000-8000-00000000te55"


async def settled(bot: RunningBot) -> None:
    async def nothing_pending() -> bool:
        # Teams Only, the second DSL, has not added the bot: theirs wait.
        return all(
            i.status != "pending" or i.kind == "timer" or i.platform == "teams"
            for i in await bot.rows(OutboxItem)
        )

    await eventually(nothing_pending, what="the outbox to empty")


async def form(bot: RunningBot, user: str, callback_id: str, metadata: str, values: Any) -> Any:
    reply = await bot.submit(view_payload(user, callback_id, metadata, values))
    assert reply.status == 200, reply.text
    return reply.json()


def cli_env(database_url: str) -> dict[str, str]:
    return clean_env(
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
        SOCIALDESK_CONFIG=str(FIXTURES / "school.yaml"),
    )


async def test_records_name_a_slack_teacher_the_configuration_does_not(
    start_bot: BotFactory, fake_slack: FakeSlack, database_url: str
) -> None:
    fake_slack.members[TERRY] = ("Terry Teacher", "terry")
    bot = await start_bot()
    # A named report of a pupil's friend request, acknowledged and closed by the DSL.
    await form(bot, TERRY, "report.form", "", report_values(kind="pupil_request"))
    (report,) = await bot.rows(Report)
    await bot.click(DSL, "report.acknowledge", str(report.id), fake_slack.response_url("d"))
    await form(
        bot,
        DSL,
        "report.close_form",
        str(report.id),
        {
            "outcome": {"type": "radio_buttons", "selected_option": {"value": "logged"}},
            "summary": {"value": "Logged."},
        },
    )
    # A draft post, approved by the Network Manager.
    await bot.submit(draft_payload(TERRY, text="Sports day!", accounts=("X",)))
    (post,) = await bot.rows(Post)
    await bot.click(SAM, "post.approve", f"{post.id}:1", fake_slack.response_url("s"))
    # A policy question sent on and answered.
    asked = await bot.command("/policy", TERRY, "Can I livestream the summer fair on TikTok?")
    escalate = next(
        e["value"]
        for b in asked.json()["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "policy.escalate"
    )
    await bot.click(TERRY, "policy.escalate", escalate, fake_slack.response_url("t"))
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(SAM)))
    question_id = escalate.partition(".")[0]
    await form(bot, SAM, "policy.answer_form", question_id, {"answer": {"value": "No."}})
    await settled(bot)

    (question,) = await bot.rows(PolicyQuestion)
    assert (question.asker_name, question.asker_identity) == ("Terry Teacher", "slack:U0TERRY")
    assert question.answered_by_name == "Sam Network"

    env = cli_env(database_url)
    shown = await run_cli(env, "report", report.reference)
    assert "Reported by: Terry Teacher (Slack U0TERRY)" in shown
    assert "Reported by Terry Teacher (Slack U0TERRY)" in shown  # the chronology
    assert "Acknowledged by Dana Safe (Slack U0DSL)" in shown
    assert "Closed by Dana Safe (Slack U0DSL)" in shown
    for what in ("reports", "friend-requests"):
        (row,) = list(csv.DictReader(io.StringIO(await run_cli(env, "export", what))))
        assert row["reported_by"] == "Terry Teacher"
        assert row["reported_by_identity"] == "slack:U0TERRY"
        assert (row["acknowledged_by"], row["acknowledged_by_identity"]) == (
            "Dana Safe",
            "slack:U0DSL",
        )
    history = await run_cli(env, "history", post.reference)
    assert "submitted by Terry Teacher (Slack U0TERRY)" in history
    assert "new -> awaiting_approval  by Terry Teacher (Slack U0TERRY)" in history
    steps = json.loads(await run_cli(env, "history", post.reference, "--json"))["steps"]
    assert [s["by_name"] for s in steps] == ["Terry Teacher", "Sam Network"]


async def test_records_name_a_teams_teacher_and_never_an_anonymous_one(
    start_bot: BotFactory, fake_slack: FakeSlack, fake_teams: FakeTeams, database_url: str
) -> None:
    bot = await start_bot()
    tess = TeamsUser(bot, fake_teams, TESS_AAD, "Tess Teams")
    await tess.install()
    for anonymously, kind in (("", "pupil_request"), ("anonymously", "staff_misuse")):
        await tess.say("report")
        _, menu = tess.last_card()
        opened = await tess.open_dialog(menu, "Make a report")
        inputs = {
            "kind": kind,
            "where": "Snapchat",
            "links": "",
            "seen_on": "",
            "seen_at": "",
            "details": "Seen last night.",
            "involved": "",
            "involved_text": "",
            "anonymously": anonymously,
        }
        await tess.submit_dialog(opened, inputs)
    await settled(bot)
    rows = sorted(await bot.rows(Report), key=lambda r: r.created_at)
    assert [r.reporter_name for r in rows] == ["Tess Teams", None]

    env = cli_env(database_url)
    exported = list(csv.DictReader(io.StringIO(await run_cli(env, "export", "reports"))))
    assert [(r["reported_by"], r["reported_by_identity"]) for r in exported] == [
        ("Tess Teams", f"teams:{TESS_AAD}"),
        ("anonymous", ""),
    ]
    shown = await run_cli(env, "report", rows[0].reference)
    assert f"Reported by: Tess Teams (Teams {TESS_AAD})" in shown
    anonymous = await run_cli(env, "report", rows[1].reference)
    assert "Reported by: anonymous" in anonymous
    assert "Tess" not in anonymous and TESS_AAD not in anonymous


async def test_a_named_reporters_answer_says_who_answered(
    start_bot: BotFactory, fake_slack: FakeSlack, database_url: str
) -> None:
    fake_slack.members[TERRY] = ("Terry Teacher", "terry")
    bot = await start_bot()
    await form(bot, TERRY, "report.form", "", report_values(kind="staff_misuse"))
    (report,) = await bot.rows(Report)
    await form(bot, SAM, "report.ask_form", str(report.id), {"question": {"value": "When?"}})
    await form(bot, TERRY, "report.reply_form", str(report.id), {"answer": {"value": "Friday."}})
    await settled(bot)
    env = cli_env(database_url)
    shown = await run_cli(env, "report", report.reference)
    (answered,) = [line for line in shown.splitlines() if "answered" in line]
    assert "The reporter answered (Terry Teacher (Slack U0TERRY)): Friday." in answered
    (row,) = list(csv.DictReader(io.StringIO(await run_cli(env, "export", "reports"))))
    assert "The reporter answered (Terry Teacher (Slack U0TERRY))" in row["chronology"]
