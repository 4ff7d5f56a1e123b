"""`socialdesk people`: who is in the school's Slack workspace and who has added socialdesk in
Teams, with their ids, and a `people:` block for the configuration made from them; and the
configured ids neither platform knows, for `socialdesk check-config`.

Nobody is identified by display name (DESIGN.md): names here only help an operator see who an
id belongs to. Someone in both Slack and Teams is shown as one person only where the match is
exact (the same email, or Slack's name is exactly Teams' name); the operator checks it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import yaml

from bot.cli_database import existing_database
from bot.core.people import Directory, Identity, Person, Platform, Role
from bot.core.typed import printable
from bot.settings import Settings, SettingsError

if TYPE_CHECKING:
    from bot.config import SchoolConfig
    from bot.slack.members import SlackMember, SlackRoster
    from bot.store.teams import TeamsMember


@dataclass
class Found:
    """What the platforms say, and why a platform says nothing."""

    slack: SlackRoster | None = None
    slack_missing: str | None = None
    teams: list[TeamsMember] = field(default_factory=list)
    teams_missing: str | None = None


@dataclass(frozen=True)
class Candidate:
    """One person as the platforms show them: in Slack, in Teams, or matched in both."""

    slack: SlackMember | None
    teams: TeamsMember | None

    @property
    def name(self) -> str | None:
        if self.slack is not None:
            return self.slack.name
        return self.teams.name if self.teams is not None else None

    @property
    def identities(self) -> tuple[Identity, ...]:
        found = []
        if self.slack is not None:
            found.append(Identity(Platform.SLACK, self.slack.user_id))
        if self.teams is not None:
            found.append(Identity(Platform.TEAMS, self.teams.aad_object_id))
        return tuple(found)


def configurable(identity: Identity) -> Identity | None:
    """The id as the configuration reads it, or None where it would refuse it: a Teams id that
    is no Entra object id is the Bot Framework Emulator's, kept in local mode."""
    from bot.config import identity_of

    return identity_of(identity.platform, identity.external_id)


async def show_people(settings: Settings, as_json: bool) -> int:
    directory = _configured(settings)
    found = Found()
    if settings.slack is None:
        found.slack_missing = "Slack is not configured (SLACK_BOT_TOKEN is not set)"
    else:
        from bot.slack.members import workspace_members

        found.slack = await workspace_members(settings.slack)
    found.teams, found.teams_missing = await _teams_members(settings)
    candidates = join(
        found.slack.members if found.slack is not None else (),
        found.teams,
    )
    reasons = unknown_reasons(
        directory, found.slack, found.teams if found.teams_missing is None else None
    )
    block = people_block(directory, candidates, reasons)
    if as_json:
        print(json.dumps(_as_json(found, directory, block), ensure_ascii=False, indent=2))
    else:
        print("\n".join([*_tables(found, directory), "", *block]))
    return 0


def _configured(settings: Settings) -> Directory:
    """The configuration's people; none yet when there is no configuration file, since
    listing people is how one is written."""
    from bot.config import load_config

    if not settings.config_path.exists():
        return Directory([])
    return load_config(settings.config_path).directory


async def _teams_members(settings: Settings) -> tuple[list[TeamsMember], str | None]:
    from bot.store import teams as teams_store

    try:
        async with existing_database(settings) as engine, engine.connect() as db:
            members = await teams_store.members(db)
    except SettingsError as error:
        return [], f"the database was not read ({error})"
    return sorted(
        members, key=lambda m: (not m.name, (m.name or "").casefold(), m.aad_object_id)
    ), None


def join(slack: Sequence[SlackMember], teams: Sequence[TeamsMember]) -> list[Candidate]:
    """Slack members and Teams users, one candidate each, except that a Teams user is joined
    to the one Slack member whose email or name is exactly the name Teams gives them (two such
    members, and it is left to the operator)."""
    by_name: dict[str, list[SlackMember]] = {}
    by_email: dict[str, list[SlackMember]] = {}
    for member in slack:
        for name in {member.real_name, member.display_name} - {None}:
            assert name is not None
            by_name.setdefault(name, []).append(member)
        if member.email:
            by_email.setdefault(member.email.casefold(), []).append(member)
    joined: dict[str, TeamsMember] = {}
    alone: list[TeamsMember] = []
    for user in teams:
        name = (user.name or "").strip()
        same = [*by_name.get(name, []), *by_email.get(name.casefold(), [])]
        found = {m.user_id for m in same}
        if name and len(found) == 1 and (only := next(iter(found))) not in joined:
            joined[only] = user
        else:
            alone.append(user)
    return [Candidate(m, joined.get(m.user_id)) for m in slack] + [
        Candidate(None, user) for user in alone
    ]


