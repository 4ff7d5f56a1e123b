"""The school's configuration file (YAML): the school, its official accounts and its people.

Roles come from here and nowhere else. Errors name the entry and the field at fault.
"""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.core.people import Directory, Identity, Person, Platform, Role
from bot.core.posts import Account, link_input_name
from bot.core.reports import Deadlines, WorkingCalendar, parse_working_duration
from bot.settings import SettingsError

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def identity_of(platform: Platform, external_id: str) -> Identity | None:
    """An id as the configuration reads it (a Slack member id; an Entra object id, written
    the one way a GUID is), or None where the configuration would refuse it."""
    if platform is Platform.SLACK:
        return Identity(platform, external_id) if SLACK_USER_ID.match(external_id) else None
    try:
        return Identity(platform, str(uuid.UUID(external_id)))
    except ValueError:
        return None


@dataclass(frozen=True)
class TeamsApp:
    """`teams_app:`, what the Teams app package says of the school's own deployment: the pages
    Teams shows for the app (the school's, not ours) and its version, which Teams requires to
    go up before it takes an updated package. Each is optional; unset, the package keeps
    manifests/teams/manifest.json's own."""

    website: str | None = None
    privacy: str | None = None
    terms: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class SchoolConfig:
    name: str
    timezone: ZoneInfo
    policy_contact: str | None
    policy_path: Path | None
    accounts: tuple[Account, ...]
    directory: Directory
    calendar: WorkingCalendar = field(
        default_factory=lambda: WorkingCalendar(ZoneInfo("Europe/London"))
    )
    deadlines: Deadlines = field(default_factory=Deadlines)
    teams_app: TeamsApp = field(default_factory=TeamsApp)


