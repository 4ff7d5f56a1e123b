"""Draft posts for the school's own social media accounts: the rules a draft must meet.

Every rule here comes from the school's Social Media Policy; each names its section.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from urllib.parse import urlsplit

from bot.core.people import Platform
from bot.core.states import PostState
from bot.core.typed import printable
from bot.core.ui import FormErrors

STAFF_PROTOCOL = "Staff protocol for use of social media"
PHOTOGRAPHS = "Photographs for use with social media"
RESPECTING_OTHERS = (
    "Respecting colleagues, pupils, parents, clients, service providers and stakeholders"
)

# Slack's plain-text input holds at most 3,000 characters; no school account we know of takes
# a longer post that a person would write in a chat form.
DRAFT_MAX_CHARS = 3000
# Slack's file input takes at most 10 files.
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
ATTACHMENT_TYPES = ("jpg", "jpeg", "png", "gif", "heic", "webp", "mp4", "mov", "pdf")

# Character limits of the platforms' own post boxes, used when the configuration names an
# account without a limit of its own.
KNOWN_ACCOUNT_LIMITS = {
    "x": 280,
    "twitter": 280,
    "instagram": 2200,
    "linkedin": 3000,
    "facebook": 63206,
}

TEXT = "text"
ACCOUNTS = "accounts"
ATTACHMENTS = "attachments"
WISHED_DATE = "wished_date"


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    max_chars: int | None

    @classmethod
    def named(cls, name: str, max_chars: int | None = None) -> Account:
        if max_chars is None:
            max_chars = KNOWN_ACCOUNT_LIMITS.get(name.strip().lower())
        return cls(name=name, max_chars=max_chars)


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    name: str
    label: str
    statement: str
    section: str
    refusal: str


# The confirmations every draft carries. Wording is ours; the rules are the policy's.
CHECKLIST: tuple[ChecklistItem, ...] = (
    ChecklistItem(
        name="parental_permission",
        label="Parents' permission",
        statement="Permission has been obtained from the parents or carers of every child shown.",
        section=STAFF_PROTOCOL,
        refusal=(
            "The policy needs specific permission from each child's parent or carer before "
            f"their image or information is used ({STAFF_PROTOCOL}, step 1)."
        ),
    ),
    ChecklistItem(
        name="no_identifying_information",
        label="No identifying information",
        statement=(
            "No child can be identified: certificates are blank and names on work cannot be "
            "read, unless extra consent for the name is held."
        ),
        section=STAFF_PROTOCOL,
        refusal=(
            "A post must not identify a child - no names on certificates or work - unless the "
            f"school holds additional consent ({STAFF_PROTOCOL}, step 2)."
        ),
    ),
    ChecklistItem(
        name="appropriate_images",
        label="Pupils shown appropriately",
        statement="Pupils are appropriately dressed and nobody is open to ridicule.",
        section=PHOTOGRAPHS,
        refusal=(
            "Pupils must be appropriately dressed and must not be subject to ridicule "
            f"({PHOTOGRAPHS})."
        ),
    ),
    ChecklistItem(
        name="do_not_publish_list",
        label="Do-not-publish list checked",
        statement=(
            "Nobody shown is on the school's list of children whose images must not be "
            "published, and anyone who asked not to be photographed is left out."
        ),
        section=PHOTOGRAPHS,
        refusal=(
            "Children on the school's do-not-publish list must never appear, and anyone who "
            f"asked not to be filmed or photographed must be respected ({PHOTOGRAPHS})."
        ),
    ),
    ChecklistItem(
        name="colleagues_permission",
        label="Colleagues' written permission",
        statement="Every colleague shown or named has given written permission.",
        section=RESPECTING_OTHERS,
        refusal=(
            "Nothing about a colleague may be posted without their advance written permission "
            "(Respecting colleagues, pupils, parents...)."
        ),
    ),
    ChecklistItem(
        name="school_devices",
        label="Taken on school devices",
        statement=(
            "Photos were taken on school devices, and any copy on a personal device has "
            "been deleted."
        ),
        section=PHOTOGRAPHS,
        refusal=(
            "Photos for social media may only be taken on school devices; any copy on another "
            f"device must be deleted once uploaded ({PHOTOGRAPHS})."
        ),
    ),
    ChecklistItem(
        name="positive_and_relevant",
        label="Positive and relevant",
        statement=(
            "The post is positive and relevant to the children, staff's good work, the school "
            "or its achievements, or it is an update or reminder for parents."
        ),
        section=STAFF_PROTOCOL,
        refusal=(
            "School posts must be positive and relevant, or an update or reminder for "
            f"parents ({STAFF_PROTOCOL}, steps 3 and 4)."
        ),
    ),
)
CHECKLIST_BY_NAME = {item.name: item for item in CHECKLIST}


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """A file as the platform offered it; the bot fetches and keeps its own copy."""

    platform: Platform
    source_id: str
    name: str
    mimetype: str
    size: int
    download_url: str


@dataclass(frozen=True, slots=True)
class DraftSubmission:
    """What a person sent from the draft form, before any rule was applied."""

    text: str
    accounts: tuple[str, ...]
    confirmed: frozenset[str]
    wished_date: str | None
    attachments: tuple[AttachmentRef, ...]
    # Names the form instance (on Slack, the modal's view id). A platform may show an error
    # when an answer is slow even though the draft was saved; submitting the same form again
    # then finds the saved draft instead of making a second one.
    form_key: str | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """A draft that meets every rule the form can check."""

    text: str
    accounts: tuple[str, ...]
    confirmed: tuple[str, ...]
    wished_date: date | None
    attachments: tuple[AttachmentRef, ...]


def validate_draft(
    submission: DraftSubmission, accounts: tuple[Account, ...], today: date
) -> tuple[Draft | None, FormErrors]:
    # Typed text may carry control characters or lone surrogates, which no database keeps.
    text = printable(submission.text).strip()
    chosen = tuple(dict.fromkeys(submission.accounts))
    errors = _text_and_accounts_errors(
        text, chosen, {account.name: account for account in accounts}
    )
    for item in CHECKLIST:
        if item.name not in submission.confirmed:
            errors[item.name] = item.refusal
    wished, wished_problem = _wished_date(submission.wished_date, today)
    if wished_problem:
        errors[WISHED_DATE] = wished_problem
    attachments_problem = _attachments_problem(submission.attachments)
    if attachments_problem:
        errors[ATTACHMENTS] = attachments_problem

    if errors:
        return None, FormErrors(errors)
    return (
        Draft(
            text=text,
            accounts=chosen,
            confirmed=tuple(item.name for item in CHECKLIST),
            wished_date=wished,
            attachments=submission.attachments,
        ),
        FormErrors(),
    )


def _text_and_accounts_errors(
    text: str, chosen: tuple[str, ...], known: Mapping[str, Account]
) -> dict[str, str]:
    """The text's own length, the accounts chosen, and then the text against each account's
    limit (only once both are otherwise right)."""
    errors: dict[str, str] = {}
    if not text:
        errors[TEXT] = "Write the text of the post."
    elif len(text) > DRAFT_MAX_CHARS:
        errors[TEXT] = (
            f"The draft is {len(text):,} characters; the form takes at most {DRAFT_MAX_CHARS:,}."
        )

    unknown = [name for name in chosen if name not in known]
    if not chosen:
        errors[ACCOUNTS] = "Choose at least one of the school's accounts."
    elif unknown:
        errors[ACCOUNTS] = f"Not one of the school's accounts: {', '.join(unknown)}."
    elif TEXT not in errors:
        too_long = [
            known[name]
            for name in chosen
            if known[name].max_chars is not None and len(text) > (known[name].max_chars or 0)
        ]
        if too_long:
            # Shown on the text, where the fix is made.
            errors[TEXT] = (
                "; ".join(
                    f"{account.name} takes at most {account.max_chars:,} characters"
                    for account in too_long
                )
                + f" - this draft has {len(text):,}."
            )
    return errors


def _wished_date(given: str | None, today: date) -> tuple[date | None, str | None]:
    """The publishing date asked for, if any, and what is wrong with it."""
    if not given:
        return None, None
    try:
        wished = date.fromisoformat(given)
    except ValueError:
        return None, "That is not a date; pick one from the calendar."
    if wished < today:
        return wished, "The publishing date is in the past."
    return wished, None


def _attachments_problem(attachments: tuple[AttachmentRef, ...]) -> str | None:
    if len(attachments) > MAX_ATTACHMENTS:
        return f"Attach at most {MAX_ATTACHMENTS} files."
    too_big = [a.name for a in attachments if a.size > MAX_ATTACHMENT_BYTES]
    if too_big:
        return (
            f"Each file may be at most {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB: "
            f"{', '.join(too_big)} is larger."
        )
    return None


# --- review: deciding on a draft, and after -----------------------------------------------

REASON = "reason"
REASON_MAX_CHARS = 2000
KEEP_ATTACHMENTS = "keep_attachments"
# A web address as browsers and the platforms' own share links give them.
LINK_MAX_CHARS = 2000


class Decision(StrEnum):
    """What an approver may decide on a draft ("Staff protocol for use of social media",
    step 5): confirm that it can go live, or send it back."""

    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    REJECT = "reject"

    @property
    def outcome(self) -> PostState:
        return _DECISION_STATES[self]

    @property
    def needs_reason(self) -> bool:
        return self is not Decision.APPROVE


_DECISION_STATES = {
    Decision.APPROVE: PostState.APPROVED,
    Decision.REQUEST_CHANGES: PostState.CHANGES_REQUESTED,
    Decision.REJECT: PostState.REJECTED,
}


@dataclass(frozen=True, slots=True)
class KeptAttachment:
    """A file the bot holds for a draft, as a card lists it."""

    id: int
    name: str
    mimetype: str
    size: int


@dataclass(frozen=True, slots=True)
class PostRecord:
    """A draft as it stands: its current version and where it is in review.

    `step` counts the changes the draft has been through; a card shows the draft at one step,
    so a later step replaces an earlier card and never the other way round.
    """

    id: int
    reference: str
    submitter_key: str
    state: PostState
    version: int
    step: int
    wished_date: date | None
    text: str
    accounts: tuple[str, ...]
    confirmed: tuple[str, ...]
    attachments: tuple[KeptAttachment, ...]
    version_submitted_at: datetime
    approved_version: int | None


@dataclass(frozen=True, slots=True)
class LiveLink:
    account: str
    url: str


def validate_reason(text: str | None) -> tuple[str | None, FormErrors]:
    reason = printable(text or "").strip()
    if not reason:
        return None, FormErrors({REASON: "Say why, so the submitter knows what to change."})
    if len(reason) > REASON_MAX_CHARS:
        return None, FormErrors(
            {REASON: f"Keep the reason to {REASON_MAX_CHARS:,} characters; it has {len(reason):,}."}
        )
    return reason, FormErrors()


def link_input_name(account: str) -> str:
    """The form input for one account's live link: stable, and safe as a Slack block id."""
    slug = "".join(c if c.isalnum() else "_" for c in account.lower()).strip("_")
    return f"link_{slug}"[:200]


def validate_live_links(
    accounts: tuple[str, ...], given: Mapping[str, str | None]
) -> tuple[tuple[LiveLink, ...], FormErrors]:
    """One live link per account the draft was approved for, each an http(s) address: the
    record that the IT Network Manager posted it ("Staff protocol for use of social media",
    step 6)."""
    errors: dict[str, str] = {}
    links: list[LiveLink] = []
    for account in accounts:
        name = link_input_name(account)
        url = (given.get(name) or "").strip()
        problem = _link_problem(url)
        if problem:
            errors[name] = f"{account}: {problem}"
        else:
            links.append(LiveLink(account, url))
    if errors:
        return (), FormErrors(errors)
    return tuple(links), FormErrors()


def _link_problem(url: str) -> str | None:
    if not url:
        return "give the address of the live post."
    if len(url) > LINK_MAX_CHARS:
        return f"an address of at most {LINK_MAX_CHARS:,} characters, please."
    if any(c.isspace() for c in url):
        return "a web address has no spaces."
    if not url.isprintable():
        return "that address has characters no web address has."
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "give a web address starting with https:// (or http://)."
    if not parts.hostname or "." not in parts.hostname:
        return "that address has no site in it."
    return None
