"""People, their platform identities and their roles.

Nobody is identified by display name: a person is known by the platform identities the
school's configuration gives them, and everyone the configuration does not name is staff.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.core.typed import printable


class Platform(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"


class Role(StrEnum):
    NETWORK_MANAGER = "network_manager"
    CO_HEAD = "co_head"
    DSL = "dsl"
    CHAIR_OF_GOVERNORS = "chair_of_governors"


@dataclass(frozen=True, slots=True)
class Identity:
    platform: Platform
    external_id: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.external_id}"


@dataclass(frozen=True, slots=True)
class Person:
    """A member of staff.

    `key` is the stable id stored in the database and the audit log. For a configured
    person it is their `id:` from the configuration, or else their first platform identity;
    for anyone else it is the identity they arrived with.
    """

    key: str
    name: str | None
    identities: tuple[Identity, ...]
    roles: frozenset[Role] = field(default_factory=frozenset)

    def holds(self, role: Role) -> bool:
        return role in self.roles

    def identity_on(self, platform: Platform) -> Identity | None:
        return next((i for i in self.identities if i.platform == platform), None)


@dataclass(frozen=True, slots=True)
class Signature:
    """Who acted, as they were at that moment, for the records: the name shown for them and
    their platform identities ("slack:U0TERRY"). Kept beside their key because the
    configuration changes, and a platform's name is known only while the bot is running."""

    name: str | None
    identity: str | None

    def describe(self, fallback: str) -> str:
        """ "Terry Teacher (Slack U0TERRY)"; `fallback` for what has neither."""
        shown = ", ".join(_shown_identity(i) for i in (self.identity or "").split() if i)
        if self.name and shown:
            return f"{self.name} ({shown})"
        return self.name or (f"{fallback} ({shown})" if shown else fallback)


# Nobody, or nobody to name: an anonymous reporter, the bot itself, rows from before 0006.
UNSIGNED = Signature(None, None)


def _shown_identity(identity: str) -> str:
    platform, _, external_id = identity.partition(":")
    label = {"slack": "Slack", "teams": "Teams"}.get(platform, platform)
    return f"{label} {external_id}" if external_id else identity


class Directory:
    """Who is who: resolves platform identities to people and roles to their holders."""

    def __init__(self, people: Iterable[Person]) -> None:
        self._people: tuple[Person, ...] = tuple(people)
        self._by_identity: dict[Identity, Person] = {}
        self._shown_names: dict[Identity, str] = {}
        self._by_key: dict[str, Person] = {}
        for person in self._people:
            if person.key in self._by_key:
                raise ValueError(f"two people share the id {person.key!r}")
            self._by_key[person.key] = person
            for identity in person.identities:
                if identity in self._by_identity:
                    raise ValueError(f"{identity} is given to more than one person")
                self._by_identity[identity] = person

    @property
    def people(self) -> tuple[Person, ...]:
        return self._people

    def resolve(self, identity: Identity) -> Person:
        known = self._by_identity.get(identity)
        if known is not None:
            return known
        return Person(
            key=str(identity), name=self._shown_names.get(identity), identities=(identity,)
        )

    def learn_name(self, identity: Identity, name: str | None, *, fallback: bool = False) -> None:
        """The display name a platform gave someone the configuration does not name, so
        that approvers on another platform see who sent a draft, and records say who acted.
        Shown, never used to identify anyone. `fallback`: a lesser name (a Slack username),
        kept only until a better one is known."""
        # As the platform sent it, which may carry control characters or lone surrogates
        # (a database refuses both); only what can be shown is kept.
        shown = printable(name or "").strip()[:200]
        if identity in self._by_identity or not shown:
            return
        if fallback and identity in self._shown_names:
            return
        self._shown_names[identity] = shown

    def knows_name(self, identity: Identity) -> bool:
        return identity in self._by_identity or identity in self._shown_names

    def by_key(self, key: str) -> Person | None:
        known = self._by_key.get(key)
        if known is not None:
            return known
        platform, _, external_id = key.partition(":")
        if platform in Platform.__members__.values() and external_id:
            return self.resolve(Identity(Platform(platform), external_id))
        return None

    def signature(self, key: str | None) -> Signature:
        """How the records name `key` now: the configuration's name, or the one the platform
        gave; the person's identities. Keys that are nobody's (anonymous, the bot) give none."""
        person = self.by_key(key) if key else None
        if person is None:
            return Signature(None, None)
        identities = " ".join(str(i) for i in person.identities)
        return Signature(person.name, identities[:500] or None)

    def holders(self, role: Role) -> tuple[Person, ...]:
        return tuple(p for p in self._people if role in p.roles)

    def unreachable(self, platforms: frozenset[Platform]) -> tuple[Person, ...]:
        """Holders of a role with no identity on any of these platforms: their messages wait."""
        return tuple(
            p
            for p in self._people
            if p.roles and not any(i.platform in platforms for i in p.identities)
        )

    def role_counts(self) -> Mapping[Role, int]:
        return {role: len(self.holders(role)) for role in Role}
