"""The `socialdesk` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.settings import Settings, SettingsError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.core.questions import PolicyIndex

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
SOCIALDESK_DB_LOCK_SECONDS, SOCIALDESK_DB_POOL_SECONDS); people, roles and accounts from the
YAML file SOCIALDESK_CONFIG names (default socialdesk.yaml). See README.md.
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
        help="validate the settings and the YAML configuration",
        description="Read the settings and the YAML configuration, report errors, and print "
        "who holds which role.",
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
        "id from MICROSOFT_APP_ID, and its two icons. It reads the same settings as serve "
        "(MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD, MICROSOFT_APP_TENANT_ID).",
    )
    package.add_argument(
        "--out", default="socialdesk-teams.zip", help="where to write it (default: %(default)s)"
    )
    package.add_argument(
        "--source",
        help="folder holding manifest.json, color.png and outline.png "
        "(default: the project's manifests/teams)",
    )
    ask = commands.add_parser(
        "ask",
        help="answer a policy question as the bot would, from the policy document",
        description="Answer a question from the school's policy document (SOCIALDESK_POLICY, "
        "or policy: in the YAML) as the bot would, without storing it and without the IT Network "
        "Manager's kept answers (those are the running bot's). Given - instead of a "
        "question, read one question per line from standard input. With --json, print one "
        "JSON object per question: answer (string), confident (bool) and sections (list of "
        '{"title": ..., "score": ...}, best first).',
    )
    ask.add_argument("question", help="the question, or - to read one per line from stdin")
    ask.add_argument("--json", action="store_true", help="print JSON, one object per question")
    commands.add_parser(
        "policy",
        help="show the loaded policy's sections and the answers held back for review",
        description="Read the policy document as the bot would: its version, the sections "
        "found from its headings, the sections whose short answers are held back because "
        "their wording changed since they were checked, and (from the database DATABASE_URL "
        "names, if there is one) the IT Network Manager's kept answers held back for the same "
        "reason.",
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
    export.add_argument("--to", dest="until", help="reports made on or before this date")
    export.add_argument("--out", help="write to this file (default: standard output)")
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
    backup = commands.add_parser(
        "backup",
        help="copy the SQLite database to a file, safely while the bot runs",
        description="Copy the SQLite database DATABASE_URL names into a new file, as one "
        "consistent snapshot (VACUUM INTO), while the bot goes on running. The file is readable "
        "by its owner only. Run it as the bot's own user. For PostgreSQL use pg_dump -Fc.",
    )
    backup.add_argument("out", help="the file to write (must not exist yet)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever socialdesk writes (the database, an export of reports, a backup) is for its
    # own user only: it holds safeguarding records.
    os.umask(0o077)
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
        configure_logging(settings)
        if args.command == "serve":
            return _serve(settings, args.port)
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "check-config":
            return _check_config(settings)
        if args.command == "audit":
            return asyncio.run(_audit(settings, args.since, args.json))
        if args.command == "history":
            return asyncio.run(_history(settings, args.reference, args.json))
        if args.command == "outbox":
            return asyncio.run(_outbox(settings, args.retry))
        if args.command == "teams":
            return asyncio.run(_teams(settings))
        if args.command == "ask":
            return _ask(settings, args.question, args.json)
        if args.command == "policy":
            return asyncio.run(_policy(settings))
        if args.command == "export":
            return asyncio.run(_export(settings, args.what, args.since, args.until, args.out))
        if args.command == "report":
            return asyncio.run(_report(settings, args.reference))
        if args.command == "reports":
            return asyncio.run(_reports(settings, args.held))
        if args.command == "teams-package":
            return _teams_package(settings, Path(args.out), args.source)
        if args.command == "backup":
            return _backup(settings, Path(args.out))
    except SettingsError as error:
        print(f"socialdesk: configuration error: {error}", file=sys.stderr)
        return 2
    return 1


def _serve(settings: Settings, port: int | None) -> int:
    from aiohttp import web

    from bot.app import create_app
    from bot.config import load_config

    school = load_config(settings.config_path)
    app = create_app(settings, school)
    web.run_app(app, host=settings.host, port=port or settings.port, print=None)
    return 0


async def _migrate(settings: Settings) -> int:
    from bot.store.db import current_revision, make_engine, migrate

    engine = make_engine(settings.database_url)
    try:
        await migrate(engine)
        print(f"database schema at revision {await current_revision(engine)}")
    finally:
        await engine.dispose()
    return 0


def _check_config(settings: Settings) -> int:
    from bot.config import load_config
    from bot.core.people import Platform

    school = load_config(settings.config_path)
    print(f"{school.name}: {len(school.accounts)} accounts, {len(school.directory.people)} people")
    for role, count in school.directory.role_counts().items():
        print(f"  {role.value}: {count}")
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
    return 0


def _policy_index(settings: Settings) -> PolicyIndex | None:
    from bot.config import load_config
    from bot.policy_source import open_policy

    path = settings.policy_path
    if path is None and settings.config_path.exists():
        path = load_config(settings.config_path).policy_path
    return open_policy(path).current()


def _ask(settings: Settings, question: str, as_json: bool) -> int:
    from bot.core.questions import answer_question, smalltalk_in
    from bot.handlers.questions import QUESTION_MAX

    index = _policy_index(settings)
    if index is None:
        raise SettingsError(
            "SOCIALDESK_POLICY: no policy document configured (or policy: in the YAML), so "
            "there is nothing to answer from"
        )
    # One line in, one answer out, at once: a program may send a question and wait for it.
    lines = sys.stdin if question == "-" else [question]
    for line in lines:
        text = " ".join(line.split())
        sections: list[dict[str, object]] = []
        confident = False
        quoted: list[str] = []
        talk = smalltalk_in(index.knowledge, text) if text else None
        if not text:
            answer = "Ask a question about the policy."
        elif talk is not None:
            answer = talk.reply
        elif len(text) > QUESTION_MAX:
            answer = f"Please ask in fewer than {QUESTION_MAX} characters."
        else:
            found = answer_question(index, text)
            answer, confident = found.text, found.confident
            sections = [
                {"title": s.section.short_title, "score": round(s.score, 3)} for s in found.ranked
            ]
            quoted = [
                f"{q.section.short_title}: {p.quoted}" for q in found.quoted for p in q.passages
            ]
        if as_json:
            print(
                json.dumps({"answer": answer, "confident": confident, "sections": sections}),
                flush=True,
            )
            continue
        print(answer, flush=not quoted and not sections)
        for passage in quoted:
            print(f"  > {passage}")
        for section in sections:
            print(f"  {section['score']:>7} {section['title']}", flush=True)
    return 0


async def _policy(settings: Settings) -> int:
    from bot.store.question_repo import SqlQuestions

    index = _policy_index(settings)
    if index is None:
        print("no policy document configured (SOCIALDESK_POLICY, or policy: in the YAML)")
        return 0
    document = index.document
    print(f"{document.source}: version {document.digest[:12]}, {len(document.sections)} sections")
    for section in document.sections:
        count = len(section.passages)
        kind = f"{count} passage{'' if count == 1 else 's'}" if count else "heading only"
        print(f"  {section.digest[:12]}  {section.short_title} ({kind})")
    for review in index.reviews:
        now = f"now {review.current}" if review.current else "no longer in the document"
        print(
            f"held back for review: answers for {review.title!r} were checked against "
            f"{review.reviewed}, {now}"
        )
    for title, count in index.orphan_phrasings.items():
        print(f"held back for review: {count} staff phrasings name {title!r}, not in the document")
    if settings.database_url:
        try:
            async with _existing_database(settings) as engine, engine.connect() as db:
                learned = await SqlQuestions(db).learned()
        except SettingsError as error:
            print(f"kept answers not checked: {error}")
            return 0
        for entry in learned:
            if not entry.still_fits(document):
                # By reference only: the question is the asker's, not the console's.
                print(
                    f"held back for review: the IT Network Manager's kept answer to "
                    f"{entry.reference}; the policy it was given for has changed"
                )
    return 0


def _sqlite_file_missing(database_url: str) -> bool:
    from sqlalchemy import make_url

    url = make_url(database_url)
    return (
        url.get_backend_name() == "sqlite"
        and bool(url.database)
        and not (url.database == ":memory:" or Path(url.database or "").exists())
    )


@contextlib.asynccontextmanager
async def _existing_database(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The bot's database as it is: reading commands never change its schema under a running
    bot, so one that is behind (or absent) is reported instead."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.db import current_revision, head_revision, make_engine

    if _sqlite_file_missing(settings.database_url):
        # Opening it would create an empty file where the bot's database should be.
        raise SettingsError("DATABASE_URL: no socialdesk database there yet")
    engine = make_engine(settings.database_url)
    try:
        try:
            found = await current_revision(engine)
        except (OSError, SQLAlchemyError) as error:
            raise SettingsError(
                f"DATABASE_URL: cannot open the database ({type(error).__name__}: {error})"
            ) from error
        if found is None:
            raise SettingsError("DATABASE_URL: no socialdesk database there yet")
        if found != head_revision():
            raise SettingsError(
                f"the database schema is at revision {found}, this socialdesk needs "
                f"{head_revision()}: run `socialdesk migrate` first"
            )
        yield engine
    finally:
        await engine.dispose()


async def _audit(settings: Settings, since_text: str | None, as_json: bool) -> int:
    from bot.config import load_config
    from bot.core.clock import SchoolTime
    from bot.store.repos import SqlAuditLog

    school_time = SchoolTime(load_config(settings.config_path).timezone)
    since = None
    if since_text:
        try:
            since = school_time.start_of(date.fromisoformat(since_text))
        except ValueError:
            raise SettingsError(
                f"--since must be a date (YYYY-MM-DD), not {since_text!r}"
            ) from None
    async with _existing_database(settings) as engine, engine.connect() as db:
        entries = await SqlAuditLog(db).entries(since)
    for entry in entries:
        if as_json:
            print(
                json.dumps(
                    {
                        "id": entry.id,
                        "at": entry.at.isoformat(),
                        "actor": entry.actor_key,
                        "action": entry.action,
                        "object_type": entry.object_type,
                        "object_id": entry.object_id,
                        "detail": dict(entry.detail),
                    }
                )
            )
        else:
            detail = " ".join(f"{k}={v}" for k, v in entry.detail.items())
            print(
                f"{school_time.stamp(entry.at)}  {entry.actor_key}  {entry.action}  "
                f"{entry.object_type} {entry.object_id}  {detail}".rstrip()
            )
    return 0


async def _history(settings: Settings, reference: str, as_json: bool) -> int:
    from bot.config import load_config
    from bot.core.clock import SchoolTime
    from bot.core.people import UNSIGNED, Signature
    from bot.handlers.posts import history_of
    from bot.store.repos import SqlUnitOfWork

    school = load_config(settings.config_path)
    school_time = SchoolTime(school.timezone)

    def who(key: str, signed: Signature = UNSIGNED) -> str:
        """As they were when they acted (kept with each step); rows from before that was kept
        are named as the configuration names them today."""
        if not (signed.name or signed.identity):
            signed = school.directory.signature(key)
        return signed.describe(fallback=key)

    async with _existing_database(settings) as engine, engine.connect() as db:
        found = await history_of(SqlUnitOfWork(db), reference)
    if found is None:
        print(f"socialdesk: no draft post {reference!r}", file=sys.stderr)
        return 1
    post = found.post
    if as_json:
        print(
            json.dumps(
                {
                    "reference": post.reference,
                    "state": post.state.value,
                    "version": post.version,
                    "submitter": post.submitter_key,
                    "versions": [
                        {
                            "version": v.version,
                            "at": v.at.isoformat(),
                            "by": v.by,
                            "by_name": v.signed.name,
                            "by_identity": v.signed.identity,
                            "accounts": list(v.accounts),
                            "text": v.text,
                        }
                        for v in found.versions
                    ],
                    "steps": [
                        {
                            "at": e.at.isoformat(),
                            "by": e.actor_key,
                            "by_name": e.signed.name,
                            "by_identity": e.signed.identity,
                            "from": e.from_state,
                            "to": e.to_state,
                            "version": e.version,
                            "note": e.note,
                        }
                        for e in found.events
                    ],
                    "links": [{"account": link.account, "url": link.url} for link in found.links],
                }
            )
        )
        return 0
    print(f"{post.reference}: {post.state.value.replace('_', ' ')}, version {post.version}")
    first = found.versions[0] if found.versions else None
    print(f"submitted by {who(post.submitter_key, first.signed if first else UNSIGNED)}")
    for version in found.versions:
        print(
            f"\nversion {version.version}, {school_time.stamp(version.at)} "
            f"by {who(version.by, version.signed)} "
            f"for {', '.join(version.accounts)}"
        )
        for line in (version.text or "(text purged)").splitlines():
            print(f"  | {line}")
    print("\nsteps:")
    for entry in found.events:
        step = f"{entry.from_state or 'new'} -> {entry.to_state}"
        print(
            f"  {school_time.stamp(entry.at)}  v{entry.version}  {step}  "
            f"by {who(entry.actor_key, entry.signed)}"
        )
        for line in (entry.note or "").splitlines():
            print(f"      {line}")
    if found.links:
        print("\nlive:")
        for link in found.links:
            print(f"  {link.account}: {link.url}")
    return 0


def _school_day(text: str | None, what: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"{what} {text!r} is not a date (YYYY-MM-DD)") from None


def _spreadsheet_safe(value: str) -> str:
    # A cell starting =, +, - or @ is run as a formula by spreadsheets: text people typed
    # must never run (OWASP, CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def _export(
    settings: Settings, what: str, since_text: str | None, until_text: str | None, out: str | None
) -> int:
    from bot.config import load_config
    from bot.handlers import reports
    from bot.store.repos import SqlUnitOfWork

    school = load_config(settings.config_path)
    ctx = _report_context(school)
    since_day = _school_day(since_text, "--from")
    until_day = _school_day(until_text, "--to")
    since = ctx.school_time.start_of(since_day) if since_day else None
    until = ctx.school_time.start_of(until_day + timedelta(days=1)) if until_day else None
    friend = what == "friend-requests"
    async with _existing_database(settings) as engine, engine.connect() as db:
        found = await SqlUnitOfWork(db).reports.listed(
            since, until, reports.FRIEND_REQUESTS if friend else ()
        )
    columns = reports.FRIEND_REQUEST_COLUMNS if friend else reports.REPORT_COLUMNS
    row_of = reports.friend_request_row if friend else reports.export_row
    _write_csv(out, columns, [row_of(ctx, record) for record in found])
    if out:
        print(f"wrote {len(found)} {what.replace('-', ' ')} to {out}", file=sys.stderr)
    return 0


def _write_csv(out: str | None, columns: Sequence[str], rows: list[dict[str, str]]) -> None:
    import csv

    with (
        open(out, "w", newline="", encoding="utf-8") if out else contextlib.nullcontext(sys.stdout)
    ) as target:
        writer = csv.DictWriter(target, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _spreadsheet_safe(v) for k, v in row.items()})


def _report_context(school: Any) -> Any:
    from bot.core.clock import SchoolTime, SystemClock
    from bot.handlers import HandlerContext

    return HandlerContext(
        school_name=school.name,
        policy_contact=school.policy_contact,
        accounts=school.accounts,
        directory=school.directory,
        clock=SystemClock(),
        school_time=SchoolTime(school.timezone),
        calendar=school.calendar,
        deadlines=school.deadlines,
    )


async def _report(settings: Settings, reference: str) -> int:
    from bot.config import load_config
    from bot.handlers import reports
    from bot.store.repos import SqlUnitOfWork

    school = load_config(settings.config_path)
    async with _existing_database(settings) as engine, engine.connect() as db:
        record = await SqlUnitOfWork(db).reports.find(reference)
    if record is None:
        print(f"socialdesk: no report {reference!r}", file=sys.stderr)
        return 1
    print(reports.chronology_text(_report_context(school), record))
    return 0


async def _reports(settings: Settings, held_only: bool) -> int:
    from bot.config import load_config
    from bot.core.clock import SchoolTime
    from bot.store.repos import SqlUnitOfWork

    school = load_config(settings.config_path)
    school_time = SchoolTime(school.timezone)
    async with _existing_database(settings) as engine, engine.connect() as db:
        found = await SqlUnitOfWork(db).reports.listed()
    shown = [r for r in found if r.held or not held_only]
    for record in shown:
        print(
            f"{record.reference}  {record.rules.short:<22} {record.state.value:<13}"
            f"{school_time.stamp(record.created_at)}{'  HELD' if record.held else ''}"
        )
    if not shown:
        print("no held reports" if held_only else "no reports")
    return 0


async def _outbox(settings: Settings, retry: bool) -> int:
    from bot.store.outbox import FAILED, HELD, PENDING, Outbox

    async with _existing_database(settings) as engine:
        outbox = Outbox(engine)
        if retry:
            count = await outbox.requeue_failed(datetime.now(UTC))
            print(f"{count} failed item(s) queued again")
        lines = await outbox.lines([PENDING, HELD, FAILED])
    for line in lines:
        print(
            f"#{line.id} {line.kind} {line.status} {line.platform or '-'} "
            f"to={line.recipient_key or '-'} attempts={line.attempts} "
            f"next={line.next_attempt_at:%Y-%m-%d %H:%M:%S}Z {line.last_error or ''}".rstrip()
        )
    if not lines:
        print("nothing waiting")
    return 0


async def _teams(settings: Settings) -> int:
    from sqlalchemy import func, select

    from bot.config import load_config
    from bot.core.people import Platform
    from bot.store import teams as teams_store
    from bot.store.models import OUTBOX
    from bot.store.outbox import PENDING

    school = load_config(settings.config_path)
    configured = [
        (person, identity.external_id)
        for person in school.directory.people
        if (identity := person.identity_on(Platform.TEAMS)) is not None
    ]
    async with _existing_database(settings) as engine, engine.connect() as db:
        reach = await teams_store.reach_of(db, (aad for _, aad in configured))
        counts = await db.execute(
            select(OUTBOX.c.address, func.count())
            .where(OUTBOX.c.platform == Platform.TEAMS.value, OUTBOX.c.status == PENDING)
            .group_by(OUTBOX.c.address)
        )
        waiting: dict[str, int] = {address: count for address, count in counts}
    if not configured:
        print("nobody in the configuration has a Teams id")
    for person, aad in configured:
        known = reach.get(aad)
        if known is None:
            state = "has not added socialdesk yet"
        elif known.unreachable_since is not None:
            state = (
                f"unreachable since {known.unreachable_since:%Y-%m-%d %H:%M}Z "
                f"({known.unreachable_reason or 'removed the app'})"
            )
        else:
            state = "reachable"
        roles = ", ".join(sorted(r.value for r in person.roles)) or "staff"
        print(f"{person.name} ({roles}) {aad}: {state}; {waiting.get(aad, 0)} message(s) waiting")
    return 0


def _backup(settings: Settings, out: Path) -> int:
    import sqlite3

    from sqlalchemy import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        raise SettingsError(
            "DATABASE_URL is a PostgreSQL database: back it up with pg_dump -Fc (see README.md)"
        )
    if _sqlite_file_missing(settings.database_url) or not url.database:
        raise SettingsError("DATABASE_URL: no socialdesk database there yet")
    if out.exists() and out.stat().st_size > 0:
        raise SettingsError(f"{out} already exists: name a new file")
    # VACUUM INTO fills an empty file as it finds it, so the copy is private from the start.
    os.close(os.open(out, os.O_WRONLY | os.O_CREAT, 0o600))
    # Not read-only: a read-only connection leaves -wal and -shm files behind, owned by whoever
    # ran the backup, and a bot started later as another user could not open them.
    source = sqlite3.connect(url.database)
    try:
        # One read transaction: a consistent copy, taken while the bot goes on writing.
        source.execute("VACUUM INTO ?", (str(out),))
    except sqlite3.Error as error:
        out.unlink(missing_ok=True)
        raise SettingsError(f"backup failed: {error}") from error
    finally:
        source.close()
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


def _teams_package(settings: Settings, out: Path, source: str | None) -> int:
    from bot.teams.package import build_package

    app_id = settings.teams.app_id
    if app_id is None:
        raise SettingsError(
            "MICROSOFT_APP_ID is missing: the package names the bot by the app id of its "
            "Azure Bot registration"
        )
    folder = Path(source) if source else Path(__file__).resolve().parents[1] / "manifests" / "teams"
    out.write_bytes(build_package(folder, app_id))
    print(f"wrote {out} for app {app_id}: upload it in the Teams admin centre (Manage apps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
