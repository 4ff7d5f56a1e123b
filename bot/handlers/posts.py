"""Draft posts for the school's accounts ("Staff protocol for use of social media").

A member of staff fills in the draft form; the draft is checked against the policy's list and
presented to the IT Network Manager, who confirms before anything goes live (step 5) and then
posts it (step 6). A Network Manager's own draft goes to the Co-Headteachers, who hold overall
responsibility ("Personnel Responsible for Implementing This Policy").

Every change is made only if the draft is still where the person saw it, so a double click,
a platform's retry or two approvers at once make one decision; the others are told who made it.
Permissions are checked here, when a person acts, never only when a card was sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, time

from bot.core import routing
from bot.core.outcome import CardUpdate, FetchAttachment, Notify, Outcome, Schedule
from bot.core.people import Person
from bot.core.ports import HistoryEntry, NewPost, UnitOfWork
from bot.core.posts import (
    KEEP_ATTACHMENTS,
    REASON,
    TEXT,
    Decision,
    Draft,
    DraftSubmission,
    KeptAttachment,
    PostRecord,
    validate_draft,
    validate_live_links,
    validate_reason,
)
from bot.core.refs import RefKind, format_reference
from bot.core.states import POST_MACHINE, PostState
from bot.core.ui import Form, FormErrors, Mention, Message, Paragraph
from bot.handlers import HandlerContext
from bot.handlers import post_cards as cards
from bot.handlers.post_cards import KEEP, Status, draft_submission
from bot.handlers.workflow import (
    DRAFT_FAILED,
    FIRST_INPUT,
    Clicked,
    ClickRoute,
    CommandRoute,
    FormRoute,
    Said,
    Submitted,
    Workflow,
)

# The reminder for a wished-for publishing date comes at the start of that school day.
PUBLISH_REMINDER_AT = time(8, 0)
PUBLISH_REMINDER = "post.publish_reminder"
GONE = "That draft no longer exists."


def _submitter(ctx: HandlerContext, post: PostRecord) -> Person:
    return ctx.directory.by_key(post.submitter_key) or Person(
        key=post.submitter_key, name=None, identities=()
    )


def draft_form(ctx: HandlerContext) -> Form:
    return cards.draft_form(ctx)


# --- submitting and revising ---------------------------------------------------------------


async def _checked(
    ctx: HandlerContext, uow: UnitOfWork, submission: DraftSubmission
) -> tuple[Draft | None, Outcome]:
    """The draft if it meets every rule and this form has not been sent already; otherwise
    the answer to give (the refusals, or the reference the form already got)."""
    draft, errors = validate_draft(submission, ctx.accounts, ctx.school_time.today(ctx.clock))
    if draft is None:
        return None, Outcome(errors=errors)
    if submission.form_key is not None:
        already = await uow.posts.reference_for_form(submission.form_key)
        if already is not None:
            return None, Outcome(reply=cards.already_submitted(already))
    return draft, Outcome()


async def submit_draft(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, submission: DraftSubmission
) -> Outcome:
    draft, answered = await _checked(ctx, uow, submission)
    if draft is None:
        return answered

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
    post = _record_of(reference, actor, draft, created, (), now)
    return _sent_for_approval(ctx, actor, post, draft, created, previous=None)


async def revision_form(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, post_id: int, version: int
) -> Outcome:
    post = await uow.posts.get(post_id)
    refused = _may_revise(actor, post, version)
    if refused is not None or post is None:
        return _refuse(refused or GONE)
    return Outcome(form=cards.draft_form(ctx, revising=post))


async def submit_revision(
    ctx: HandlerContext,
    uow: UnitOfWork,
    actor: Person,
    post_id: int,
    base_version: int,
    submission: DraftSubmission,
    keep_attachments: bool,
) -> Outcome:
    draft, answered = await _checked(ctx, uow, submission)
    if draft is None:
        return answered
    previous = await uow.posts.get(post_id)
    refused = _may_revise(actor, previous, base_version)
    if refused is not None or previous is None:
        return Outcome(errors=FormErrors({TEXT: refused or GONE}))

    now = ctx.clock.now()
    kept = tuple(a.id for a in previous.attachments) if keep_attachments else ()
    created = await uow.posts.add_version(
        post_id, previous.step, draft, kept, actor.key, now, submission.form_key
    )
    if created is None:
        # Something changed the draft after it was read: this same form, sent twice at once
        # (PostgreSQL lets a second statement see the first one's committed version), or
        # another change. Say which.
        if submission.form_key is not None:
            already = await uow.posts.reference_for_form(submission.form_key)
            if already is not None:
                return Outcome(reply=cards.already_submitted(already))
        current = await uow.posts.get(post_id)
        why = _may_revise(actor, current, base_version) or "The draft changed meanwhile."
        return Outcome(errors=FormErrors({TEXT: why}))
    await uow.history.record(
        "post",
        post_id,
        previous.state,
        PostState.AWAITING_APPROVAL,
        actor.key,
        now,
        created.version,
    )
    await uow.audit.append(
        actor.key,
        "post.revised",
        "post",
        previous.reference,
        now,
        {"version": created.version, "attachments": len(created.all_attachments)},
    )
    kept_files = tuple(a for a in previous.attachments if a.id in kept)
    post = _record_of(previous.reference, actor, draft, created, kept_files, now)
    return _sent_for_approval(ctx, actor, post, draft, created, previous=previous)


def _may_revise(
    actor: Person,
    post: PostRecord | None,
    version: int,
    to: PostState = PostState.AWAITING_APPROVAL,
) -> str | None:
    """Why the submitter may not revise (or, with `to` WITHDRAWN, withdraw) this version now."""
    if post is None:
        return GONE
    if actor.key != post.submitter_key:
        return f"Only the person who sent {post.reference} can revise or withdraw it."
    if post.version != version:
        return (
            f"Version {post.version} of {post.reference} was sent after this one; "
            "revise that one instead."
        )
    if not POST_MACHINE.allows(post.state, to):
        return f"{post.reference} is {cards.STATE_WORDS[post.state]}, so it can no longer change."
    return None


def _record_of(
    reference: str,
    actor: Person,
    draft: Draft,
    created: NewPost,
    kept: tuple[KeptAttachment, ...],
    now: datetime,
) -> PostRecord:
    added = tuple(
        KeptAttachment(attachment_id, ref.name, ref.mimetype, ref.size)
        for attachment_id, ref in zip(created.attachment_ids, draft.attachments, strict=True)
    )
    return PostRecord(
        id=created.post_id,
        reference=reference,
        submitter_key=actor.key,
        state=PostState.AWAITING_APPROVAL,
        version=created.version,
        step=created.step,
        wished_date=draft.wished_date,
        text=draft.text,
        accounts=draft.accounts,
        confirmed=draft.confirmed,
        attachments=kept + added,
        version_submitted_at=now,
        approved_version=None,
    )


def _sent_for_approval(
    ctx: HandlerContext,
    actor: Person,
    post: PostRecord,
    draft: Draft,
    created: NewPost,
    previous: PostRecord | None,
) -> Outcome:
    approvers = routing.approvers_for(ctx.directory, actor)
    card = cards.approval_card(ctx, post, actor)
    notifications = [
        Notify(
            recipient=approver,
            message=card,
            card_key=cards.card_key(post.id, post.version),
            attachments=created.all_attachments,
            revision=post.step,
        )
        for approver in approvers
    ]
    notifications.append(
        Notify(recipient=actor, message=cards.submitted_receipt(post, approvers, actor))
    )
    updates: tuple[CardUpdate, ...] = ()
    if previous is not None:
        replaced = Status(
            previous.state, by=actor, at=post.version_submitted_at, newer_version=post.version
        )
        # Every copy of the last version's card now says it was replaced, and loses its
        # buttons: confirmation that a post can go live covers the text confirmed ("Staff
        # protocol for use of social media", step 5), so the old text cannot be approved.
        updates = (
            CardUpdate(
                cards.card_key(previous.id, previous.version),
                cards.approval_card(ctx, previous, actor, replaced),
                post.step,
            ),
        )
        if previous.state is PostState.APPROVED:
            # Whoever posts may be about to post the approved version: tell them, not only
            # their card.
            notifications += [
                Notify(recipient=p, message=cards.approval_replaced(ctx, previous, replaced))
                for p in routing.posters_for(ctx.directory, actor)
                if p.key != actor.key
            ]
    schedules: tuple[Schedule, ...] = ()
    if post.wished_date and (previous is None or previous.wished_date != post.wished_date):
        due = ctx.school_time.at(post.wished_date, PUBLISH_REMINDER_AT)
        if due > ctx.clock.now():
            schedules = (
                Schedule(
                    PUBLISH_REMINDER,
                    due,
                    {"post_id": post.id, "date": post.wished_date.isoformat()},
                ),
            )
    fetches = tuple(
        FetchAttachment(attachment_id, ref.platform, ref.download_url)
        for attachment_id, ref in zip(created.attachment_ids, draft.attachments, strict=True)
    )
    return Outcome(
        reply=cards.submitted_receipt(post, approvers, actor, buttons=False),
        notifications=tuple(notifications),
        fetches=fetches,
        card_updates=updates,
        schedules=schedules,
    )


# --- deciding ------------------------------------------------------------------------------


async def decide(
    ctx: HandlerContext,
    uow: UnitOfWork,
    actor: Person,
    post_id: int,
    version: int,
    decision: Decision,
    reason_text: str | None = None,
    *,
    from_form: bool = False,
) -> Outcome:
    """Approve, request changes or reject. Without a reason where one is needed, the outcome
    is the form that asks for it; the decision is made when that form comes back."""
    post = await uow.posts.get(post_id)
    if post is None:
        return _refuse(GONE)
    submitter = _submitter(ctx, post)
    approvers = routing.approvers_for(ctx.directory, submitter)
    refused = _may_decide(actor, post, submitter, approvers)
    if refused is not None:
        return _refuse(refused)
    to = decision.outcome
    if post.version != version or not POST_MACHINE.allows(post.state, to):
        return _refuse(await _what_happened(ctx, uow, post, version))

    reason: str | None = None
    if decision.needs_reason:
        if not from_form:
            return Outcome(form=cards.reason_form(post, decision))
        reason, errors = validate_reason(reason_text)
        if reason is None:
            return Outcome(errors=errors)

    now = ctx.clock.now()
    step = await uow.posts.move(post.id, post.step, to, now)
    if step is None:
        # Another approver (or this one, clicking twice) got there first.
        return _refuse(await _what_happened(ctx, uow, post, version))
    await uow.history.record("post", post.id, post.state, to, actor.key, now, version, reason)
    await uow.audit.append(
        actor.key, f"post.{to.value}", "post", post.reference, now, {"version": version}
    )
    status = Status(to, by=actor, at=now, reason=reason)
    posters = routing.posters_for(ctx.directory, submitter) if to is PostState.APPROVED else ()
    notifications = [
        Notify(
            recipient=submitter,
            message=cards.decision_message(ctx, post, status, posts_it=submitter in posters),
        )
    ]
    # Whoever posts it but had no card (a Network Manager's own draft went to the
    # Co-Headteachers) is told it is ready, with the button to mark it posted (step 6).
    notifications += [
        Notify(recipient=poster, message=cards.ready_to_post(ctx, post, status))
        for poster in posters
        if poster not in approvers and poster.key != submitter.key
    ]
    return Outcome(
        notifications=tuple(notifications),
        card_updates=(_card_update(ctx, post, submitter, status, step),),
    )


def _card_update(
    ctx: HandlerContext, post: PostRecord, submitter: Person, status: Status, step: int
) -> CardUpdate:
    """Every copy of this version's approval card shows what just happened, at `step`."""
    return CardUpdate(
        cards.card_key(post.id, post.version),
        cards.approval_card(ctx, post, submitter, status),
        step,
    )


