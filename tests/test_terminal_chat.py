"""`socialdesk chat` (issue 17): a terminal chat over the same handlers, driven through its
standard input, on the configured database. What is done there is stored; the messages it
causes are shown only in the terminal, and nothing it does enters the outbox."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from asyncio.subprocess import Process
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from bot.cli import main
from bot.settings import describe_database, normalise_database_url
from bot.store.db import make_engine
from bot.store.models import CARDS, OUTBOX, POLICY_QUESTIONS, POSTS, REPORTS, SERVED_PLATFORMS
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack
from tests.harness import FIXTURES, POLICY_FILE, draft_payload, eventually
from tests.processes import ROOT, clean_env, errors

# The fixture school, with a teacher the configuration names but gives no role (and no Teams
# id: what they do must never be recorded as a Teams identity).
TEACHER = "  - {name: Terry Teacher, slack: U0TERRY}\n"

# The draft form's answers, one line each: text, accounts (by number and by name), no file
# (said, not asked), no date, and the seven confirmations.
DRAFT = ["Sports day was a great success!", "2, X", "", *["y"] * 7]

Chat = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
def school(tmp_path: Path) -> Path:
    path = tmp_path / "school.yaml"
    path.write_text((FIXTURES / "school.yaml").read_text(encoding="utf-8") + TEACHER)
    return path


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch, database_url: str, school: Path) -> Chat:
    """`socialdesk chat ARGS` in-process, fed these lines on its standard input: its exit
    status, standard output and standard error."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "SOCIALDESK_", "MICROSOFT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(school))
    monkeypatch.setenv("SOCIALDESK_POLICY", str(POLICY_FILE))
    monkeypatch.setenv("LOG_LEVEL", "warning")

    async def run(*lines: str, args: tuple[str, ...] = ()) -> tuple[int, str, str]:
        stdin, stdout, stderr = (
            io.StringIO("".join(f"{line}\n" for line in lines)),
            io.StringIO(),
            io.StringIO(),
        )
        monkeypatch.setattr(sys, "stdin", stdin)
        monkeypatch.setattr(sys, "stdout", stdout)
        monkeypatch.setattr(sys, "stderr", stderr)
        status = await asyncio.to_thread(main, ["chat", *args])
        return status, stdout.getvalue(), stderr.getvalue()

    return run


async def _rows(database_url: str, table: object) -> list[dict[str, object]]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as db:
            result = await db.execute(select(table))  # type: ignore[call-overload]
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


def _after(output: str, marker: str) -> str:
    assert marker in output, output
    return output.split(marker, 1)[1]


async def test_a_draft_goes_from_a_teacher_to_the_network_manager_and_back(
    chat: Chat, database_url: str
) -> None:
    status, out, _ = await chat(
        "/as terry",
        "/post",
        *DRAFT,
        "/as Sam",
        "1",  # Approve, on the approval card
        "/as terry",
    )
    assert status == 0, out
    # One line says where it is and that what is done is real, and messages stay here.
    first = out.splitlines()[0]
    assert "socialdesk chat: Oakgreen School" in first
    assert describe_database(normalise_database_url(database_url)) in first
    assert "What you do here is real" in first and "never sent to Slack or Teams" in first
    assert "You are Sam Network (network manager)" in out
    # The form, field by field: label, choices numbered, the files it cannot take said.
    assert "Text of the post" in out and "  2. Instagram" in out
    assert "This terminal takes no files" in out
    assert "Draft sent." in out and "(1 new for Sam Network: /as Sam Network to read)" in out
    sam = _after(out, "You are now Sam Network (network manager).")
    assert "Draft post P-0001 for approval" in sam
    assert "Submitted by: Terry Teacher" in sam and "Accounts: Instagram, X" in sam
    assert "[1] Approve  [2] Request changes  [3] Reject" in sam
    # Approved: the card changes in place, with a new number for its one button.
    assert "Draft post P-0001: approved" in sam and "Approved by Sam Network" in sam
    assert "[4] Mark as posted" in sam
    terry = _after(out, "You are now Terry Teacher (staff).")
    assert "P-0001 is approved" in terry and "Approved by Sam Network" in terry

    (post,) = await _rows(database_url, POSTS)
    assert post["state"] == "approved" and post["submitter_key"] == "slack:U0TERRY"
    # Nothing the chat caused is queued for Slack or Teams, nor any timer.
    assert await _rows(database_url, OUTBOX) == []


async def test_a_refused_form_asks_again_for_what_was_refused(
    chat: Chat, database_url: str
) -> None:
    answers = list(DRAFT)
    answers[3] = "n"  # the parents' permission is not confirmed
    status, out, _ = await chat("/as terry", "/post", *answers, "yes", args=())
    assert status == 0, out
    refused = _after(out, "Not sent:")
    assert "Parents' permission: The policy needs specific permission" in refused
    again = _after(refused, "Please answer those again (/cancel abandons the form).")
    # Only the refused input is asked again; what was typed stands.
    assert again.count("[y/n]") == 1 and "Text of the post" not in again
    assert "Draft sent." in again
    (post,) = await _rows(database_url, POSTS)
    assert post["state"] == "awaiting_approval"


