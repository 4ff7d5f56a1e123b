"""Draft posts for the school's accounts ("Staff protocol for use of social media").

A member of staff fills in the draft form; the draft is checked against the policy's list and
presented to the IT Network Manager, who confirms before anything goes live (step 5). A
Network Manager's own draft goes to the Co-Headteachers, who hold overall responsibility
("Personnel Responsible for Implementing This Policy").
"""

from __future__ import annotations

from datetime import datetime

from bot.core.outcome import FetchAttachment, Notify, Outcome
from bot.core.people import Person, Role
from bot.core.ports import UnitOfWork
from bot.core.posts import (
    ACCOUNTS,
    ATTACHMENT_TYPES,
    ATTACHMENTS,
    CHECKLIST,
    CHECKLIST_BY_NAME,
    DRAFT_MAX_CHARS,
    MAX_ATTACHMENTS,
    STAFF_PROTOCOL,
    TEXT,
    WISHED_DATE,
    Draft,
    DraftSubmission,
    validate_draft,
)
from bot.core.refs import RefKind, format_reference
from bot.core.states import POST_MACHINE
from bot.core.ui import (
    Block,
    BulletList,
    Button,
    Buttons,
    ButtonStyle,
    Choice,
    Confirmation,
    DateInput,
    Fields,
    FileInput,
    Form,
    Heading,
    Inline,
    Mention,
    Message,
    MultiChoice,
    Note,
    Paragraph,
    Quote,
    TextInput,
)
from bot.handlers import HandlerContext

DRAFT_FORM = "post.draft"
APPROVE = "post.approve"
REQUEST_CHANGES = "post.request_changes"
REJECT = "post.reject"


def approvers_for(ctx: HandlerContext, submitter: Person) -> tuple[Person, ...]:
    """Who confirms a draft: every Network Manager ("Staff protocol for use of social media",
    step 5), or, for a Network Manager's own draft, the Co-Headteachers, who hold overall
    responsibility ("Personnel Responsible for Implementing This Policy"). Nobody is asked to
    approve their own draft."""
    directory = ctx.directory
    first, fallback = Role.NETWORK_MANAGER, Role.CO_HEAD
    if submitter.holds(Role.NETWORK_MANAGER):
        first, fallback = Role.CO_HEAD, Role.NETWORK_MANAGER
    for role in (first, fallback):
        chosen = tuple(p for p in directory.holders(role) if p.key != submitter.key)
        if chosen:
            return chosen
    return ()


def draft_form(ctx: HandlerContext) -> Form:
    limits = [f"{a.name} {a.max_chars:,}" for a in ctx.accounts if a.max_chars is not None]
    return Form(
        form_id=DRAFT_FORM,
        title="Draft a school post",
        submit_label="Send for approval",
        intro=(
            Paragraph.of(
                f"Drafts for {ctx.school_name}'s own accounts go to the IT Network Manager, "
                "who confirms them before anything goes live."
            ),
        ),
        inputs=(
            TextInput(
                name=TEXT,
                label="Text of the post",
                multiline=True,
                max_length=DRAFT_MAX_CHARS,
                hint=("Character limits: " + ", ".join(limits) + ".") if limits else None,
            ),
            MultiChoice(
                name=ACCOUNTS,
                label="Post on",
                choices=tuple(Choice(a.name, a.name) for a in ctx.accounts),
            ),
            FileInput(
                name=ATTACHMENTS,
                label="Photos or files",
                max_files=MAX_ATTACHMENTS,
                file_types=ATTACHMENT_TYPES,
                hint="Only photos taken on school devices.",
            ),
            DateInput(
                name=WISHED_DATE,
                label="Publish on (optional)",
                hint="The day you would like it to go out.",
            ),
            *(
                Confirmation(name=item.name, label=item.label, statement=item.statement, hint=None)
                for item in CHECKLIST
            ),
        ),
    )


