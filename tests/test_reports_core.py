"""The core of reports, without a platform: routes, working time, receipts and validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.config import parse_config
from bot.core.people import Directory, Identity, Person, Platform, Role
from bot.core.reports import (
    Deadlines,
    ReportKind,
    ReportSubmission,
    WorkingCalendar,
    new_receipt,
    parse_working_duration,
    receipt_digest,
    validate_report,
)
from bot.core.routing import route
from bot.settings import SettingsError
from tests.harness import FIXTURES

LONDON = ZoneInfo("Europe/London")


def person(key: str, *roles: Role) -> Person:
    return Person(
        key, key.title(), (Identity(Platform.SLACK, f"U0{key.upper()}"),), frozenset(roles)
    )


DIRECTORY = Directory(
    [
        person("sam", Role.NETWORK_MANAGER),
        person("nia", Role.NETWORK_MANAGER),
        person("chris", Role.CO_HEAD),
        person("alex", Role.CO_HEAD),
        person("dana", Role.DSL),
        person("deputy", Role.DSL),
        person("gill", Role.CHAIR_OF_GOVERNORS),
    ]
)


def to(
    kind: ReportKind,
    involved: tuple[str, ...] = (),
    reporter: str | None = "robin",
    escalated: bool = False,
) -> set[str]:
    return set(route(DIRECTORY, kind, involved, reporter, escalated).keys)


def test_each_kind_goes_where_the_policy_says() -> None:
    assert to(ReportKind.DISPARAGING) == {"chris", "alex"}
    assert to(ReportKind.PUPIL_REQUEST) == {"dana", "deputy", "sam", "nia"}
    assert to(ReportKind.PARENT_REQUEST) == {"sam", "nia"}
    assert to(ReportKind.STAFF_MISUSE) == {"sam", "nia"}
    assert to(ReportKind.SAFEGUARDING) == {"dana", "deputy"}


def test_the_named_never_receive_it_and_oversight_steps_in() -> None:
    # One recipient named: the others, and the Co-Headteachers.
    assert to(ReportKind.STAFF_MISUSE, ("sam",)) == {"nia", "chris", "alex"}
    assert to(ReportKind.SAFEGUARDING, ("dana",)) == {"deputy", "chris", "alex"}
    # One Co-Headteacher named: the other.
    assert to(ReportKind.DISPARAGING, ("chris",)) == {"alex"}
    # Both named: the chair of governors, and for other kinds still their own recipients.
    assert to(ReportKind.DISPARAGING, ("chris", "alex")) == {"gill"}
    assert to(ReportKind.STAFF_MISUSE, ("chris", "alex")) == {"sam", "nia", "gill"}
    # Someone named who would not have received it changes nothing.
    assert to(ReportKind.PARENT_REQUEST, ("dana",)) == {"sam", "nia"}


def test_nobody_receives_their_own_report() -> None:
    assert to(ReportKind.SAFEGUARDING, reporter="dana") == {"deputy"}
    # The only recipient reporting: those above them.
    alone = Directory([person("sam", Role.NETWORK_MANAGER), person("chris", Role.CO_HEAD)])
    assert set(route(alone, ReportKind.STAFF_MISUSE, (), "sam").keys) == {"chris"}


def test_escalation_adds_those_above() -> None:
    assert to(ReportKind.SAFEGUARDING, escalated=True) == {"dana", "deputy", "chris", "alex"}
    assert to(ReportKind.DISPARAGING, escalated=True) == {"chris", "alex", "gill"}
    # Whoever has it already, there is someone above: a Co-Headteacher's own report, or one
    # that went to the Co-Headteachers for oversight, escalates to the chair of governors.
    assert to(ReportKind.DISPARAGING, reporter="chris", escalated=True) == {"alex", "gill"}
    assert to(ReportKind.DISPARAGING, ("chris",), escalated=True) == {"alex", "gill"}
    assert to(ReportKind.STAFF_MISUSE, ("sam",), escalated=True) == {"nia", "chris", "alex", "gill"}
    no_dsl = Directory([person("chris", Role.CO_HEAD), person("gill", Role.CHAIR_OF_GOVERNORS)])
    escalated = route(no_dsl, ReportKind.SAFEGUARDING, (), None, escalated=True)
    assert set(escalated.keys) == {"chris", "gill"}


def test_an_anonymous_report_goes_where_anyones_would() -> None:
    # Leaving its maker out would name them by their absence; a Network Manager's anonymous
    # report goes to both Network Managers, as anyone's does.
    assert to(ReportKind.STAFF_MISUSE, reporter=None) == to(ReportKind.STAFF_MISUSE)


def test_a_report_nobody_can_receive_routes_to_nobody() -> None:
    heads_only = Directory([person("chris", Role.CO_HEAD), person("alex", Role.CO_HEAD)])
    # No DSL: the Co-Headteachers hold overall responsibility.
    assert set(route(heads_only, ReportKind.SAFEGUARDING, (), None).keys) == {"chris", "alex"}
    # Both named and no chair of governors: nobody.
    assert not route(heads_only, ReportKind.DISPARAGING, ("chris", "alex"), None).recipients


SCHOOL_DAY = WorkingCalendar(LONDON, time(8, 0), time(17, 0))


def at(day: str, clock: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), LONDON).astimezone(
        UTC
    )


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (at("2026-11-24", "10:00"), 1, at("2026-11-24", "11:00")),  # a Tuesday morning
        (at("2026-11-27", "16:30"), 1, at("2026-11-30", "08:30")),  # Friday late: Monday
        (at("2026-11-28", "10:00"), 1, at("2026-11-30", "09:00")),  # Saturday: Monday
        (at("2026-11-24", "20:00"), 1, at("2026-11-25", "09:00")),  # evening: next morning
        (at("2026-11-24", "07:00"), 9, at("2026-11-24", "17:00")),  # a whole day, early
        (at("2026-11-24", "10:00"), 9, at("2026-11-25", "10:00")),  # a working day later
        # The clocks go back on Sunday 25 October 2026: working hours stay local.
        (at("2026-10-23", "16:00"), 2, at("2026-10-26", "09:00")),
    ],
)
def test_working_time_skips_nights_and_weekends(start: datetime, hours: int, due: datetime) -> None:
    assert SCHOOL_DAY.add(start, timedelta(hours=hours)) == due


def test_bank_holidays_and_the_gaps_between_terms_are_not_working_time() -> None:
    calendar = WorkingCalendar(
        LONDON,
        time(8, 30),
        time(16, 30),
        terms=((date(2026, 9, 2), date(2026, 12, 18)), (date(2027, 1, 5), date(2027, 3, 26))),
        holidays=frozenset({date(2027, 1, 5)}),
    )
    # Reported on the last afternoon of term: due on the first working day of the next,
    # which is not the bank holiday the school set.
    due = calendar.add(at("2026-12-18", "16:00"), timedelta(hours=1))
    assert due == at("2027-01-06", "09:00")
    assert calendar.day_length == timedelta(hours=8)
    assert Deadlines().for_kind(ReportKind.PARENT_REQUEST, calendar) == timedelta(hours=8)
    assert Deadlines().for_kind(ReportKind.PUPIL_REQUEST, calendar) == timedelta(hours=1)


def test_a_calendar_with_no_working_days_still_gives_a_deadline() -> None:
    never = WorkingCalendar(LONDON, weekdays=frozenset())
    start = at("2026-11-24", "10:00")
    assert never.add(start, timedelta(hours=1)) == start + timedelta(hours=1)


def test_working_durations() -> None:
    assert parse_working_duration("1h", SCHOOL_DAY) == timedelta(hours=1)
    assert parse_working_duration("30 minutes", SCHOOL_DAY) == timedelta(minutes=30)
    assert parse_working_duration("1d", SCHOOL_DAY) == timedelta(hours=9)
    assert parse_working_duration("2 days", SCHOOL_DAY) == timedelta(hours=18)
    for bad in ("soon", "0h", "-1h", "1 week"):
        assert parse_working_duration(bad, SCHOOL_DAY) is None


def test_the_configuration_sets_working_time_and_names_its_mistakes(tmp_path: Path) -> None:
    raw = yaml.safe_load((FIXTURES / "school.yaml").read_text())
    raw["reports"] = {
        "working_hours": "08:30-16:00",
        "working_days": ["Mon", "tue", "wednesday", "thu", "fri"],
        "term_dates": [{"from": "2026-09-02", "to": "2026-12-18"}],
        "bank_holidays": ["2026-12-25"],
        "acknowledge_within": {"dsl": "30m", "other": "2d"},
    }
    school = parse_config(raw, tmp_path / "s.yaml")
    assert school.calendar.starts == time(8, 30) and school.calendar.ends == time(16, 0)
    assert school.deadlines.urgent == timedelta(minutes=30)
    assert school.deadlines.other == timedelta(hours=15)
    for field, value, complaint in (
        ("working_hours", "9 till 5", "must look like 08:00-17:00"),
        ("working_hours", "17:00-08:00", "must end after they start"),
        ("working_days", ["Funday"], "is not a day of the week"),
        ("term_dates", [{"from": "2026-09-02"}], "term_dates[0]"),
        ("term_dates", [{"from": "2026-12-18", "to": "2026-09-02"}], "ends before it starts"),
        ("bank_holidays", ["Christmas"], "bank_holidays[0]"),
        ("acknowledge_within", {"dsl": "asap"}, "acknowledge_within.dsl"),
    ):
        broken = {**raw, "reports": {field: value}}
        with pytest.raises(SettingsError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
            parse_config(broken, tmp_path / "s.yaml")


def test_receipts_are_random_and_forgiving_to_type() -> None:
    code = new_receipt()
    assert len(code) == 24 and code.count("-") == 4 and code != new_receipt()
    digest = receipt_digest(code)
    assert digest is not None and len(digest) == 64
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert receipt_digest(typed) == digest
    for bad in ("", "ABCD", code + "X", code.replace(code[0], "U", 1)):
        assert receipt_digest(bad) is None


def submission(**given: object) -> ReportSubmission:
    fields: dict[str, object] = {
        "kind": "pupil_request",
        "where": "Instagram",
        "links": "https://instagram.com/x\n\n  https://example.org/y  ",
        "seen_on": "2026-11-24",
        "seen_at": "19:30",
        "details": "A request.",
    }
    fields.update(given)
    return ReportSubmission(**fields)  # type: ignore[arg-type]


NOW = at("2026-11-25", "10:00")


def test_a_valid_report_is_read_in_the_schools_time() -> None:
    valid, errors = validate_report(submission(), DIRECTORY, LONDON, NOW)
    assert not errors and valid is not None
    assert valid.links == ("https://instagram.com/x", "https://example.org/y")
    assert valid.seen_at == datetime(2026, 11, 24, 19, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"kind": ""}, "kind"),
        ({"kind": "gossip"}, "kind"),
        ({"links": "javascript:alert(1)"}, "links"),
        ({"links": "https://localhost"}, "links"),
        ({"details": "\x00 \n"}, "details"),
        ({"details": "x" * 3001}, "details"),
        ({"seen_on": "yesterday"}, "seen_on"),
        ({"seen_on": None, "seen_at": "10:00"}, "seen_on"),
        ({"seen_at": "25:99"}, "seen_at"),
        ({"seen_on": "2026-11-25", "seen_at": "23:00"}, "seen_at"),
        ({"involved": ("nobody-we-know",)}, "involved"),
        ({"anonymous": True}, "anonymously"),
    ],
)
def test_bad_input_is_refused_with_the_field_at_fault(given: dict[str, object], field: str) -> None:
    valid, errors = validate_report(submission(**given), DIRECTORY, LONDON, NOW)
    assert valid is None and field in errors.by_input