async def test_a_pupil_friend_request_reaches_the_dsl(chat: Chat, database_url: str) -> None:
    status, out, _ = await chat(
        "/as terry",
        "report",
        "1",  # Make a report, on the menu a chat opens reporting with
        "2",  # a friend or follow request from a pupil
        "Instagram",
        "",
        "",
        "",
        "A pupil in Year 9 sent me a follow request.",
        "",
        "",
        "",
        "/timers",
        "/as dana",
        args=("--as", "Chris Head"),
    )
    assert status == 0, out
    assert "You are Chris Head (co head)" in out
    assert "Report sent." in out and "Your report is R-0001" in out
    # Its chase is not scheduled for a serving bot to run: it stays in the session.
    assert "Not scheduled: the timer report.chase" in out
    assert "1. report.chase (report_id=1)" in out and ": waiting" in out
    dana = _after(out, "You are now Dana Safe (dsl).")
    assert "Pupil friend request · R-0001" in dana and "Reported by: Terry Teacher" in dana
    assert "A pupil in Year 9 sent me a follow request." in dana
    assert "[1] Acknowledge" in dana

    (report,) = await _rows(database_url, REPORTS)
    assert report["kind"] == "pupil_request" and "dana" not in str(report["involved"])
    # Typed in a chat worded as Teams, but recorded with the identity Terry has: Slack's.
    assert report["reporter_identity"] == "slack:U0TERRY"
    assert await _rows(database_url, OUTBOX) == []


async def test_timers_run_when_asked_and_reach_the_handlers(chat: Chat, database_url: str) -> None:
    status, out, _ = await chat(
        "/as terry",
        "report",
        "1",
        "2",
        "",
        "",
        "",
        "",
        "A pupil sent me a friend request.",
        "",
        "",
        "",
        "/run-timers",
        "/run-timers all",
        "/as dana",
        "/run-timers all",
    )
    assert status == 0, out
    assert "No timer to run: /timers lists them." in out  # the chase is not due for an hour
    assert "Ran report.chase." in out
    dana = _after(out, "You are now Dana Safe (dsl).")
    assert "nobody has acknowledged it yet" in dana
    assert "Reminder sent: not acknowledged in time" in dana
    assert "Ran report.escalate." in dana
    assert await _rows(database_url, OUTBOX) == []


async def test_a_policy_question_is_answered(chat: Chat) -> None:
    status, out, _ = await chat("/policy can I post photos of pupils on my own page?")
    assert status == 0, out
    assert "(From the policy," in out and "Ask the IT Network Manager" in out


async def test_feedback_on_an_answer_and_an_answer_kept_from_the_question_report(
    chat: Chat, database_url: str
) -> None:
    why = "It did not say what to do with photos already taken."
    kept = "Move them to a school device, then delete them from your phone."
    status, out, _ = await chat(
        "/as terry",
        "can I use my own phone for the trip photos?",  # [1] to [4]: the thumbs are 3 and 4
        "3",  # thumbs up: the answer again, its buttons now 5 to 8
        "8",  # thumbs down: again, 9 to 12, and the form for a reason
        "x" * 501,  # too long: refused, asked again
        why,
        "policy questions",  # not Terry's to see
        "/as sam",
        "policy questions",
        "1",  # Keep an answer, for the thumbs down
        kept,
        "",  # the sections it rests on: none ticked
        "/as terry",
        "is it ok to use my own phone for the trip photos",
    )
    assert status == 0, out
    terry = _after(out, "You are now Terry Teacher (staff).")
    assert "[3] \U0001f44d Helpful  [4] \U0001f44e Not helpful" in terry
    voted = _after(terry, "--- changed ---")
    assert "[7] \U0001f44d Helpful (your vote)" in voted and "Thanks \u2014 noted." in voted
    down = _after(voted, "--- changed ---")
    assert "[12] \U0001f44e Not helpful (your vote)" in down
    assert "500 characters or fewer" in _after(down, "Not sent:")
    assert "Feedback sent." in down
    assert "Only the IT Network Manager can see the question report" in out
    sam = _after(out, "You are now Sam Network (network manager).")
    assert "Thumbs down (1):" in sam and why in sam and "[1] Keep an answer for #1" in sam
    assert "Terry" not in sam.split("Answer kept.")[0]
    assert "Answer kept." in sam
    again = _after(sam, "You are now Terry Teacher (staff).")
    assert "has answered a question like yours (Sam Network)" in again and kept in again

    first, second = await _rows(database_url, POLICY_QUESTIONS)
    assert first["vote"] == "unhelpful" and first["vote_reason"] == why
    assert first["learned"] and first["answer"] == kept and first["asker_key"] is None
    assert second["learned_from"] == first["id"]