def _may_decide(
    actor: Person, post: PostRecord, submitter: Person, approvers: tuple[Person, ...]
) -> str | None:
    if actor.key == post.submitter_key:
        return (
            f"{post.reference} is your own draft: somebody else confirms it "
            "(Staff protocol for use of social media, step 5)."
        )
    if actor not in approvers:
        who = routing.named_by_role(approvers)
        return f"Only {who} can decide on {post.reference}; nothing was changed."
    return None


def _refuse(text: str | Message) -> Outcome:
    """Changes nothing; the person is told why (in the form they sent, or beside the card)."""
    return Outcome(reply=text if isinstance(text, Message) else cards.refusal(text))


async def _what_happened(
    ctx: HandlerContext, uow: UnitOfWork, post: PostRecord, version: int
) -> Message:
    """Why a click on this version changes nothing now: who moved the draft on, and when."""
    # Read again: what this request read first may be older than the change that beat it.
    post = await uow.posts.get(post.id) or post
    entries = await uow.history.of("post", post.id)
    if version < post.version:
        newer = _last(entries, lambda e: e.version == post.version)
        return _told(post, f"version {post.version} replaced this one", newer, ctx)
    latest = _last(entries, lambda e: e.version == version and e.to_state == post.state)
    return _told(post, cards.STATE_WORDS[post.state], latest, ctx)