def _owners(directory: Directory) -> dict[Identity, Person]:
    return {identity: person for person in directory.people for identity in person.identities}


def _owner_of(
    owners: dict[Identity, Person], platform: Platform, external_id: str
) -> Person | None:
    """Who the configuration gives this id, read as the configuration reads ids."""
    identity = configurable(Identity(platform, external_id))
    return None if identity is None else owners.get(identity)


def people_block(
    directory: Directory,
    candidates: Iterable[Candidate],
    unknown: dict[Identity, str] | None = None,
) -> list[str]:
    """A `people:` list for the configuration: the configured people as they are (with any id
    found for a platform they have none on, and a note on each id `unknown` gives a reason
    for), then everyone else, without roles."""
    owners = _owners(directory)
    added: dict[str, dict[Platform, str]] = {}
    new: list[tuple[Candidate, list[Identity]]] = []
    for candidate in candidates:
        usable = [i for i in map(configurable, candidate.identities) if i is not None]
        owner = next((owners[i] for i in usable if i in owners), None)
        if owner is None:
            new.append((candidate, usable))
            continue
        for identity in usable:
            if identity not in owners and owner.identity_on(identity.platform) is None:
                added.setdefault(owner.key, {})[identity.platform] = identity.external_id
    roles = ", ".join(role.value for role in Role)
    lines = [
        "people:",
        "  # For socialdesk.yaml, in place of its people: list. Entries marked configured are",
        "  # as the configuration has them. Give everyone else who holds a role their roles:",
        f"  # ({roles}),",
        "  # and delete the others: whoever the configuration does not name is staff.",
    ]
    for person in directory.people:
        lines.extend(_configured_entry(person, added.get(person.key, {}), unknown or {}))
    for candidate, usable in new:
        refused = [i for i in candidate.identities if configurable(i) is None]
        for identity in refused:
            lines.append(
                f"  # left out: {shown(candidate.name) or 'someone'}'s {identity.platform} id "
                f"{shown(identity.external_id)!r}, which the configuration would refuse"
            )
        if usable:
            lines.append(f"  - name: {quoted(candidate.name)}" if candidate.name else "  -")
            lines.extend(_ids(usable, {}))
    return lines


def _configured_entry(
    person: Person, added: dict[Platform, str], unknown: dict[Identity, str]
) -> list[str]:
    entry = [f"  - name: {quoted(person.name)}" if person.name else "  -"]
    entry[0] += "  # configured"
    if person.key != str(person.identities[0]):
        entry.append(f"    id: {quoted(person.key)}")
    if person.roles:
        entry.append(f"    roles: [{', '.join(sorted(r.value for r in person.roles))}]")
    found = {Identity(p, i): "found: the same name or email" for p, i in added.items()}
    notes = {i: f"check: {reason}" for i, reason in unknown.items() if i in person.identities}
    return entry + _ids([*person.identities, *found], {**notes, **found})


def _ids(identities: Iterable[Identity], notes: dict[Identity, str]) -> list[str]:
    lines = []
    for identity in sorted(identities, key=lambda i: list(Platform).index(i.platform)):
        note = f"  # {notes[identity]}" if identity in notes else ""
        lines.append(f"    {identity.platform.value}: {identity.external_id}{note}")
    return lines


def quoted(text: str) -> str:
    """`text` as one double-quoted YAML scalar: a colon, a quote or a control character in a
    name (Slack and Teams allow them) cannot change what the block means."""
    dumped: str = yaml.safe_dump(text, default_style='"', allow_unicode=True, width=2**31)
    # YAML counts the bidirectional controls as printable; shown raw they would reorder the
    # pasted block on screen (U+202E), so they are written as escapes, which mean the same.
    return "".join(f"\\u{ord(c):04X}" if c in _BIDI_CONTROLS else c for c in dumped.strip())


_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def shown(text: str | None) -> str:
    """A name or email as typed, safe for a terminal: one line, no control characters."""
    return " ".join(printable(text or "").split())


