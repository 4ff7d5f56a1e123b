"""The command line's record listings: the audit log, a draft's history, reports one by one,
listed, or exported as CSV."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from bot.cli_database import existing_database
from bot.settings import Settings, UsageError


async def print_audit(settings: Settings, since_text: str | None, as_json: bool) -> int:
    from bot.config import load_config
    from bot.core.clock import SchoolTime
    from bot.store.repos import SqlAuditLog

    since_day = school_day(since_text, "--since")
    school_time = SchoolTime(load_config(settings.config_path).timezone)
    since = school_time.start_of(since_day) if since_day else None
    async with existing_database(settings) as engine, engine.connect() as db:
        entries = await SqlAuditLog(db).entries(since)
    if not entries:
        # On standard error with --json, so that what reads the JSON lines reads none.
        when = f" since {since_day.isoformat()}" if since_day else ""
        print(f"no audit entries{when}", file=sys.stderr if as_json else sys.stdout)
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


async def print_history(settings: Settings, reference: str, as_json: bool) -> int:
    from bot.config import load_config
    from bot.core.clock import SchoolTime
    from bot.core.people import UNSIGNED, Signature
    from bot.handlers.post_history import history_of
    from bot.store.repos import SqlUnitOfWork

    school = load_config(settings.config_path)
    school_time = SchoolTime(school.timezone)

    def who(key: str, signed: Signature = UNSIGNED) -> str:
        """As they were when they acted (kept with each step); rows from before that was kept
        are named as the configuration names them today."""
        if not (signed.name or signed.identity):
            signed = school.directory.signature(key)
        return signed.describe(fallback=key)

    async with existing_database(settings) as engine, engine.connect() as db:
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


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def school_day(text: str | None, flag: str) -> date | None:
    """A day given on the command line. Only YYYY-MM-DD: date.fromisoformat would also take
    20260105 and 2026-W02-1, which a reader of the command may not read as the same day."""
    if text is None:
        return None
    try:
        if not _DAY.match(text.strip()):
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{flag} must be a date in the form YYYY-MM-DD, not {text!r}") from None


def _spreadsheet_safe(value: str) -> str:
    # A cell starting =, +, - or @ is run as a formula by spreadsheets: text people typed
    # must never run (OWASP, CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def export_csv(
    settings: Settings, what: str, since_text: str | None, until_text: str | None, out: str | None
) -> int:
    from bot.config import load_config
    from bot.handlers import report_records
    from bot.store.repos import SqlUnitOfWork

    since_day = school_day(since_text, "--from")
    until_day = school_day(until_text, "--to")
    if since_day and until_day and since_day > until_day:
        raise UsageError(
            f"--from {since_day.isoformat()} is after --to {until_day.isoformat()}: "
            "no report could be in between"
        )
    # `-` is standard output, as `ask -` reads standard input: never a file named "-" holding
    # safeguarding records wherever the command ran.
    out = None if out == "-" else out
    school = load_config(settings.config_path)
    ctx = _report_context(school)
    since = ctx.school_time.start_of(since_day) if since_day else None
    until = ctx.school_time.start_of(until_day + timedelta(days=1)) if until_day else None
    friend = what == "friend-requests"
    async with existing_database(settings) as engine, engine.connect() as db:
        found = await SqlUnitOfWork(db).reports.listed(
            since, until, report_records.FRIEND_REQUESTS if friend else ()
        )
    columns = report_records.FRIEND_REQUEST_COLUMNS if friend else report_records.REPORT_COLUMNS
    row_of = report_records.friend_request_row if friend else report_records.export_row
    _write_csv(out, columns, [row_of(ctx, record) for record in found])
    if out:
        print(f"wrote {len(found)} {what.replace('-', ' ')} to {out}", file=sys.stderr)
    return 0


def _write_csv(out: str | None, columns: Sequence[str], rows: list[dict[str, str]]) -> None:
    import csv

    from bot.cli_database import open_private

    with (
        open(open_private(out), "w", newline="", encoding="utf-8")
        if out
        else contextlib.nullcontext(sys.stdout)
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


async def print_report(settings: Settings, reference: str) -> int:
    from bot.config import load_config
    from bot.handlers import report_records
    from bot.store.repos import SqlUnitOfWork

    school = load_config(settings.config_path)
    async with existing_database(settings) as engine, engine.connect() as db:
        record = await SqlUnitOfWork(db).reports.find(reference)
    if record is None:
        print(f"socialdesk: no report {reference!r}", file=sys.stderr)
        return 1
    print(report_records.chronology_text(_report_context(school), record))
    return 0


async def list_reports(settings: Settings, held_only: bool) -> int:
    from bot.config import load_config
    from bot.core.clock import SchoolTime
    from bot.store.repos import SqlUnitOfWork

    school = load_config(settings.config_path)
    school_time = SchoolTime(school.timezone)
    async with existing_database(settings) as engine, engine.connect() as db:
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