def load_config(path: Path) -> SchoolConfig:
    if not path.exists():
        raise SettingsError(
            f"the configuration file {path.resolve()} does not exist: copy "
            "socialdesk.example.yaml there to start one, or set SOCIALDESK_CONFIG to yours"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        # Notepad and older Word save "Siân" in Windows-1252 unless told otherwise.
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise SettingsError(
            f"{path}: line {line} is not UTF-8 text (byte 0x{error.object[error.start]:02x}); "
            "save the file as UTF-8"
        ) from None
    except OSError as error:
        raise SettingsError(f"{path}: cannot read it ({error.strerror})") from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader, stricter
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: not valid YAML: {_one_line(error)}") from None
    except RecursionError:
        raise SettingsError(f"{path}: nested too deeply to be a configuration") from None
    return parse_config(raw, path)


def _one_line(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}"
    return " ".join(str(error).split())


class _StrictLoader(yaml.SafeLoader):
    """YAML as a school's configuration needs it. A key given twice is refused, not decided
    silently for the later one (a second `people:` pasted below the first would drop every
    role above it); a date that does not exist is named with its line, not a traceback; and
    aliases (`*name`) are refused: nothing here needs them, and a few nested ones expand a
    small file into gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                "an alias (*name) is not taken here: write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # refused below, by SafeLoader, as an unhashable key
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node: Any) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as error:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a real date ({error})", node.start_mark
            ) from None


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)


# Every key the configuration may hold, where it may hold it: a misspelt one would otherwise be
# ignored without a word (`role: [dsl]` leaves a DSL as ordinary staff, and safeguarding reports
# go elsewhere). A mapping's value is the keys inside it; a list of one mapping is the keys of
# each entry of a list.
_KNOWN_KEYS: Mapping[str, Any] = {
    "school": {"name": None, "timezone": None, "policy_contact": None},
    "policy": None,
    "accounts": [{"name": None, "max_chars": None}],
    "people": [{"name": None, "roles": None, "slack": None, "teams": None, "id": None}],
    "reports": {
        "working_hours": None,
        "working_days": None,
        "term_dates": [{"from": None, "to": None}],
        "bank_holidays": None,
        "acknowledge_within": {"dsl": None, "other": None},
    },
    "teams_app": dict.fromkeys(f.name for f in fields(TeamsApp)),
}


def unknown_keys(raw: Any, known: Any = _KNOWN_KEYS, at: str = "") -> list[str]:
    """Each key in `raw` that the configuration does not have, by its path, with the known key
    it most resembles: "`people[3].role`: did you mean `roles`?"."""
    found: list[str] = []
    if isinstance(known, list) and isinstance(raw, list):
        for index, entry in enumerate(raw):
            found += unknown_keys(entry, known[0], f"{at}[{index}]")
    elif isinstance(known, Mapping) and isinstance(raw, dict):
        for key, value in raw.items():
            path = f"{at}.{key}" if at else str(key)
            if str(key) in known:
                found += unknown_keys(value, known[str(key)], path)
                continue
            near = difflib.get_close_matches(str(key).lower(), list(known), n=1, cutoff=0.6)
            hint = f"did you mean `{near[0]}`?" if near else f"known here: {', '.join(known)}"
            found.append(f"`{path}` is not a setting socialdesk knows: {hint}")
    return found


def parse_config(raw: Any, path: Path) -> SchoolConfig:
    where = str(path)
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}: expected a mapping with school, accounts and people")
    unknown = unknown_keys(raw)
    if unknown:
        raise SettingsError(f"{where}: " + "; ".join(unknown))

    school = raw.get("school")
    if not isinstance(school, dict) or not _text(school.get("name")):
        raise SettingsError(f"{where}: school.name is missing")
    zone_name = school.get("timezone", "Europe/London")
    try:
        zone = ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise SettingsError(f"{where}: school.timezone {zone_name!r} is not a time zone") from error

    policy = raw.get("policy")
    policy_path = None
    if policy is not None:
        if not _text(policy):
            raise SettingsError(f"{where}: policy must be the path of the policy document")
        policy_path = (path.parent / str(policy)).resolve()

    calendar, deadlines = _reports(raw.get("reports"), zone, where)
    return SchoolConfig(
        name=str(school["name"]).strip(),
        timezone=zone,
        policy_contact=_text(school.get("policy_contact")),
        policy_path=policy_path,
        accounts=_accounts(raw.get("accounts"), where),
        directory=_directory(raw.get("people"), where),
        calendar=calendar,
        deadlines=deadlines,
        teams_app=_teams_app(raw.get("teams_app"), where),
    )


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HOURS = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")


def _reports(raw: Any, zone: ZoneInfo, where: str) -> tuple[WorkingCalendar, Deadlines]:
    """`reports:`: the working time in which reports must be acknowledged (all optional)."""
    label = f"{where}: reports"
    if raw is None:
        return WorkingCalendar(zone), Deadlines()
    if not isinstance(raw, dict):
        raise SettingsError(f"{label} must be a mapping")
    starts, ends = _working_hours(raw.get("working_hours"), label)
    weekdays = _working_days(raw.get("working_days"), label)
    terms = _term_dates(raw.get("term_dates") or [], label)
    holidays = _bank_holidays(raw.get("bank_holidays") or [], label)
    calendar = WorkingCalendar(zone, starts, ends, weekdays, terms, holidays)
    return calendar, _deadlines(raw.get("acknowledge_within") or {}, calendar, label)


def _working_hours(hours: Any, label: str) -> tuple[time, time]:
    if hours is None:
        return time(8, 0), time(17, 0)
    match = _HOURS.match(str(hours))
    try:
        if match is None:
            raise ValueError
        starts, ends = (
            time.fromisoformat(match[1].zfill(5)),
            time.fromisoformat(match[2].zfill(5)),
        )
    except ValueError:
        raise SettingsError(f"{label}.working_hours {hours!r} must look like 08:00-17:00") from None
    if ends <= starts:
        raise SettingsError(f"{label}.working_hours must end after they start")
    return starts, ends


def _working_days(days: Any, label: str) -> frozenset[int]:
    if days is None:
        return frozenset(range(5))
    if not isinstance(days, list) or not days:
        raise SettingsError(f"{label}.working_days must list days, such as [mon, tue, wed]")
    chosen: set[int] = set()
    for day in days:
        typed = str(day).strip().lower()
        name = typed[:3]
        # mon or monday, not any word that starts as a day does (monkey).
        if name not in _WEEKDAYS or typed not in (name, _DAY_NAMES[_WEEKDAYS.index(name)]):
            raise SettingsError(f"{label}.working_days: {day!r} is not a day of the week")
        chosen.add(_WEEKDAYS.index(name))
    return frozenset(chosen)


def _term_dates(raw: Any, label: str) -> tuple[tuple[date, date], ...]:
    terms: list[tuple[date, date]] = []
    for index, term in enumerate(raw):
        first, last = (term.get("from"), term.get("to")) if isinstance(term, dict) else (None, None)
        try:
            span = (_day(first), _day(last))
        except ValueError:
            raise SettingsError(
                f"{label}.term_dates[{index}] must be {{from: YYYY-MM-DD, to: YYYY-MM-DD}}"
            ) from None
        if span[1] < span[0]:
            raise SettingsError(f"{label}.term_dates[{index}] ends before it starts")
        terms.append(span)
    return tuple(sorted(terms))


def _bank_holidays(raw: Any, label: str) -> frozenset[date]:
    holidays: set[date] = set()
    for index, holiday in enumerate(raw):
        try:
            holidays.add(_day(holiday))
        except ValueError:
            raise SettingsError(
                f"{label}.bank_holidays[{index}] {holiday!r} is not a date (YYYY-MM-DD)"
            ) from None
    return frozenset(holidays)


def _deadlines(within: Any, calendar: WorkingCalendar, label: str) -> Deadlines:
    """`acknowledge_within:`, read in `calendar`'s working time."""
    if not isinstance(within, dict):
        raise SettingsError(f"{label}.acknowledge_within must be a mapping (dsl:, other:)")
    durations = {}
    for key in ("dsl", "other"):
        if within.get(key) is None:
            continue
        duration = parse_working_duration(str(within[key]), calendar)
        if duration is None:
            raise SettingsError(
                f"{label}.acknowledge_within.{key} {within[key]!r} must be working time such "
                "as 1h, 30m or 1d"
            )
        durations[key] = duration
    return Deadlines(urgent=durations.get("dsl", Deadlines.urgent), other=durations.get("other"))


def _day(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


def _accounts(raw: Any, where: str) -> tuple[Account, ...]:
    if not isinstance(raw, list) or not raw:
        raise SettingsError(f"{where}: accounts must list the school's social media accounts")
    accounts: list[Account] = []
    for index, entry in enumerate(raw):
        if isinstance(entry, str) and entry.strip():
            accounts.append(Account.named(entry.strip()))
        elif isinstance(entry, dict) and _text(entry.get("name")):
            limit = entry.get("max_chars")
            if limit is not None and (not isinstance(limit, int) or limit < 1):
                raise SettingsError(
                    f"{where}: accounts[{index}].max_chars must be a positive whole number"
                )
            accounts.append(Account.named(str(entry["name"]).strip(), limit))
        else:
            raise SettingsError(
                f"{where}: accounts[{index}] must be a name or {{name: ..., max_chars: ...}}"
            )
    # Names that differ only in case or punctuation would share a form field (the live link
    # asked for on each account), so they count as the same account.
    keys = [link_input_name(a.name) for a in accounts]
    duplicates = sorted(
        {a.name for a, key in zip(accounts, keys, strict=True) if keys.count(key) > 1}
    )
    if duplicates:
        raise SettingsError(
            f"{where}: accounts lists the same account twice: {', '.join(duplicates)}"
        )
    return tuple(accounts)


def _directory(raw: Any, where: str) -> Directory:
    if not isinstance(raw, list):
        raise SettingsError(f"{where}: people must be a list")
    people: list[Person] = []
    for index, entry in enumerate(raw):
        label = f"{where}: people[{index}]"
        if not isinstance(entry, dict):
            raise SettingsError(f"{label} must be a mapping")
        name = _text(entry.get("name"))
        if name:
            label += f" ({name})"
        roles = _roles(entry.get("roles"), label)
        identities: list[Identity] = []
        slack = _text(entry.get("slack"))
        if slack is not None:
            slack_id = identity_of(Platform.SLACK, slack)
            if slack_id is None:
                raise SettingsError(f"{label}: slack {slack!r} is not a Slack user id (U...)")
            identities.append(slack_id)
        teams = _text(entry.get("teams"))
        if teams is not None:
            teams_id = identity_of(Platform.TEAMS, teams)
            if teams_id is None:
                raise SettingsError(f"{label}: teams {teams!r} is not an AAD object id (a GUID)")
            identities.append(teams_id)
        if not identities:
            raise SettingsError(f"{label} needs a slack or teams id")
        key = _text(entry.get("id")) or str(identities[0])
        people.append(Person(key=key, name=name, identities=tuple(identities), roles=roles))
    try:
        directory = Directory(people)
    except ValueError as error:
        raise SettingsError(f"{where}: {error}") from error
    # "Personnel Responsible for Implementing This Policy": the Co-Headteachers delegate the
    # day-to-day running to the IT Network Manager, who approves every school post.
    for role, why in (
        (Role.NETWORK_MANAGER, "approves draft posts"),
        (Role.CO_HEAD, "approves a Network Manager's own drafts"),
    ):
        if not directory.holders(role):
            raise SettingsError(f"{where}: nobody holds the {role.value} role, which {why}")
    return directory


def _roles(listed: Any, label: str) -> frozenset[Role]:
    if listed is None:
        return frozenset()
    # `roles: dsl` means the one role, not the letters d, s and l.
    if isinstance(listed, str):
        listed = [listed]
    if not isinstance(listed, list):
        raise SettingsError(f"{label}: roles must list role names, such as [dsl]")
    roles: set[Role] = set()
    for role in listed:
        try:
            roles.add(Role(str(role)))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise SettingsError(f"{label}: unknown role {role!r} (known: {known})") from None
    return frozenset(roles)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


TEAMS_APP_KEYS = tuple(f.name for f in fields(TeamsApp))
# The Teams manifest schema's `semver`: three whole numbers, no leading zeros, no pre-release.
TEAMS_APP_VERSION = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
URL_MAX = 2048  # the manifest schema's limit for its addresses


def https_address(value: Any, label: str) -> str:
    """A page Teams links to from the app: https only (the manifest schema would take http)."""
    text = str(value).strip()
    try:
        host = urlsplit(text).hostname if text.startswith("https://") else None
    except ValueError:
        host = None
    if not host or any(c.isspace() for c in text) or len(text) > URL_MAX:
        raise SettingsError(f"{label} must be an https:// address, not {text!r}")
    return text


def teams_app_version(value: Any, label: str) -> str:
    text = str(value).strip()
    if not TEAMS_APP_VERSION.match(text) or len(text) > 256:
        raise SettingsError(
            f"{label} must be a version of three whole numbers such as 1.0.3 (as Teams "
            f"requires), not {text!r}"
        )
    return text


def _teams_app(raw: Any, where: str) -> TeamsApp:
    if raw is None:
        return TeamsApp()
    known = ", ".join(TEAMS_APP_KEYS)
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}: teams_app must be a mapping of {known}")
    # An unknown key in it is refused with the rest (unknown_keys).

    def checked(key: str, check: Callable[[Any, str], str]) -> str | None:
        value = raw.get(key)
        return None if value is None else check(value, f"{where}: teams_app.{key}")

    return TeamsApp(
        website=checked("website", https_address),
        privacy=checked("privacy", https_address),
        terms=checked("terms", https_address),
        version=checked("version", teams_app_version),
    )
