"""`socialdesk questions`: the question report for the IT Network Manager (what staff asked,
per version of the policy, and where the bot fell short), and `socialdesk questions keep`,
which keeps an answer for one of them as the IT Network Manager's card does.

Nothing here can say who asked: the store lists the questions for the report without it.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from bot.cli_database import existing_database
from bot.cli_records import school_day
from bot.core.typed import parse_id, printable
from bot.settings import Settings, UsageError

if TYPE_CHECKING:
    from bot.config import SchoolConfig
    from bot.core.clock import SchoolTime
    from bot.core.people import Person
    from bot.core.question_report import Asked, QuestionReport, VersionReport


async def print_questions(settings: Settings, since_text: str | None, as_json: bool) -> int:
    from bot.config import load_config
    from bot.core.clock import SchoolTime
    from bot.core.question_report import question_report
    from bot.store.question_repo import SqlQuestions

    since_day = school_day(since_text, "--since")
    school = load_config(settings.config_path)
    school_time = SchoolTime(school.timezone)
    since = school_time.start_of(since_day) if since_day else None
    async with existing_database(settings) as engine, engine.connect() as db:
        listed = await SqlQuestions(db).listed(since)
    report = question_report(listed, school_time, since_day)
    if as_json:
        print(json.dumps(_as_json(report, school)))
    else:
        print(_as_text(report, school_time))
    return 0


def _shown(text: str) -> str:
    """What staff typed, on one line and inert in a terminal (no escape sequences)."""
    return " ".join(printable(text).split())


def _as_text(report: QuestionReport, school_time: SchoolTime) -> str:
    from bot.handlers.question_report import item_line

    since = f" since {report.since.isoformat()}" if report.since else ""
    if not report.versions:
        return f"no policy questions{since}"
    lines = [
        f"Policy questions{since}, newest policy version first. Times are to the day "
        f"({school_time.zone.key}); who asked is never kept or shown.",
    ]
    for version in report.versions:
        lines += ["", _heading(school_time, version)]
        if version.subjects:
            lines.append("  most asked:")
            lines += [
                f"    {s.count:>4}  {'topic' if s.topic else 'section'} {_shown(s.label)}"
                for s in version.subjects
            ]
        for listed in version.lists:
            if not listed.items:
                continue
            lines.append(f"  {listed.title} ({len(listed.items)}):")
            for item in listed.items:
                line = item_line(item, reason=listed.reasons)
                lines.append(f"    {_shown(line)}{_next(item)}")
    return "\n".join(lines)


def _next(item: Asked) -> str:
    if not item.may_keep:
        return ""
    if item.reference:
        return "  [answer it from its card in Slack or Teams, so whoever asked hears]"
    return f"  [socialdesk questions keep {item.id} --answer TEXT]"


def _heading(school_time: SchoolTime, version: VersionReport) -> str:
    first, last = (school_time.show_date(d) for d in (version.first_day, version.last_day))
    when = f"asked on {first}" if first == last else f"asked from {first} to {last}"
    name = f"{version.short} ({version.policy_hash})" if version.policy_hash else version.short
    counted = "1 question" if version.asked == 1 else f"{version.asked} questions"
    return (
        f"Policy version {name}: {counted} {when}; votes on the answers: {version.helpful} "
        f"helpful, {version.unhelpful} not helpful"
    )


def _as_json(report: QuestionReport, school: SchoolConfig) -> dict[str, Any]:
    return {
        "since": report.since.isoformat() if report.since else None,
        "time_zone": school.timezone.key,
        "versions": [
            {
                "policy_version": v.policy_hash,
                "short": v.short if v.policy_hash else None,
                "first_asked": v.first_day.isoformat(),
                "last_asked": v.last_day.isoformat(),
                "questions": v.asked,
                "helpful": v.helpful,
                "unhelpful": v.unhelpful,
                "most_asked": [
                    {"topic": s.topic, "section": s.section, "count": s.count} for s in v.subjects
                ],
                **{
                    listed.key: [
                        {
                            "id": item.id,
                            "asked_on": item.day.isoformat(),
                            "question": item.question,
                            **({"reason": item.reason} if listed.reasons else {}),
                            **(
                                {"reference": item.reference, "answered": item.answered}
                                if listed.key == "sent_on"
                                else {}
                            ),
                            "kept": item.kept,
                        }
                        for item in listed.items
                    ]
                    for listed in v.lists
                },
            }
            for v in report.versions
        ],
    }


async def keep_answer(
    settings: Settings, question_text: str, answer: str, as_name: str | None
) -> int:
    """Keep an answer for a question, as the IT Network Manager does from the report card, in
    the name of a configured IT Network Manager (the audit log says they kept it). It rests
    on no section in particular: it is held back once any of the policy changes."""
    from bot.config import load_config
    from bot.core.clock import SystemClock
    from bot.handlers.questions import keep_answer as keep
    from bot.runtime import handler_context
    from bot.startup import policy_of
    from bot.store.repos import SqlUnitOfWork

    question_id = parse_id(question_text.removeprefix("#"))
    if question_id is None:
        raise UsageError(
            f"QUESTION_ID must be a question's number as `socialdesk questions` lists it "
            f"(#12 or 12), not {question_text!r}"
        )
    school = load_config(settings.config_path)
    person = _network_manager(school, as_name)
    ctx = handler_context(school, policy_of(settings, school), SystemClock())
    async with (
        existing_database(settings) as engine,
        engine.connect() as db,
        db.begin() as transaction,
    ):
        outcome = await keep(ctx, SqlUnitOfWork(db, school.directory), person, question_id, answer)
        if outcome.refused:
            await transaction.rollback()
    if outcome.refused:
        for reason in outcome.errors.by_input.values():
            print(f"socialdesk: not kept: {_shown(reason)}", file=sys.stderr)
        return 1
    print(f"kept an answer for question #{question_id}, as {person.name or person.key}")
    return 0


def _network_manager(school: SchoolConfig, as_name: str | None) -> Person:
    from bot.core.people import Role
    from bot.terminal.chat import find_person

    directory = school.directory
    if as_name is None:
        managers = directory.holders(Role.NETWORK_MANAGER)
        if not managers:
            raise UsageError(
                "the configuration names no IT Network Manager (role network_manager) to keep "
                "the answer in the name of"
            )
        return managers[0]
    found = find_person(directory, as_name)
    if isinstance(found, str):
        raise UsageError(f"--as: {found}")
    if not found.holds(Role.NETWORK_MANAGER):
        raise UsageError(
            f"--as: {found.name or found.key} is not an IT Network Manager: only they keep answers"
        )
    return found
