"""The `socialdesk` command line: its arguments, and which function runs each command. The
commands that read records, the policy, deliveries or the database itself live in cli_records,
cli_policy, cli_delivery and cli_database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import cli_database, cli_delivery, cli_people, cli_policy, cli_questions, cli_records
from bot.settings import (
    PackageSettings,
    Settings,
    SettingsError,
    UsageError,
    describe_database,
    find_configuration,
)

if TYPE_CHECKING:
    from bot.config import SchoolConfig

DESCRIPTION = """\
socialdesk runs a school's staff Social Media Policy inside Slack and Microsoft Teams: draft
posts for the school's accounts go to the IT Network Manager for approval; concerns are reported
to the people the policy names (the Co-Headteachers, the DSL, the IT Network Manager), who
acknowledge, follow up and close them; policy questions are answered from the school's own
policy document, with the passage and its section, or passed to the IT Network Manager.

Settings come from the environment (DATABASE_URL, PORT, HOST, LOG_LEVEL, LIBRARY_LOG_LEVEL,
SOCIALDESK_CONFIG, SOCIALDESK_POLICY, SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN,
SLACK_API_URL, MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD, MICROSOFT_APP_TENANT_ID,
MICROSOFT_APP_TYPE, MICROSOFT_OPENID_METADATA_URL, MICROSOFT_LOGIN_URL, SOCIALDESK_TEAMS_LOCAL,
TEAMS_FILE_HOSTS, SOCIALDESK_RETRY_BASE_SECONDS, SOCIALDESK_DELIVERY_LEASE_SECONDS,
SOCIALDESK_DB_REQUEST_SECONDS, SOCIALDESK_DB_CONNECT_SECONDS, SOCIALDESK_DB_STATEMENT_SECONDS,
SOCIALDESK_DB_LOCK_SECONDS, SOCIALDESK_DB_POOL_SECONDS; SLACK_API_URL and the two MICROSOFT_*_URL
settings are for tests, which point them at local fakes); people, roles and accounts from the
YAML file SOCIALDESK_CONFIG names, else socialdesk.yaml in the current folder, else (with no
Slack or Teams credentials, a trial) the example school's socialdesk.example.yaml. Every command
says on standard error which configuration and database it opened. See README.md.
"""


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries whose loggers stay at LIBRARY_LOG_LEVEL whatever LOG_LEVEL says; everything else
# outside bot.* does too, through the root logger. Named here as well so that a library that
# sets a level of its own at import is put back.
LIBRARY_LOGGERS = (
    "slack_sdk",
    "slack_bolt",
    "aiohttp",
    "aiosqlite",
    "asyncpg",
    "sqlalchemy",
    "alembic",
    "botbuilder",
    "botframework",
    "msrest",
    "msal",
    "urllib3",
    # bolt writes through the logger the bot gives it, whole requests and answers at DEBUG.
    "bot.slack.bolt",
)


class _StandardError(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is written, not when set up."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(settings: Settings, stream: Any = None) -> logging.Handler:
    """LOG_LEVEL sets the bot's own loggers (bot.*) only: at DEBUG the libraries would write
    the requests and answers themselves, with what people typed, receipt codes and who sent
    them. They follow LIBRARY_LOG_LEVEL (default WARNING). The handler added is returned."""
    root = logging.getLogger()
    for earlier in [h for h in root.handlers if getattr(h, "socialdesk", False)]:
        root.removeHandler(earlier)  # set up again (tests run the command line in-process)
    handler = logging.StreamHandler(stream) if stream is not None else _StandardError()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.socialdesk = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.library_log_level)
    logging.getLogger("bot").setLevel(settings.log_level)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(settings.library_log_level)
    return handler


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="socialdesk",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the bot (migrates the database first)",
        description="Run the bot: GET /healthz, POST /slack/events, POST /api/messages (Teams), "
        "and Slack Socket Mode when SLACK_APP_TOKEN is set. The database schema is migrated "
        "first.",
    )
    serve.add_argument("--port", type=int, help="port to listen on (default: PORT or 3978)")

    commands.add_parser(
        "migrate",
        help="bring the database schema up to date and exit",
        description="Apply the Alembic migrations to DATABASE_URL and exit.",
    )
    commands.add_parser(
        "check-config",
        help="run every check serve runs before it listens, changing nothing",
        description="Run every check `serve` runs before it listens, changing nothing: the "
        "settings, the YAML configuration (an unknown key is named with the key it most "
        "resembles), the policy document, the database (reachable; whether serve will migrate "
        "it), and, when set, the Slack tokens with Slack and the Teams app id and secret with "
        "Entra ID. Exits 2 with one line naming the setting exactly when serve would refuse "
        "to start. Also prints how many hold each role, configured ids the Slack workspace "
        "does not know or that have not added socialdesk in Teams, and what serve would warn "
        "of.",
    )

    audit = commands.add_parser(
        "audit",
        help="print the audit log",
        description="Print the append-only audit log: when, who, what and which object. "
        "It holds ids, never content.",
    )
    audit.add_argument(
        "--since", help="only entries from this date on (YYYY-MM-DD, in the school's time zone)"
    )
    audit.add_argument("--json", action="store_true", help="one JSON object per line")

    history = commands.add_parser(
        "history",
        help="show a draft post's versions, decisions and links",
        description="Show one draft post (by its reference, e.g. P-0001): every version with "
        "its text, every step with who took it, when (in the school's time zone) and why, "
        "and where it went live.",
    )
    history.add_argument("reference", help="the draft's reference, e.g. P-0001")
    history.add_argument("--json", action="store_true", help="one JSON object")

    outbox = commands.add_parser(
        "outbox",
        help="show messages not yet delivered",
        description="List outbox items that are pending, held or failed (without their "
        "content). --retry sends the failed ones again.",
    )
    outbox.add_argument("--retry", action="store_true", help="queue failed items again")

    people = commands.add_parser(
        "people",
        help="list Slack's and Teams' people with their ids, and a people: block to paste",
        description="List the members of the Slack workspace (id, name, and email where the "
        "app has the users:read.email scope; bots and deleted members left out) and the people "
        "who have added socialdesk in Teams (Entra object id, name), marking those already "
        "in the configuration. Then print a people: block for socialdesk.yaml with everyone's "
        "ids: someone in both is one entry where the email or name matches exactly. Add "
        "roles to those who hold one. Needs SLACK_BOT_TOKEN (with users:read) for Slack and "
        "the bot's database (DATABASE_URL) for Teams; lists what it can without either.",
    )
    people.add_argument(
        "--json",
        action="store_true",
        help="one JSON object: slack, teams and people (the block as text)",
    )
    commands.add_parser(
        "teams",
        help="show who the bot can reach in Teams",
        description="For each person the configuration gives a Teams id: whether they have "
        "added socialdesk (so the bot can message them), since when they removed or blocked "
        "it, and how many messages wait for them.",
    )
    package = commands.add_parser(
        "teams-package",
        help="write the Teams app package (zip) for a Teams admin to upload",
        description="Write the Teams app package: manifests/teams/manifest.json with the app "
        "id (MICROSOFT_APP_ID or --app-id), the school's website, privacy and terms pages and "
        "the version (teams_app: in the YAML, or the flags, which win), and its two icons. It "
        "needs nothing else: no client secret or tenant id goes in the zip. It refuses to "
        "write a package that still gives the example's socialdesk.example.sch.uk pages. "
        "Raise the version for every upgrade: Teams updates an app only when it goes up.",
    )
    package.add_argument(
        "--out", default="socialdesk-teams.zip", help="where to write it (default: %(default)s)"
    )
    package.add_argument(
        "--source",
        help="folder holding manifest.json, color.png and outline.png "
        "(default: the project's manifests/teams)",
    )
    package.add_argument(
        "--app-id", metavar="GUID", help="the bot's app id (default: MICROSOFT_APP_ID)"
    )
    for flag, page in (
        ("--website", "website"),
        ("--privacy", "privacy notice"),
        ("--terms", "terms of use"),
    ):
        package.add_argument(
            flag,
            metavar="URL",
            help=f"the school's {page} for the app, https:// (default: "
            f"teams_app.{flag[2:]} in the YAML)",
        )
    package.add_argument(
        "--version",
        dest="app_version",
        metavar="VERSION",
        help="the app's version, such as 1.0.3 (default: teams_app.version in the YAML, else "
        "the manifest's)",
    )
    package.add_argument(
        "--allow-example",
        action="store_true",
        help="write it even with the example's socialdesk.example.sch.uk pages (a trial only)",
    )
    ask = commands.add_parser(
        "ask",
        help="answer a policy question as the bot would, from the policy document",
        description="Answer a question from the school's policy document (SOCIALDESK_POLICY, "
        "or policy: in "
        "the YAML) as the bot would, without storing it and without the IT Network Manager's kept"
        " answers (those are the running bot's), but with the school's review decisions "
        "(socialdesk policy review) from the database, where there is one. It prints the answer, "
        "the passages the chat answer quotes, whether it is confident, the next step the chat "
        "answer offers, and the nearest sections with their match scores (higher is a closer "
        "match; not a percentage). Given - instead of a question, read one question per line from"
        " standard input (blank lines are skipped). With --json, print one JSON object per "
        "question: answer (string), confident (bool), next_step (string or null) and sections "
        '(list of {"title": ..., "score": ..., "quoted": [passage, ...]}, best first).',
    )
    ask.add_argument("question", help="the question, or - to read one per line from stdin")
    ask.add_argument("--json", action="store_true", help="print JSON, one object per question")
    policy = commands.add_parser(
        "policy",
        help="show the loaded policy, where each topic was found, and what needs review",
        description="Read the policy document as the bot would: its version and its sections, "
        "numbered; how many of the topics the bot knows were found word for word (their short "
        "answers are served), placed by the school's review, found by content (the document's "
        "own words are served until they are reviewed) or not covered; the topics needing "
        "review; and (from the database DATABASE_URL names, if there is one) the IT Network "
        "Manager's kept answers held back because the policy changed. `socialdesk policy "
        "review` reviews the topics.",
    )
    policy_commands = policy.add_subparsers(dest="policy_command", metavar="review")
    review = policy_commands.add_parser(
        "review",
        help="review where the bot answers each topic from",
        description="The school's review of where the bot answers each topic from in this "
        "version of the policy, kept in the database (DATABASE_URL, already migrated) with the "
        "policy version: a decision holds in later versions while the passages it rests on "
        "read word for word. On a terminal, without flags, it walks through the topics needing "
        "review (then offers the rest), showing the proposed section, why, the passages and "
        "the short answer, and asks [a]ccept / [r]eassign (to a section chosen by number) / "
        "[w]rite (the short answer, one line) / [n]ot covered / [s]kip / [q]uit; each "
        "decision is saved at once. Not on a terminal, or with --list, it lists every topic "
        "with its status (word for word, needs review, decided, not covered), section and "
        "why. One decision can be given as flags instead. Decisions are recorded as made by "
        "the configured IT Network Manager (--as NAME when several are configured). A bad "
        "topic, section or answer is said in one line, exit status 2, and nothing is saved.",
    )
    review.add_argument("--list", action="store_true", help="list every topic; ask nothing")
    review.add_argument(
        "--json",
        action="store_true",
        help='list as one JSON object: {"version": ..., "topics": [{"topic", "status", '
        '"section", "section_number", "why", "passages", "short_answer"}, ...]}',
    )
    review.add_argument(
        "--accept", metavar="TOPIC", help="the proposed section, and its short answer, hold"
    )
    review.add_argument(
        "--reassign",
        metavar="TOPIC",
        help="answer the topic from another section (--section), in that section's own words",
    )
    review.add_argument(
        "--section",
        metavar="TITLE_OR_NUMBER",
        help=(
            "for --reassign: the section's title, or [N] for the Nth section as socialdesk "
            "policy numbers them (a bare N that could also be a heading numbered N is refused)"
        ),
    )
    review.add_argument(
        "--rewrite",
        metavar="TOPIC",
        help="serve the school's own short answer (--answer) from the proposed section",
    )
    review.add_argument("--answer", metavar="TEXT", help="for --rewrite: the short answer")
    review.add_argument(
        "--not-covered",
        metavar="TOPIC",
        help="this version of the policy does not cover the topic: no answer for it",
    )
    review.add_argument(
        "--as",
        dest="reviewer",
        metavar="NAME",
        help="the IT Network Manager making the decisions (needed when several are configured)",
    )
    export = commands.add_parser(
        "export",
        help="write reports, or the friend-request log, as CSV",
        description="Write concern reports as CSV for the Co-Headteachers, governors or an "
        "inspection: `export reports` (every kind, with its chronology) or `export "
        "friend-requests` (the log of friend requests from pupils and parents). Times are in "
        "the school's time zone; an anonymous report says anonymous. Cells that a spreadsheet "
        "would run as a formula are prefixed with an apostrophe.",
    )
    export.add_argument("what", choices=("reports", "friend-requests"))
    export.add_argument(
        "--from", dest="since", help="reports made on or after this date (YYYY-MM-DD)"
    )
    export.add_argument(
        "--to",
        dest="until",
        help="reports made on or before this date (YYYY-MM-DD; not before --from)",
    )
    export.add_argument(
        "--out",
        help="write to this file, readable by its owner only (default, or -: standard output)",
    )
    report = commands.add_parser(
        "report",
        help="print a report's chronology as text",
        description="Print one concern report (by its reference, e.g. R-0001): what was "
        "reported, and every step since with who took it and when, in the school's time zone.",
    )
    report.add_argument("reference", help="the report's reference, e.g. R-0001")
    reports_list = commands.add_parser(
        "reports",
        help="list reports without their content",
        description="List concern reports: reference, kind, state, when and whether held "
        "(nobody configured could receive it). No content.",
    )
    reports_list.add_argument("--held", action="store_true", help="only the held ones")
    questions = commands.add_parser(
        "questions",
        help="the question report: what staff asked the bot and where its answers fell short",
        description="The question report for the IT Network Manager, per version of the policy "
        "(its digest, shown short, with the first and last days a question was answered from "
        "it): the most asked topics (a question the bot knows no topic for counts under the "
        'section that matched it best), the questions answered "not sure", those called '
        "off-topic, the answers given a thumbs down with the reason given, and the questions "
        "sent on to the IT Network Manager with whether they were answered. Each question is "
        "listed with its number and the day it was asked; nothing says who asked, which "
        "socialdesk never keeps (nor does it show who answered). The IT Network Manager sees "
        "the same report as a card by typing /policy questions in Slack (policy questions in "
        "Teams). `questions keep` keeps an answer for a listed question.",
    )
    questions.add_argument(
        "--since", help="only questions asked on or after this date (YYYY-MM-DD)"
    )
    questions.add_argument(
        "--json",
        action="store_true",
        help="one JSON object: since, time_zone and versions (each with policy_version, "
        "first_asked, last_asked, questions, helpful, unhelpful, most_asked, unsure, "
        "off_topic, thumbs_down and sent_on)",
    )
    questions_commands = questions.add_subparsers(dest="questions_command", metavar="keep")
    keep = questions_commands.add_parser(
        "keep",
        help="keep an answer for a listed question, as the IT Network Manager",
        description="Keep an answer for a question `socialdesk questions` lists (by its "
        "number), as the IT Network Manager's Keep an answer button does: socialdesk then shows "
        "it beside the policy's own answer to anyone who asks much the same question, while "
        "the policy reads as it does now (any change to the policy holds it back; from the "
        "card in chat it can be tied to the sections it rests on instead). Nobody is told now, "
        "since who asked was never kept. A question sent on to the IT Network Manager is "
        "answered from its card instead, so that whoever asked hears the answer. The audit "
        "log records the IT Network Manager named by --as as having kept it.",
    )
    keep.add_argument("question_id", metavar="QUESTION_ID", help="the question's number, e.g. 12")
    keep.add_argument("--answer", required=True, metavar="TEXT", help="the answer to keep")
    keep.add_argument(
        "--as",
        dest="keep_as",
        metavar="NAME",
        help="the configured IT Network Manager it is kept in the name of (default: the first "
        "one configured)",
    )
    chat = commands.add_parser(
        "chat",
        help="chat with the bot in the terminal, as any configured person",
        description="A chat with the bot in the terminal, over the same handlers as Slack and "
        "Teams: act as any configured person (/as NAME), type post, report or a policy "
        "question (a leading / is optional), fill forms one input at a time, press a card's "
        "buttons by number, and see what everyone else received when you switch to them. It "
        "uses the configured database (DATABASE_URL, migrated first, as serve does), so what "
        "you do is real; the messages it causes are shown only in the terminal, never sent to "
        "Slack or Teams, and the timers it asks for run only when you say (/run-timers). It "
        "takes no files. Lines are read from standard input; /help lists the rest, /quit or "
        "the end of input leaves. No Slack or Teams setting is needed.",
    )
    chat.add_argument(
        "--as",
        dest="start_as",
        metavar="NAME",
        help="start as this configured person (default: the first IT Network Manager)",
    )
    backup = commands.add_parser(
        "backup",
        help="copy the SQLite database to a file, safely while the bot runs",
        description="Copy the SQLite database DATABASE_URL names into a new file, as one "
        "consistent snapshot (VACUUM INTO), while the bot goes on running. The file is readable "
        "by its owner only. Run it as the bot's own user. For PostgreSQL use pg_dump -Fc.",
    )
    backup.add_argument("out", help="the file to write (must not exist yet)")
    return parser


# Each command, run with the settings and its parsed arguments; the exit status.
Command = Callable[[Settings, argparse.Namespace], int]

COMMANDS: dict[str, Command] = {
    "serve": lambda settings, args: _serve(settings, args.port),
    "migrate": lambda settings, args: asyncio.run(cli_database.migrate_database(settings)),
    "check-config": lambda settings, args: _check_config(settings),
    "audit": lambda settings, args: asyncio.run(
        cli_records.print_audit(settings, args.since, args.json)
    ),
    "history": lambda settings, args: asyncio.run(
        cli_records.print_history(settings, args.reference, args.json)
    ),
    "outbox": lambda settings, args: asyncio.run(cli_delivery.show_outbox(settings, args.retry)),
    "teams": lambda settings, args: asyncio.run(cli_delivery.show_teams_reach(settings)),
    "people": lambda settings, args: asyncio.run(cli_people.show_people(settings, args.json)),
    "ask": lambda settings, args: cli_policy.ask(settings, args.question, args.json),
    "policy": lambda settings, args: _policy(settings, args),
    "export": lambda settings, args: asyncio.run(
        cli_records.export_csv(settings, args.what, args.since, args.until, args.out)
    ),
    "report": lambda settings, args: asyncio.run(
        cli_records.print_report(settings, args.reference)
    ),
    "reports": lambda settings, args: asyncio.run(cli_records.list_reports(settings, args.held)),
    "questions": lambda settings, args: asyncio.run(
        cli_questions.keep_answer(settings, args.question_id, args.answer, args.keep_as)
        if args.questions_command == "keep"
        else cli_questions.print_questions(settings, args.since, args.json)
    ),
    "backup": lambda settings, args: cli_database.backup_sqlite(settings, Path(args.out)),
    "chat": lambda settings, args: _chat(settings, args.start_as),
}


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever socialdesk writes (the database, an export of reports, a backup) is for its
    # own user only: it holds safeguarding records.
    os.umask(0o077)
    args = _parser().parse_args(argv)
    try:
        if args.command == "teams-package":
            # Only what goes in the zip: not the secret and tenant serve needs.
            return _teams_package(PackageSettings.from_env(os.environ), args)
        settings = find_configuration(Settings.from_env(os.environ))
        configure_logging(settings)
        _say_what_is_opened(settings, args.command)
        return COMMANDS[args.command](settings, args)
    except UsageError as error:
        print(f"socialdesk: {error}", file=sys.stderr)
        return 2
    except SettingsError as error:
        print(f"socialdesk: configuration error: {error}", file=sys.stderr)
        return 2


# Commands that open only one of the two (every other opens the configuration and the database).
CONFIGURATION_ONLY = frozenset({"teams-package"})
DATABASE_ONLY = frozenset({"migrate", "backup"})


def _say_what_is_opened(settings: Settings, command: str) -> None:
    """One line on standard error, so that output meant for a file (CSV, JSON) stays clean:
    which configuration and database a command works on, and how the configuration was
    found. Two copies of the bot's files (a clone, a deployment) are then never confused."""
    said = []
    if command not in DATABASE_ONLY:
        path = settings.config_path.resolve()
        origin = {
            "example": " (socialdesk.yaml not found: the example school's; copy it to "
            "socialdesk.yaml to make your own)",
            "SOCIALDESK_CONFIG": " (SOCIALDESK_CONFIG)",
        }.get(settings.config_origin, "")
        said.append(f"configuration {path}{origin}")
    if command not in CONFIGURATION_ONLY:
        said.append(f"database {describe_database(settings.database_url)}")
    print(f"socialdesk: using {'; '.join(said)}", file=sys.stderr)


