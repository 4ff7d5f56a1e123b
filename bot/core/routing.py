"""Who receives, decides, posts and answers: every such rule of the policy, in one place.

Each rule names the policy section it comes from (the titles of the example school's policy,
which the bot's own knowledge of the policy is written against). Handlers ask here and nowhere
else, so a school reading "who gets my report?" finds the answer, and its reason, in this file.

Throughout: a role may have several holders (deputies), and all of them are asked; nobody
decides on, answers or receives what they themselves sent or are named in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.people import Directory, Person, Role
from bot.core.reports import KINDS, ReportKind

# --- drafts for the school's accounts ("Staff protocol for use of social media") ------------


def approvers_for(directory: Directory, submitter: Person) -> tuple[Person, ...]:
    """Who confirms a draft before it goes live: every IT Network Manager ("Staff protocol for
    use of social media", step 5). A Network Manager's own draft goes to the Co-Headteachers,
    who hold overall responsibility ("Personnel Responsible for Implementing This Policy").
    With nobody in the first role but the submitter, the other role decides. Nobody is asked
    to approve their own draft."""
    first, fallback = Role.NETWORK_MANAGER, Role.CO_HEAD
    if submitter.holds(Role.NETWORK_MANAGER):
        first, fallback = Role.CO_HEAD, Role.NETWORK_MANAGER
    for role in (first, fallback):
        chosen = tuple(p for p in directory.holders(role) if p.key != submitter.key)
        if chosen:
            return chosen
    return ()


def named_by_role(people: tuple[Person, ...]) -> str:
    """Those chosen above, as a message names them: by the role they were chosen for."""
    if people and all(p.holds(Role.NETWORK_MANAGER) for p in people):
        return "the IT Network Manager"
    if people and all(p.holds(Role.CO_HEAD) for p in people):
        return "the Co-Headteachers"
    return "the people who approve drafts"


def posters_for(directory: Directory, submitter: Person) -> tuple[Person, ...]:
    """Who posts an approved draft: the IT Network Manager ("Staff protocol for use of social
    media", step 6), a Network Manager's own draft included once others approved it; with no
    Network Manager, whoever approves."""
    return directory.holders(Role.NETWORK_MANAGER) or approvers_for(directory, submitter)


# --- policy questions ("Personnel Responsible for Implementing This Policy") ----------------


def answerers_for(directory: Directory, asker_key: str) -> tuple[Person, ...]:
    """Who answers a question the bot could not: the IT Network Manager(s), to whom questions
    about the policy's content go ("Personnel Responsible for Implementing This Policy").
    Nobody answers their own question: a Network Manager's goes to the other Network Managers,
    or, with none, to the Co-Headteachers, who hold overall responsibility."""
    for role in (Role.NETWORK_MANAGER, Role.CO_HEAD):
        chosen = tuple(p for p in directory.holders(role) if p.key != asker_key)
        if chosen:
            return chosen
    return ()


# --- reports of concerns --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """Who receives a report. `oversight`: the Co-Headteachers (or the chair of governors) were
    added because someone who would have received it is named in it, or made it."""

    recipients: tuple[Person, ...]
    oversight: bool = False

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(p.key for p in self.recipients)


def first_receivers(kind: ReportKind) -> tuple[Role, ...]:
    """Who a report of `kind` goes to first, and the section that says so, in KINDS: disparaging
    content to the Co-Headteachers ("Protecting our business reputation"); a pupil's friend
    request to the DSL and the Network Manager, a parent's to the Network Manager, and a
    safeguarding concern to the DSL ("Personal Use of Social Media"); a colleague's misuse to
    the IT Network Manager ("Personnel Responsible for Implementing This Policy")."""
    return KINDS[kind].roles


def route(
    directory: Directory,
    kind: ReportKind,
    involved: Iterable[str],
    reporter_key: str | None,
    escalated: bool = False,
) -> Route:
    """Anyone named as involved never receives the report. A report naming one of its
    recipients goes to the others and to the Co-Headteachers, who hold overall responsibility
    ("Personnel Responsible for Implementing This Policy"); one naming both Co-Headteachers
    goes to the chair of governors. Nobody receives their own report (an anonymous one has no
    maker to leave out: see `bot.core.reports.anonymity`). `escalated`: it was not
    acknowledged in time, and oversight is added as well."""
    excluded = set(involved)
    named = set(excluded)
    if reporter_key:
        excluded.add(reporter_key)
    primary = _unique(p for role in first_receivers(kind) for p in directory.holders(role))
    chosen = tuple(p for p in primary if p.key not in excluded)
    heads = directory.holders(Role.CO_HEAD)
    heads_named = bool(heads) and all(h.key in named for h in heads)
    recipient_named = any(p.key in named for p in primary)
    chair = [c for c in directory.holders(Role.CHAIR_OF_GOVERNORS) if c.key not in excluded]
    base = chosen
    if heads_named or recipient_named or not chosen:
        oversight = [h for h in heads if h.key not in excluded]
        # The chair of governors stands above the Co-Headteachers: when both are named, or
        # when neither can receive it.
        if heads_named or not oversight:
            oversight += chair
        base = _unique([*chosen, *oversight])
    if not escalated:
        return Route(base, oversight=len(base) > len(chosen))
    # Unacknowledged in time: those above whoever has it, the Co-Headteachers, or above them
    # (when they have it already, or are named) the chair of governors.
    above = [h for h in heads if h.key not in excluded]
    if heads_named or _keys(above) <= _keys(base):
        above = chair
    everyone = _unique([*base, *above])
    return Route(everyone, oversight=len(everyone) > len(chosen))


def _unique(people: Iterable[Person]) -> tuple[Person, ...]:
    seen: dict[str, Person] = {}
    for person in people:
        seen.setdefault(person.key, person)
    return tuple(seen.values())


def _keys(people: Iterable[Person]) -> set[str]:
    return {p.key for p in people}