async def test_a_button_the_handler_refuses_changes_nothing(chat: Chat, database_url: str) -> None:
    status, out, _ = await chat(
        "/as terry",
        "/post",
        *DRAFT,
        "/as sam",
        "3",  # Reject: asks why
        "Not about the school.",
        "/as terry",
        "1",  # Revise, on the message that said it was sent: the handler refuses
    )
    assert status == 0, out
    assert "Why it cannot be posted" in out
    terry = _after(out, "You are now Terry Teacher (staff).")
    assert "P-0001 is rejected, so it can no longer change." in terry
    (post,) = await _rows(database_url, POSTS)
    assert post["state"] == "rejected" and post["version"] == 1


async def test_unknown_people_commands_and_buttons_get_one_clear_line(chat: Chat) -> None:
    status, out, _ = await chat("/as zed", "/as head", "/frobnicate", "7", "/press x", "/who")
    assert status == 0, out
    assert "Nobody called 'zed' is configured. The people are: Sam Network, Nia Deputy" in out
    assert "'head' could be" not in out  # "head" starts no name: it is no one
    assert "There is no command /frobnicate: /help lists them." in out
    assert "No button [7] in your messages" in out and "No button [x]" in out
    assert "  Terry Teacher (staff)" in out and "Sam Network (network manager)  <- you" in out
    status, out, _ = await chat("/as t", "/help")
    assert "'t' could be Teams Only (" in out
    assert "Terry Teacher (slack:U0TERRY): say more of the name, or the key in brackets." in out
    assert "/run-timers [all]" in out and "This terminal takes no files" in out
    # The bot's own help, as a chat words it.
    assert "post - draft a post" in out


async def test_a_form_abandoned_sends_nothing(chat: Chat, database_url: str) -> None:
    status, out, _ = await chat("/as terry", "/post", "Half a draft", "/cancel", "/press")
    assert status == 0, out
    assert "Draft a school post: abandoned. Nothing was sent." in out
    assert "Say which button: /press NUMBER" in out
    assert await _rows(database_url, POSTS) == []


async def test_what_the_terminal_would_act_on_is_never_shown(chat: Chat) -> None:
    # An escape sequence typed (or stored by someone else) would clear the screen or retitle
    # the window of whoever reads it.
    status, out, _ = await chat("/frob\x1b[2J\x1b]0;pwned\x07")
    assert status == 0
    assert "There is no command /frob[2J]0;pwned: /help lists them." in out
    assert "\x1b" not in out and "\x07" not in out


async def test_a_name_nobody_has_stops_it_with_one_line(chat: Chat, database_url: str) -> None:
    status, out, err = await chat("/post", args=("--as", "Nobody Here"))
    assert status == 2 and out == ""
    assert errors(err) == [
        "socialdesk: --as: Nobody called 'Nobody Here' is configured. The "
        "people are: Sam Network, Nia Deputy, Chris Head, Alex Head, Dana Safe, Teams Only, "
        "Terry Teacher; anyone else is staff, found by an identity, as in /as slack:U0TERRY."
    ]