def _last(
    entries: Sequence[HistoryEntry], test: Callable[[HistoryEntry], bool]
) -> HistoryEntry | None:
    return next((entry for entry in reversed(entries) if test(entry)), None)


def _told(post: PostRecord, what: str, entry: HistoryEntry | None, ctx: HandlerContext) -> Message:
    if entry is None:
        return cards.refusal(f"{post.reference} is {what}; nothing was changed.")
    person = ctx.directory.by_key(entry.actor_key)
    who: Mention | str = Mention(person) if person else entry.actor_key
    text = f"{post.reference} is already {what}"
    return Message(
        summary=f"{text}; nothing was changed.",
        blocks=(
            Paragraph.of(
                f"{text}: ", who, f", {ctx.school_time.show(entry.at)}. Nothing was changed."
            ),
        ),
    )


# --- withdrawing ---------------------------------------------------------------------------


async def withdraw(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, post_id: int, version: int
) -> Outcome:
    post = await uow.posts.get(post_id)
    refused = _may_revise(actor, post, version, PostState.WITHDRAWN)
    if refused is not None or post is None:
        return _refuse(refused or GONE)
    now = ctx.clock.now()
    step = await uow.posts.move(post.id, post.step, PostState.WITHDRAWN, now)
    if step is None:
        return Outcome(reply=await _what_happened(ctx, uow, post, version))
    await uow.history.record(
        "post", post.id, post.state, PostState.WITHDRAWN, actor.key, now, version
    )
    await uow.audit.append(
        actor.key, "post.withdrawn", "post", post.reference, now, {"version": version}
    )
    status = Status(PostState.WITHDRAWN, by=actor, at=now)
    notifications: tuple[Notify, ...] = ()
    if post.state is PostState.APPROVED:
        # Whoever posts may be about to: tell them, not only their card.
        notifications = tuple(
            Notify(recipient=p, message=cards.withdrawn_while_approved(ctx, post, status))
            for p in routing.posters_for(ctx.directory, actor)
            if p.key != actor.key
        )
    return Outcome(
        reply=cards.decision_message(ctx, post, status),
        notifications=notifications,
        card_updates=(_card_update(ctx, post, actor, status, step),),
    )