def _serve(settings: Settings, port: int | None) -> int:
    from aiohttp import web

    from bot import startup
    from bot.app import create_app
    from bot.config import load_config

    school = load_config(settings.config_path)
    port = port or settings.port
    listening = startup.listening_socket(settings.host, port)
    app = create_app(settings, school)

    async def say_where(_: web.Application) -> None:
        # After start-up (the database migrated, Slack and Teams checked): the address an
        # operator points Slack, the Azure Bot and a health probe at.
        shown = "localhost" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
        logging.getLogger("bot.serve").info(
            "listening on %s:%d: POST /slack/events, POST /api/messages, GET /healthz "
            "(try curl http://%s:%d/healthz)",
            settings.host,
            port,
            shown,
            port,
        )

    app.on_startup.append(say_where)
    try:
        web.run_app(app, sock=listening, print=None)
    finally:
        listening.close()  # run_app leaves a socket it was given open when start-up fails
    return 0


def _policy(settings: Settings, args: argparse.Namespace) -> int:
    if args.policy_command != "review":
        return asyncio.run(cli_policy.show_policy(settings))
    request = cli_policy.ReviewRequest(
        list_only=args.list,
        as_json=args.json,
        accept=args.accept,
        reassign=args.reassign,
        section=args.section,
        rewrite=args.rewrite,
        answer=args.answer,
        not_covered=args.not_covered,
        reviewer=args.reviewer,
    )
    return asyncio.run(cli_policy.review_policy(settings, request, sys.stdin, sys.stdout))