async def _chat_process(database_url: str, school: Path, *args: str) -> Process:
    """`socialdesk chat ARGS` as its own process, its standard streams piped."""
    env = clean_env(
        DATABASE_URL=database_url,
        SOCIALDESK_CONFIG=str(school),
        SOCIALDESK_POLICY=str(POLICY_FILE),
        PYTHONPATH=str(ROOT),
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "chat",
        *args,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_the_chat_through_a_real_pipe(database_url: str, school: Path) -> None:
    process = await _chat_process(database_url, school, "--as", "terry")
    typed = "\n".join(["/post", *DRAFT, "/as nia", ""])
    out, err = await asyncio.wait_for(process.communicate(typed.encode()), timeout=60)
    assert process.returncode == 0, err.decode()
    text = out.decode()
    assert "Draft sent." in text
    assert "Draft post P-0001 for approval" in _after(text, "You are now Nia Deputy")
    # The end of input leaves, as /quit does.
    assert text.rstrip().endswith("Bye.")
    assert await _rows(database_url, OUTBOX) == []


async def test_a_form_checks_dates_as_typed_and_keeps_the_chat_commands_out_of_it(
    chat: Chat, database_url: str
) -> None:
    text, accounts, _, *confirmations = DRAFT
    status, out, _ = await chat(
        "/as terry",
        "/post",
        text,
        accounts,
        "2026-02-30",  # no such day: asked again at once, not at the end
        "/as sam",  # a chat command is not an answer
        "2020-01-01",
        *confirmations,
        "-",  # a publishing date in the past is refused: "-" empties it
        "/inbox",
    )
    assert status == 0, out
    assert "That is not a date: give one as YYYY-MM-DD" in out
    assert "You are filling in a form: answer it, or /cancel to abandon it first." in out
    assert "You are now Sam" not in out
    refused = _after(out, "Not sent:")
    assert "(blank keeps: 2020-01-01; - clears it)" in refused
    assert "Draft sent." in refused
    assert len(await _rows(database_url, POSTS)) == 1


async def test_a_receipt_is_shown_once_and_not_kept(chat: Chat) -> None:
    status, out, _ = await chat(
        "/as terry",
        "report",
        "1",
        "4",  # a colleague's misuse, the one kind that may be anonymous
        "Facebook",
        "",
        "",
        "",
        "A colleague posted photos of a school trip on their own page.",
        "",
        "",
        "1",  # anonymously
        "/as sam",
        "/as terry",
        "/inbox",
    )
    assert status == 0, out
    assert out.count("Your receipt code") == 1, out


async def test_a_machine_with_slack_set_up_is_refused(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-real")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    status, out, err = await chat("/post")
    assert status == 2 and out == ""
    (line,) = errors(err)
    assert "socialdesk chat is for trying socialdesk without a workspace" in line
    assert "DATABASE_URL=sqlite:///trial.db socialdesk chat" in line


async def test_ctrl_c_at_a_prompt_leaves_at_once(database_url: str, school: Path) -> None:
    process = await _chat_process(database_url, school)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"/post\n")
    await process.stdin.drain()
    # Wait until the form asks its first question, then press Ctrl-C.
    seen = b""
    while b"(/cancel abandons the form)" not in seen:
        seen += await asyncio.wait_for(process.stdout.read(4096), timeout=30)
    await asyncio.sleep(0.3)
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), timeout=10)
    assert process.returncode == 130
    assert b"Interrupted." in seen + out
    assert b"Traceback" not in err, err.decode()
    assert await _rows(database_url, POSTS) == []


async def test_a_name_is_found_whatever_its_accents(
    chat: Chat, school: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    welsh = school.with_name("welsh.yaml")
    text = (FIXTURES / "school.yaml").read_text(encoding="utf-8") + TEACHER
    await asyncio.to_thread(welsh.write_text, text + "  - {name: Siân Jones, slack: U0SIAN}\n")
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(welsh))
    status, out, _ = await chat("/as sian")
    assert status == 0, out
    assert "You are now Siân Jones (staff)." in out


async def test_a_database_served_to_slack_is_refused_whatever_the_shell_holds(
    chat: Chat, start_bot: BotFactory, database_url: str
) -> None:
    # An operator's shell with only DATABASE_URL set: the database itself says whose it is.
    await start_bot()
    status, out, err = await chat("/post")
    assert status == 2 and out == ""
    line = errors(err)[-1]
    assert "DATABASE_URL holds the school's own records (served to slack since" in line
    assert await _rows(database_url, POSTS) == []


async def test_anyone_is_found_by_an_identity_and_namesakes_by_their_key(
    chat: Chat, school: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twins = school.with_name("twins.yaml")
    text = (FIXTURES / "school.yaml").read_text(encoding="utf-8") + TEACHER
    await asyncio.to_thread(
        twins.write_text,
        text + "  - {name: Hal Head, slack: U0HAL1}\n  - {name: Hal Head, slack: U0HAL2}\n",
    )
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(twins))
    status, out, _ = await chat("/as hal head", "/as slack:U0HAL2", "/as slack:U0UNLISTED")
    assert status == 0, out
    assert "could be Hal Head (slack:U0HAL1), Hal Head (slack:U0HAL2)" in out
    assert "You are now Hal Head (staff)." in out
    # Someone the configuration does not list is staff, as on a platform.
    assert "You are now slack:U0UNLISTED (staff)." in out


async def test_a_database_an_earlier_version_served_is_refused_by_what_it_holds(
    chat: Chat, start_bot: BotFactory, fake_slack: FakeSlack, database_url: str
) -> None:
    bot = await start_bot()
    await bot.submit(draft_payload("U0TERRY"))
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to("U0NETMGR")))
    await eventually(lambda: _has_rows(database_url, CARDS), what="the card to be recorded")
    # As a version from before served_platforms left it: a card delivered in Slack says it.
    engine = make_engine(database_url)
    try:
        async with engine.begin() as db:
            await db.execute(delete(SERVED_PLATFORMS))
    finally:
        await engine.dispose()
    status, out, err = await chat("/post")
    assert status == 2 and out == ""
    assert "DATABASE_URL holds the school's own records (served to slack since" in errors(err)[-1]


async def _has_rows(database_url: str, table: object) -> bool:
    return bool(await _rows(database_url, table))