# --- posting -------------------------------------------------------------------------------


async def posted_form(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, post_id: int, version: int
) -> Outcome:
    post = await uow.posts.get(post_id)
    refused = await _may_mark_posted(ctx, uow, actor, post, version)
    if refused is not None or post is None:
        return _refuse(refused or GONE)
    return Outcome(form=cards.links_form(post))


async def mark_posted(
    ctx: HandlerContext,
    uow: UnitOfWork,
    actor: Person,
    post_id: int,
    version: int,
    given: Mapping[str, str | None],
) -> Outcome:
    post = await uow.posts.get(post_id)
    refused = await _may_mark_posted(ctx, uow, actor, post, version)
    if refused is not None or post is None:
        return _refuse(refused or GONE)
    links, errors = validate_live_links(post.accounts, given)
    if errors:
        return Outcome(errors=errors)
    now = ctx.clock.now()
    step = await uow.posts.move(post.id, post.step, PostState.POSTED, now)
    if step is None:
        return Outcome(reply=await _what_happened(ctx, uow, post, version))
    await uow.posts.record_links(post.id, version, links, actor.key, now)
    await uow.history.record(
        "post",
        post.id,
        post.state,
        PostState.POSTED,
        actor.key,
        now,
        version,
        "\n".join(f"{link.account}: {link.url}" for link in links),
    )
    await uow.audit.append(
        actor.key,
        "post.posted",
        "post",
        post.reference,
        now,
        {"version": version, "links": len(links)},
    )
    submitter = _submitter(ctx, post)
    status = Status(PostState.POSTED, by=actor, at=now, links=links)
    return Outcome(
        notifications=(
            Notify(recipient=submitter, message=cards.decision_message(ctx, post, status)),
        )
        if submitter.key != actor.key
        else (),
        card_updates=(_card_update(ctx, post, submitter, status, step),),
    )


async def _may_mark_posted(
    ctx: HandlerContext,
    uow: UnitOfWork,
    actor: Person,
    post: PostRecord | None,
    version: int,
) -> Message | None:
    if post is None:
        return cards.refusal(GONE)
    submitter = _submitter(ctx, post)
    if actor not in routing.posters_for(
        ctx.directory, submitter
    ) and actor not in routing.approvers_for(ctx.directory, submitter):
        return cards.refusal(
            f"Only the IT Network Manager marks {post.reference} as posted; nothing was changed."
        )
    if post.version != version or not POST_MACHINE.allows(post.state, PostState.POSTED):
        return await _what_happened(ctx, uow, post, version)
    return None


# --- timers --------------------------------------------------------------------------------