def _tables(found: Found, directory: Directory) -> list[str]:
    owners = _owners(directory)

    def configured(platform: Platform, external_id: str) -> str:
        owner = _owner_of(owners, platform, external_id)
        return f"configured as {shown(owner.name or owner.key)}" if owner else ""

    lines: list[str] = []
    if found.slack is None:
        lines.append(f"Slack: {found.slack_missing}; listing Teams only")
    else:
        roster = found.slack
        lines.append(
            f"Slack: {len(roster.members)} people in the workspace (left out: {roster.bots} "
            f"bot(s), {len(roster.deleted_ids)} deleted member(s))"
        )
        rows = [
            (
                shown(m.user_id),
                shown(m.name) + (f" (@{shown(m.display_name)})" if m.display_name else ""),
                shown(m.email),
                configured(Platform.SLACK, m.user_id),
            )
            for m in roster.members
        ]
        lines.extend(_aligned(rows))
        if roster.members and not roster.emails_shown:
            lines.append(
                "  no email addresses came back: showing them needs the app's "
                "users:read.email scope"
            )
    if found.teams_missing is not None:
        lines.append(f"Teams: {found.teams_missing}; nobody listed")
    elif not found.teams:
        lines.append("Teams: nobody has added socialdesk yet")
    else:
        lines.append(f"Teams: {len(found.teams)} people have added socialdesk")
        lines.extend(
            _aligned(
                [
                    (
                        shown(t.aad_object_id),
                        shown(t.name) or "(no name)",
                        f"removed it {t.unreachable_since:%Y-%m-%d}" if t.unreachable_since else "",
                        configured(Platform.TEAMS, t.aad_object_id),
                    )
                    for t in found.teams
                ]
            )
        )
    return lines


def _aligned(rows: Sequence[tuple[str, ...]]) -> list[str]:
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _as_json(found: Found, directory: Directory, block: list[str]) -> dict[str, object]:
    owners = _owners(directory)

    def configured(platform: Platform, external_id: str) -> str | None:
        owner = _owner_of(owners, platform, external_id)
        return None if owner is None else owner.key

    slack: dict[str, object] | None = None
    if found.slack is not None:
        slack = {
            "members": [
                {
                    "id": m.user_id,
                    "name": m.name,
                    "display_name": m.display_name,
                    "email": m.email,
                    "configured": configured(Platform.SLACK, m.user_id),
                }
                for m in found.slack.members
            ],
            "bots_left_out": found.slack.bots,
            "deleted_left_out": len(found.slack.deleted_ids),
        }
    return {
        "slack": slack,
        "slack_missing": found.slack_missing,
        "teams": [
            {
                "id": t.aad_object_id,
                "name": t.name,
                "removed_since": t.unreachable_since.isoformat() if t.unreachable_since else None,
                "configured": configured(Platform.TEAMS, t.aad_object_id),
            }
            for t in found.teams
        ],
        "teams_missing": found.teams_missing,
        "people": "\n".join(block) + "\n",
    }


def unknown_reasons(
    directory: Directory, roster: SlackRoster | None, teams: Sequence[TeamsMember] | None
) -> dict[Identity, str]:
    """Why each configured id the platforms do not know is unknown, by id; a platform given
    as None was not asked."""
    added = None
    if teams is not None:
        stored = (configurable(Identity(Platform.TEAMS, t.aad_object_id)) for t in teams)
        added = {i.external_id for i in stored if i is not None}
    reasons: dict[Identity, str] = {}
    for person in directory.people:
        for identity in person.identities:
            external_id = identity.external_id
            if identity.platform == Platform.SLACK and roster is not None:
                if external_id in roster.deleted_ids:
                    reasons[identity] = "was deleted from the workspace"
                elif external_id not in roster.known_ids:
                    reasons[identity] = "is not known to the workspace"
            elif (
                identity.platform == Platform.TEAMS
                and added is not None
                and external_id not in added
            ):
                reasons[identity] = "has not added socialdesk in Teams yet"
    return reasons


async def unknown_identities(settings: Settings, school: SchoolConfig) -> list[str]:
    """For check-config: each configured Slack id the workspace does not know (or has
    deleted), and each configured Teams id of someone who has not added socialdesk in Teams;
    a line saying so when either could not be checked."""
    directory = school.directory
    lines: list[str] = []
    roster = None
    if settings.slack is not None and _anyone_on(directory, Platform.SLACK):
        from bot.slack.members import workspace_members

        try:
            roster = await workspace_members(settings.slack)
        except SettingsError as error:
            lines.append(f"Slack ids not checked: {error}")
    teams = None
    if _anyone_on(directory, Platform.TEAMS):
        members, missing = await _teams_members(settings)
        if missing is None:
            teams = members
        else:
            lines.append(f"Teams ids not checked: {missing}")
    reasons = unknown_reasons(directory, roster, teams)
    lines.extend(
        f"{_who(person)}: {identity.platform.title()} {identity.external_id} {reasons[identity]}"
        for person in directory.people
        for identity in person.identities
        if identity in reasons
    )
    return lines


def _anyone_on(directory: Directory, platform: Platform) -> bool:
    return any(person.identity_on(platform) is not None for person in directory.people)


def _who(person: Person) -> str:
    return shown(person.name) or person.key