def _chat(settings: Settings, start_as: str | None) -> int:
    from bot.cli_chat import chat

    return chat(settings, start_as, sys.stdin, sys.stdout)


def _check_config(settings: Settings) -> int:
    """What `serve` checks before it listens (bot.startup), changing nothing: a non-zero exit
    exactly when `serve` would refuse to start."""
    from bot.config import load_config

    school = load_config(settings.config_path)
    print(f"{school.name}: {len(school.accounts)} accounts, {len(school.directory.people)} people")
    for role, count in school.directory.role_counts().items():
        print(f"  {role.value}: {count}")
    notes = asyncio.run(_check_what_serve_checks(settings, school))
    _print_platforms(settings, school)
    for note in notes:
        print(f"  note: {note}")
    print("check-config: serve would start with this configuration")
    return 0


async def _check_what_serve_checks(settings: Settings, school: SchoolConfig) -> list[str]:
    import aiohttp

    from bot import startup
    from bot.cli_database import sqlite_file_missing
    from bot.store.db import head_revision

    notes = []
    policy = startup.policy_of(settings, school)
    if policy.path is not None:
        print(f"policy: {policy.path} read")
    schema = await startup.schema_found(settings)
    if sqlite_file_missing(settings.database_url):
        print("database: no SQLite file there yet (serve creates it)")
    elif schema is None:
        print("database: reachable, empty (serve creates socialdesk's tables)")
    elif schema != head_revision():
        print(f"database: reachable, schema {schema} (serve migrates it to {head_revision()})")
    else:
        print(f"database: reachable, schema {schema}, up to date")
    notes += startup.role_warnings(school)
    async with aiohttp.ClientSession() as http:
        # An address this machine does not have fails as serve would, and so does a port
        # something else holds. One socialdesk holds is only noted: it is usually the bot
        # being checked, and serve listens there once that one has stopped.
        if not startup.port_is_free(settings.host, settings.port):
            if not await startup.held_by_socialdesk(http, settings.host, settings.port):
                raise SettingsError(
                    f"PORT {settings.port} on HOST {settings.host}: cannot listen: something "
                    "other than socialdesk is listening there"
                )
            notes.append(
                f"PORT {settings.port} on HOST {settings.host} is in use now by a running "
                "socialdesk: serve listens there once it has stopped"
            )
        if settings.slack is not None:
            notes += await startup.check_slack(settings.slack, http)
        if settings.teams.app_id is not None:
            notes += await startup.check_teams(settings.teams, http)
    # Ids the workspace does not know: a person who would silently get nothing.
    notes += await cli_people.unknown_identities(settings, school)
    return notes


