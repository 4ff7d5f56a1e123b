"""What people see of a draft post: the approval card in each of its states, the messages its
submitter gets, and the forms for drafts, revisions, reasons and live links.

Wording is ours; each rule it mentions is the policy's, named by its section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.people import Person, Role
from bot.core.posts import (
    ACCOUNTS,
    ATTACHMENT_TYPES,
    ATTACHMENTS,
    CHECKLIST,
    CHECKLIST_BY_NAME,
    DRAFT_MAX_CHARS,
    KEEP_ATTACHMENTS,
    MAX_ATTACHMENTS,
    REASON,
    REASON_MAX_CHARS,
    STAFF_PROTOCOL,
    TEXT,
    WISHED_DATE,
    Decision,
    DraftSubmission,
    LiveLink,
    PostRecord,
    link_input_name,
)
from bot.core.routing import named_by_role
from bot.core.states import PostState
from bot.core.typed import parse_id
from bot.core.ui import (
    Block,
    BulletList,
    Button,
    Buttons,
    ButtonStyle,
    Choice,
    Confirmation,
    ConfirmDialog,
    DateInput,
    Fields,
    FileInput,
    Form,
    FormInput,
    Heading,
    Inline,
    Mention,
    Message,
    MultiChoice,
    Note,
    Paragraph,
    Quote,
    TextInput,
    UrlInput,
)
from bot.handlers import HandlerContext
from bot.handlers.workflow import FormValues

DRAFT_FORM = "post.draft"
REVISION_FORM = "post.revision"
REASON_FORM = "post.reason"
LINKS_FORM = "post.links"

# The choice that keeps a revised draft's earlier files.
KEEP = "keep"

APPROVE = "post.approve"
REQUEST_CHANGES = "post.request_changes"
REJECT = "post.reject"
MARK_POSTED = "post.mark_posted"
REVISE = "post.revise"
WITHDRAW = "post.withdraw"

DECISION_ACTIONS = {
    APPROVE: Decision.APPROVE,
    REQUEST_CHANGES: Decision.REQUEST_CHANGES,
    REJECT: Decision.REJECT,
}

STATE_WORDS = {
    PostState.AWAITING_APPROVAL: "waiting for approval",
    PostState.CHANGES_REQUESTED: "returned for changes",
    PostState.APPROVED: "approved",
    PostState.REJECTED: "rejected",
    PostState.WITHDRAWN: "withdrawn",
    PostState.POSTED: "posted",
}


def card_key(post_id: int, version: int) -> str:
    """Names the approval card of one version; every copy of it, for every approver."""
    return f"post:{post_id}:v{version}:approval"


def target(post_id: int, version: int) -> str:
    """What a button or form carries back: the draft and the version it was shown."""
    return f"{post_id}:{version}"


def parse_target(value: str) -> tuple[int, int] | None:
    post_id, _, version = value.partition(":")
    ids = (parse_id(post_id), parse_id(version))
    return None if None in ids else (int(post_id), int(version))


def reason_target(post_id: int, version: int, decision: Decision) -> str:
    return f"{target(post_id, version)}:{decision.value}"


def parse_reason_target(value: str) -> tuple[int, int, Decision] | None:
    head, _, decision = value.rpartition(":")
    parsed = parse_target(head)
    if parsed is None or decision not in Decision.__members__.values():
        return None
    return parsed[0], parsed[1], Decision(decision)


@dataclass(frozen=True, slots=True)
class Status:
    """What has happened to the version a card shows, and who did it."""

    state: PostState
    by: Person | None = None
    at: datetime | None = None
    reason: str | None = None
    links: tuple[LiveLink, ...] = ()
    newer_version: int | None = None


# --- forms ---------------------------------------------------------------------------------


def draft_form(ctx: HandlerContext, revising: PostRecord | None = None) -> Form:
    limits = [f"{a.name} {a.max_chars:,}" for a in ctx.accounts if a.max_chars is not None]
    intro: tuple[Block, ...]
    if revising is None:
        intro = (
            Paragraph.of(
                f"Drafts for {ctx.school_name}'s own accounts go to the IT Network Manager, "
                "who confirms them before anything goes live."
            ),
        )
    else:
        # The confirmations are about this version's content, which may have changed (a new
        # photo, a different child): they are asked afresh rather than carried over.
        intro = (
            Paragraph.of(
                f"Revising {revising.reference} (version {revising.version}). The new version "
                "goes for approval again; tick each confirmation afresh for it."
            ),
        )
    inputs: list[FormInput] = [
        TextInput(
            name=TEXT,
            label="Text of the post",
            multiline=True,
            max_length=DRAFT_MAX_CHARS,
            hint=("Character limits: " + ", ".join(limits) + ".") if limits else None,
            initial=revising.text if revising else None,
        ),
        MultiChoice(
            name=ACCOUNTS,
            label="Post on",
            choices=tuple(Choice(a.name, a.name) for a in ctx.accounts),
            initial=revising.accounts if revising else (),
        ),
    ]
    if revising is not None and revising.attachments:
        names = ", ".join(a.name for a in revising.attachments)
        inputs.append(
            MultiChoice(
                name=KEEP_ATTACHMENTS,
                label="Files from the last version",
                choices=(Choice(KEEP, f"Keep {len(revising.attachments)} file(s)"),),
                required=False,
                hint=f"{names}. Untick to drop them.",
                initial=(KEEP,),
            )
        )
    inputs += [
        FileInput(
            name=ATTACHMENTS,
            label="Photos or files" if revising is None else "Add photos or files",
            max_files=MAX_ATTACHMENTS,
            file_types=ATTACHMENT_TYPES,
            hint="Only photos taken on school devices.",
            elsewhere="Photos go on a draft when they are sent in this chat in the same message "
            "as the word post.",
        ),
        DateInput(
            name=WISHED_DATE,
            label="Publish on (optional)",
            hint="The day you would like it to go out.",
            initial=revising.wished_date.isoformat() if revising and revising.wished_date else None,
        ),
        *(
            Confirmation(name=item.name, label=item.label, statement=item.statement)
            for item in CHECKLIST
        ),
    ]
    return Form(
        form_id=DRAFT_FORM if revising is None else REVISION_FORM,
        title="Draft a school post" if revising is None else f"Revise {revising.reference}",
        submit_label="Send for approval",
        intro=intro,
        inputs=tuple(inputs),
        context="" if revising is None else target(revising.id, revising.version),
    )


def reason_form(post: PostRecord, decision: Decision) -> Form:
    returning = decision is Decision.REQUEST_CHANGES
    return Form(
        form_id=REASON_FORM,
        title="Request changes" if returning else "Reject the draft",
        submit_label="Send it back" if returning else "Reject",
        intro=(
            Paragraph.of(
                f"{post.reference}, version {post.version}: "
                + (
                    "the submitter can revise it and send it again."
                    if returning
                    else "rejecting is final; the submitter would start a new draft."
                )
            ),
            Quote(post.text),
        ),
        inputs=(
            TextInput(
                name=REASON,
                label="What should change" if returning else "Why it cannot be posted",
                multiline=True,
                max_length=REASON_MAX_CHARS,
                hint="The submitter sees this.",
            ),
        ),
        context=reason_target(post.id, post.version, decision),
    )


def links_form(post: PostRecord) -> Form:
    return Form(
        form_id=LINKS_FORM,
        title="Mark as posted",
        submit_label="Mark as posted",
        intro=(
            Paragraph.of(
                f"{post.reference}, version {post.version}: paste the address of the live post "
                "on each account. The submitter is told."
            ),
        ),
        inputs=tuple(
            UrlInput(name=link_input_name(account), label=f"Live link on {account}")
            for account in post.accounts
        ),
        context=target(post.id, post.version),
    )


# --- the approval card ---------------------------------------------------------------------


def approval_card(
    ctx: HandlerContext, post: PostRecord, submitter: Person, status: Status | None = None
) -> Message:
    """The card approvers get. Without a status the version waits for a decision and the card
    carries the decision buttons; with one it shows what happened, and who did it."""
    school_time = ctx.school_time
    wished = school_time.show_date(post.wished_date) if post.wished_date else "no date given"
    fields: tuple[tuple[str, Inline], ...] = (
        ("Submitted by", Mention(submitter)),
        ("Submitted", school_time.show(post.version_submitted_at)),
        ("Accounts", ", ".join(post.accounts)),
        ("Publish on", wished),
        ("Version", str(post.version)),
        ("Attachments", str(len(post.attachments)) if post.attachments else "none"),
    )
    state = status.state if status else PostState.AWAITING_APPROVAL
    title = (
        f"Draft post {post.reference} for approval"
        if status is None
        else f"Draft post {post.reference}: {_card_state(status)}"
    )
    blocks: list[Block] = [Heading(title), Quote(post.text), Fields(fields)]
    if post.attachments:
        blocks.append(
            BulletList(
                "Attachments (copies follow beneath this card)",
                tuple(f"{a.name} ({a.mimetype}, {_size(a.size)})" for a in post.attachments),
            )
        )
    blocks.append(
        BulletList(
            "Confirmed by the submitter",
            tuple(CHECKLIST_BY_NAME[n].statement for n in post.confirmed if n in CHECKLIST_BY_NAME),
        )
    )
    value = target(post.id, post.version)
    if status is None:
        blocks.append(
            Buttons(
                (
                    Button("Approve", APPROVE, value, ButtonStyle.PRIMARY),
                    Button(
                        "Request changes",
                        REQUEST_CHANGES,
                        value,
                        form=reason_form(post, Decision.REQUEST_CHANGES),
                    ),
                    Button(
                        "Reject",
                        REJECT,
                        value,
                        ButtonStyle.DANGER,
                        form=reason_form(post, Decision.REJECT),
                    ),
                )
            )
        )
    else:
        blocks.extend(status_blocks(ctx, status))
        if state is PostState.APPROVED and status.newer_version is None:
            blocks.append(Buttons((mark_posted_button(post),)))
    blocks.append(
        Note(
            f"{post.reference} · version {post.version} · {STAFF_PROTOCOL}, steps 5 and 6: "
            "the IT Network Manager confirms a post before it goes live, then posts it."
        )
    )
    summary = (
        f"Draft post {post.reference} is waiting for your approval"
        if status is None
        else f"Draft post {post.reference}: {_card_state(status)}"
    )
    return Message(summary=summary, blocks=tuple(blocks))


def _card_state(status: Status) -> str:
    if status.newer_version is not None:
        return f"replaced by version {status.newer_version}"
    return STATE_WORDS[status.state]


def status_blocks(ctx: HandlerContext, status: Status) -> list[Block]:
    """Who did what, when: the line every updated card and message carries."""
    when = ctx.school_time.show(status.at) if status.at else ""
    who: Inline = Mention(status.by) if status.by else "socialdesk"
    if status.newer_version is not None:
        verb = f"Replaced by version {status.newer_version}, sent by"
    else:
        verb = {
            PostState.APPROVED: "Approved by",
            PostState.CHANGES_REQUESTED: "Returned for changes by",
            PostState.REJECTED: "Rejected by",
            PostState.WITHDRAWN: "Withdrawn by",
            PostState.POSTED: "Posted by",
            PostState.AWAITING_APPROVAL: "Sent for approval by",
        }[status.state]
    blocks: list[Block] = [Paragraph.of(f"{verb} ", who, f", {when}.")]
    if status.reason:
        blocks.append(Quote(status.reason))
    if status.links:
        blocks.append(
            BulletList("Live links", tuple(f"{link.account}: {link.url}" for link in status.links))
        )
    return blocks


# --- what the submitter hears --------------------------------------------------------------


def withdraw_button(post: PostRecord) -> Button:
    return Button(
        "Withdraw",
        WITHDRAW,
        target(post.id, post.version),
        confirm=ConfirmDialog(
            title=f"Withdraw {post.reference}?",
            text="It will not be posted. To post it later you would send a new draft.",
            confirm="Withdraw",
            deny="Keep it",
        ),
    )


def revise_button(post: PostRecord, primary: bool = False) -> Button:
    return Button(
        "Revise",
        REVISE,
        target(post.id, post.version),
        ButtonStyle.PRIMARY if primary else ButtonStyle.DEFAULT,
    )


def submitted_receipt(
    post: PostRecord, approvers: tuple[Person, ...], actor: Person, *, buttons: bool = True
) -> Message:
    if not approvers:
        who = "nobody yet: no approver is configured, so it waits until one is"
    elif actor.holds(Role.NETWORK_MANAGER) and not any(
        p.holds(Role.NETWORK_MANAGER) for p in approvers
    ):
        who = f"{named_by_role(approvers)}, as it is a Network Manager's own draft"
    else:
        who = named_by_role(approvers)
    sent = f"Version {post.version} of {post.reference}" if post.version > 1 else post.reference
    blocks: list[Block] = [
        Heading(f"Draft {post.reference} sent for approval"),
        Paragraph.of(
            f"{sent}, for {', '.join(post.accounts)}, has gone to {who}. "
            "Nothing is posted until it is approved; you will hear here when it is decided."
        ),
        Quote(post.text),
    ]
    if buttons:
        blocks.append(Buttons((revise_button(post), withdraw_button(post))))
    blocks.append(Note(f"Quote {post.reference} if you ask about it. {STAFF_PROTOCOL}, step 5."))
    return Message(summary=f"Draft {post.reference} sent for approval", blocks=tuple(blocks))


def already_submitted(reference: str) -> Message:
    return Message(
        summary=f"Draft {reference} was already sent for approval",
        blocks=(
            Heading(f"Draft {reference} was already sent for approval"),
            Paragraph.of(
                "This form had already reached socialdesk, so nothing more was sent. "
                "Your direct messages with socialdesk hold the receipt."
            ),
        ),
    )


def mark_posted_button(post: PostRecord) -> Button:
    return Button(
        "Mark as posted",
        MARK_POSTED,
        target(post.id, post.version),
        ButtonStyle.PRIMARY,
        form=links_form(post),
    )


def decision_message(
    ctx: HandlerContext, post: PostRecord, status: Status, *, posts_it: bool = False
) -> Message:
    """The submitter's direct message about a decision on their draft, or its posting.
    `posts_it`: the submitter is also who posts it (a Network Manager's own draft)."""
    ref = post.reference
    blocks: list[Block] = []
    buttons: tuple[Button, ...] = ()
    if status.state is PostState.APPROVED:
        blocks += [
            Heading(f"{ref} is approved"),
            Paragraph.of(
                "Post it, then mark it as posted with its live links. "
                if posts_it
                else "The IT Network Manager will post it and you will hear here when it is live. ",
                "The approval covers this version only: a revision needs approving again.",
            ),
        ]
        buttons = (revise_button(post), withdraw_button(post))
        if posts_it:
            buttons = (mark_posted_button(post), *buttons)
    elif status.state is PostState.CHANGES_REQUESTED:
        blocks += [
            Heading(f"{ref} needs changes"),
            Paragraph.of("Revise it and it goes back for approval as a new version."),
        ]
        buttons = (revise_button(post, primary=True), withdraw_button(post))
    elif status.state is PostState.REJECTED:
        blocks += [
            Heading(f"{ref} was not approved"),
            Paragraph.of(
                "It will not be posted. Ask the IT Network Manager if anything is unclear."
            ),
        ]
    elif status.state is PostState.POSTED:
        blocks += [Heading(f"{ref} is live"), Paragraph.of("Thank you for sharing it.")]
    elif status.state is PostState.WITHDRAWN:
        blocks += [Heading(f"{ref} is withdrawn"), Paragraph.of("It will not be posted.")]
    blocks.extend(status_blocks(ctx, status))
    if status.state is not PostState.POSTED:
        blocks.append(Quote(post.text))
    if buttons:
        blocks.append(Buttons(buttons))
    blocks.append(Note(f"{ref} · version {post.version}"))
    return Message(summary=f"{ref}: {STATE_WORDS[status.state]}", blocks=tuple(blocks))


def ready_to_post(ctx: HandlerContext, post: PostRecord, status: Status) -> Message:
    """For a Network Manager who posts a draft they did not approve (a colleague Network
    Manager's own draft, approved by the Co-Headteachers)."""
    return Message(
        summary=f"{post.reference} is approved and ready to post",
        blocks=(
            Heading(f"{post.reference} is approved and ready to post"),
            *status_blocks(ctx, status),
            Quote(post.text),
            Fields((("Accounts", ", ".join(post.accounts)), ("Version", str(post.version)))),
            Buttons((mark_posted_button(post),)),
            Note(f"{post.reference} · version {post.version} · {STAFF_PROTOCOL}, step 6."),
        ),
    )


def approval_replaced(ctx: HandlerContext, previous: PostRecord, status: Status) -> Message:
    """For whoever might be about to post an approved version the submitter has revised."""
    return Message(
        summary=f"{previous.reference} changed after approval: do not post version "
        f"{previous.version}",
        blocks=(
            Heading(f"{previous.reference} changed after approval"),
            Paragraph.of(
                f"Do not post version {previous.version}: version {status.newer_version} "
                "needs approving first."
            ),
            *status_blocks(ctx, status),
            Note(f"{previous.reference} · version {previous.version}"),
        ),
    )


def withdrawn_while_approved(ctx: HandlerContext, post: PostRecord, status: Status) -> Message:
    """For whoever might be about to post an approved draft that was just withdrawn."""
    return Message(
        summary=f"{post.reference} was withdrawn: do not post it",
        blocks=(
            Heading(f"{post.reference} was withdrawn: do not post it"),
            *status_blocks(ctx, status),
            Quote(post.text),
            Note(f"{post.reference} · version {post.version}"),
        ),
    )


def publish_reminder(ctx: HandlerContext, post: PostRecord) -> Message:
    """On the day the submitter hoped the post would go out, while it still has not: for
    whoever must act next."""
    next_step, buttons = {
        PostState.AWAITING_APPROVAL: (
            "It still waits for a decision: its approval card has the buttons.",
            (),
        ),
        PostState.APPROVED: (
            "It is approved and not yet marked as posted.",
            (mark_posted_button(post),),
        ),
        PostState.CHANGES_REQUESTED: (
            "It was returned for changes and waits for your revision.",
            (revise_button(post, primary=True),),
        ),
    }.get(post.state, ("", ()))
    blocks: list[Block] = [
        Heading(f"{post.reference} was meant to go out today"),
        Paragraph.of(next_step),
        Quote(post.text),
        Fields((("Accounts", ", ".join(post.accounts)), ("Version", str(post.version)))),
    ]
    if buttons:
        blocks.append(Buttons(buttons))
    day = ctx.school_time.show_date(post.wished_date) if post.wished_date else "today"
    blocks.append(Note(f"{post.reference} · publish on {day}"))
    return Message(summary=f"{post.reference} was meant to go out today", blocks=tuple(blocks))


def refusal(text: str) -> Message:
    """A short answer to a click or form that changed nothing."""
    return Message.saying(text)


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def draft_submission(values: FormValues) -> DraftSubmission:
    """The draft form (or a revision's) as it came back; the handler checks all of it."""
    return DraftSubmission(
        text=values.text(TEXT),
        accounts=values.choices(ACCOUNTS),
        confirmed=frozenset(item.name for item in CHECKLIST if values.confirmed(item.name)),
        wished_date=values.date(WISHED_DATE),
        attachments=values.files(ATTACHMENTS),
        form_key=values.form_key,
    )