async def remind_to_publish(
    ctx: HandlerContext, uow: UnitOfWork, args: Mapping[str, str | int]
) -> Outcome:
    """On the wished-for publishing date, if the draft is still not posted."""
    post = await uow.posts.get(int(args["post_id"]))
    if post is None or post.wished_date is None or post.wished_date.isoformat() != args["date"]:
        return Outcome()  # gone, or revised to another date: that one has its own timer
    submitter = _submitter(ctx, post)
    recipients = {
        PostState.AWAITING_APPROVAL: routing.approvers_for(ctx.directory, submitter),
        PostState.APPROVED: routing.posters_for(ctx.directory, submitter),
        PostState.CHANGES_REQUESTED: (submitter,),
    }.get(post.state, ())
    # A date changed and then changed back leaves two timers for the same day: one reminds.
    if not recipients or not await uow.posts.mark_reminded(post.id, post.wished_date):
        return Outcome()
    now = ctx.clock.now()
    await uow.audit.append(
        "socialdesk", "post.reminded", "post", post.reference, now, {"version": post.version}
    )
    message = cards.publish_reminder(ctx, post)
    return Outcome(notifications=tuple(Notify(recipient=p, message=message) for p in recipients))


# --- what this workflow answers ---------------------------------------------------------------


def _open_draft_form(ctx: HandlerContext, said: Said) -> Outcome:
    return Outcome(form=draft_form(ctx))


async def _draft_sent(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Outcome:
    return await submit_draft(ctx, uow, sent.actor, draft_submission(sent.values))


async def _revision_sent(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Outcome:
    post_id, version = sent.target
    keep = KEEP in sent.values.choices(KEEP_ATTACHMENTS)
    submission = draft_submission(sent.values)
    return await submit_revision(ctx, uow, sent.actor, post_id, version, submission, keep)


async def _reason_sent(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Outcome:
    post_id, version, decision = sent.target
    reason = sent.values.text(REASON)
    return await decide(ctx, uow, sent.actor, post_id, version, decision, reason, from_form=True)


async def _links_sent(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Outcome:
    post_id, version = sent.target
    given = {name: sent.values.text(name) or None for name in sent.values.names()}
    return await mark_posted(ctx, uow, sent.actor, post_id, version, given)


def _decision(
    decision: Decision,
) -> Callable[[HandlerContext, UnitOfWork, Clicked], Awaitable[Outcome]]:
    async def decided(ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked) -> Outcome:
        post_id, version = clicked.target
        return await decide(ctx, uow, clicked.actor, post_id, version, decision)

    return decided


def _on_version(
    button: Callable[[HandlerContext, UnitOfWork, Person, int, int], Awaitable[Outcome]],
) -> Callable[[HandlerContext, UnitOfWork, Clicked], Awaitable[Outcome]]:
    """A button on a draft's card or message: it names the draft and the version it showed."""

    async def clicked_on(ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked) -> Outcome:
        post_id, version = clicked.target
        return await button(ctx, uow, clicked.actor, post_id, version)

    return clicked_on


WORKFLOW = Workflow(
    name="posts",
    commands=(
        CommandRoute(
            "post",
            opens=_open_draft_form,
            unsaved="The draft form could not be opened just now. Please try /post again.",
            files_for="put photos on a draft",
            asked_is_question=True,
            about="draft a post for one of the school's accounts and send it to the IT Network "
            "Manager for approval; you hear here when it is decided, and can revise or withdraw "
            "it from those messages",
            in_chat=". Send photos in the same message as the word post",
        ),
    ),
    forms=(
        FormRoute(
            cards.DRAFT_FORM,
            _draft_sent,
            TEXT,
            "Draft sent",
            DRAFT_FAILED,
            again=lambda ctx, sent: draft_form(ctx),
        ),
        FormRoute(
            cards.REVISION_FORM,
            _revision_sent,
            TEXT,
            "Revision sent",
            DRAFT_FAILED,
            reads=cards.parse_target,
        ),
        FormRoute(
            cards.REASON_FORM,
            _reason_sent,
            REASON,
            "Draft decided",
            reads=cards.parse_reason_target,
        ),
        # A link for each account the draft was approved for: a refusal goes on the first.
        FormRoute(
            cards.LINKS_FORM, _links_sent, FIRST_INPUT, "Marked as posted", reads=cards.parse_target
        ),
    ),
    clicks=(
        *(
            ClickRoute(action, _decision(decision), reads=cards.parse_target)
            for action, decision in cards.DECISION_ACTIONS.items()
        ),
        ClickRoute(cards.MARK_POSTED, _on_version(posted_form), reads=cards.parse_target),
        ClickRoute(cards.REVISE, _on_version(revision_form), reads=cards.parse_target),
        ClickRoute(cards.WITHDRAW, _on_version(withdraw), reads=cards.parse_target),
    ),
    timers={PUBLISH_REMINDER: remind_to_publish},
)