def _print_platforms(settings: Settings, school: SchoolConfig) -> None:
    from bot.core.people import Platform

    print(f"Slack: {'on' if settings.slack else 'off'}")
    teams = settings.teams
    if teams.app_id is not None:
        print(f"Teams: on (app {teams.app_id}, {teams.app_type})")
    elif teams.local_mode:
        print("Teams: local mode (requests are NOT verified; Emulator and tests only)")
    else:
        print("Teams: off (MICROSOFT_APP_ID is not set)")
    for person in school.directory.people:
        if person.roles and person.identity_on(Platform.SLACK) is None:
            roles = ", ".join(sorted(r.value for r in person.roles))
            print(
                f"  note: {person.name} ({roles}) has no Slack id: they are reached in Teams "
                "once they add socialdesk there (see `socialdesk teams`)"
            )


def _teams_package(settings: PackageSettings, args: argparse.Namespace) -> int:
    from bot.config import TeamsApp, https_address, load_config, teams_app_version
    from bot.teams.package import build_package, checked_app_id

    if args.app_id is not None:
        app_id = checked_app_id(args.app_id, "--app-id")
    else:
        app_id = checked_app_id(settings.app_id, "MICROSOFT_APP_ID")
    configured = TeamsApp()
    # Said as every other command says it: which file the pages and version came from. Never
    # the example school's by default: a package is built for the school's own tenant.
    if settings.config_named or settings.config_path.exists():
        configured = load_config(settings.config_path).teams_app
        print(f"socialdesk: using configuration {settings.config_path.resolve()}", file=sys.stderr)
    else:
        print(
            f"socialdesk: no configuration ({settings.config_path} not found): the pages and "
            "version come from the flags, or stay the manifest's",
            file=sys.stderr,
        )
    flags = (
        ("website", args.website, https_address),
        ("privacy", args.privacy, https_address),
        ("terms", args.terms, https_address),
        ("version", args.app_version, teams_app_version),
    )
    # A flag wins over the YAML's teams_app: for that one value.
    given = {key: check(value, f"--{key}") for key, value, check in flags if value is not None}
    default_folder = Path(__file__).resolve().parents[1] / "manifests" / "teams"
    folder = Path(args.source) if args.source else default_folder
    package, version = build_package(
        folder, app_id, chosen := replace(configured, **given), args.allow_example
    )
    out = Path(args.out)
    try:
        out.write_bytes(package)
    except OSError as error:
        raise UsageError(f"--out: cannot write {out}: {error.strerror}") from error
    # Teams updates an installed app only when the version goes up: one left at the
    # manifest's own would never reach staff after the first upload.
    whence = "" if chosen.version else " (the manifest's own: set teams_app.version or --version)"
    print(
        f"wrote {out} for app {app_id}, version {version}{whence}: upload it in the Teams "
        "admin centre (Manage apps); raise teams_app.version for the next upgrade's package"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