async def submit_draft(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, submission: DraftSubmission
) -> Outcome:
    draft, errors = validate_draft(submission, ctx.accounts, ctx.school_time.today(ctx.clock))
    if draft is None:
        return Outcome(errors=errors)
    if submission.form_key is not None:
        already = await uow.posts.reference_for_form(submission.form_key)
        if already is not None:
            return Outcome(reply=already_submitted(already))

    now = ctx.clock.now()
    reference = format_reference(RefKind.POST, await uow.references.next_number(RefKind.POST))
    created = await uow.posts.create(reference, actor.key, draft, now, submission.form_key)
    await uow.history.record(
        "post", created.post_id, None, POST_MACHINE.initial, actor.key, now, created.version
    )
    await uow.audit.append(
        actor.key,
        "post.submitted",
        "post",
        reference,
        now,
        {"version": created.version, "attachments": len(created.attachment_ids)},
    )

    approvers = approvers_for(ctx, actor)
    card = approval_card(ctx, reference, created.post_id, created.version, actor, draft, now)
    notifications = [
        Notify(
            recipient=approver,
            message=card,
            card_key=f"post:{created.post_id}:v{created.version}:approval",
            attachments=created.attachment_ids,
        )
        for approver in approvers
    ]
    receipt = submitted_receipt(ctx, reference, draft, approvers, actor)
    notifications.append(Notify(recipient=actor, message=receipt))
    fetches = tuple(
        FetchAttachment(attachment_id, ref.platform, ref.download_url)
        for attachment_id, ref in zip(created.attachment_ids, draft.attachments, strict=True)
    )
    return Outcome(reply=receipt, notifications=tuple(notifications), fetches=fetches)


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


def submitted_receipt(
    ctx: HandlerContext,
    reference: str,
    draft: Draft,
    approvers: tuple[Person, ...],
    actor: Person,
) -> Message:
    if not approvers:
        who = "nobody yet: no approver is configured, so it waits until one is"
    elif actor.holds(Role.NETWORK_MANAGER):
        who = "the Co-Headteachers, as it is a Network Manager's own draft"
    else:
        who = "the IT Network Manager"
    return Message(
        summary=f"Draft {reference} sent for approval",
        blocks=(
            Heading(f"Draft {reference} sent for approval"),
            Paragraph.of(
                f"Your draft for {', '.join(draft.accounts)} has gone to {who}. "
                "Nothing is posted until it is approved; you will hear here when it is decided."
            ),
            Quote(draft.text),
            Note(f"Quote {reference} if you ask about it. {STAFF_PROTOCOL}, step 5."),
        ),
    )


def approval_card(
    ctx: HandlerContext,
    reference: str,
    post_id: int,
    version: int,
    submitter: Person,
    draft: Draft,
    submitted_at: datetime,
) -> Message:
    wished = ctx.school_time.show_date(draft.wished_date) if draft.wished_date else "no date given"
    fields: tuple[tuple[str, Inline], ...] = (
        ("Submitted by", Mention(submitter)),
        ("Submitted", ctx.school_time.show(submitted_at)),
        ("Accounts", ", ".join(draft.accounts)),
        ("Publish on", wished),
        ("Version", str(version)),
        ("Attachments", str(len(draft.attachments)) if draft.attachments else "none"),
    )
    blocks: list[Block] = [
        Heading(f"Draft post {reference} for approval"),
        Quote(draft.text),
        Fields(fields),
    ]
    if draft.attachments:
        blocks.append(
            BulletList(
                "Attachments (copies follow beneath this card)",
                tuple(f"{a.name} ({a.mimetype}, {_size(a.size)})" for a in draft.attachments),
            )
        )
    blocks.append(
        BulletList(
            "Confirmed by the submitter",
            tuple(f"{CHECKLIST_BY_NAME[n].statement}" for n in draft.confirmed),
        )
    )
    value = f"{post_id}:{version}"
    blocks.append(
        Buttons(
            (
                Button("Approve", APPROVE, value, ButtonStyle.PRIMARY),
                Button("Request changes", REQUEST_CHANGES, value),
                Button("Reject", REJECT, value, ButtonStyle.DANGER),
            )
        )
    )
    blocks.append(
        Note(
            f"{reference} · version {version} · {STAFF_PROTOCOL}, step 5: confirm before it "
            "goes live."
        )
    )
    return Message(
        summary=f"Draft post {reference} is waiting for your approval",
        blocks=tuple(blocks),
    )


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"
