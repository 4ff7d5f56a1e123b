"""The IT Network Manager's review, in the chat, of where the bot answers each topic from in the
loaded version of the policy (bot.core.policy_review).

`/policy review` (in Teams and the terminal chat, `policy review`) shows a card for the first
topic that needs review: the section the bot proposes, the passages, why, and the short answer
staff would get. Accepting, choosing another section, rewriting the short answer or saying the
document does not cover it is stored at once with the policy version; the next topic's card
follows. Each click is checked as it comes: the clicker must hold the role now, and the card
must be for the version of the policy loaded now.

Questions are answered from the loaded index with the decisions applied (`reviewed_index`),
computed once per version and per change to the decisions, so a question costs one small query.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from weakref import WeakKeyDictionary

from bot.core.outcome import Notify, Outcome
from bot.core.people import Person, Platform, Role
from bot.core.policy import Section
from bot.core.policy_index import PolicyIndex
from bot.core.policy_review import (
    DECIDED,
    REVIEW_ANSWER_MAX,
    Decision,
    DecisionKind,
    Proposal,
    ReviewError,
    decide,
    proposals,
    reviewed,
)
from bot.core.ports import UnitOfWork
from bot.core.ui import (
    Block,
    Button,
    Buttons,
    ButtonStyle,
    Choice,
    ConfirmDialog,
    Fields,
    Form,
    FormErrors,
    Heading,
    Message,
    Note,
    Paragraph,
    Quote,
    SingleChoice,
    TextInput,
)
from bot.handlers import HandlerContext
from bot.handlers.workflow import Clicked, ClickRoute, FormRoute, Said, Submitted, Workflow

# `/policy review`: only when it is the whole of what follows the command word, so that
# "review of my post?" stays a question.
REVIEW_WORD = "review"

ACCEPT = "policy_review.accept"
OTHER_SECTION = "policy_review.section"
REWRITE = "policy_review.rewrite"
NOT_COVERED = "policy_review.not_covered"
SKIP = "policy_review.skip"
SECTION_FORM = "policy_review.section_form"
REWRITE_FORM = "policy_review.rewrite_form"
SECTION = "section"
ANSWER = "answer"

# How much of the document's digest a card carries: enough to tell versions apart.
VERSION_CHARS = 16

NOT_YOURS = (
    "Only the IT Network Manager reviews where socialdesk answers from. To ask about the "
    "policy, type your question in your own words."
)
NO_POLICY = "No policy document is loaded, so there is nothing to review."
ALL_REVIEWED = "All topics are reviewed."
CHANGED = (
    "The policy document has changed since this card was made, so nothing was saved. The "
    "first topic to review in the new version follows."
)


def asks_for_review(text: str) -> bool:
    return " ".join(text.split()).lower() == REVIEW_WORD


@dataclass(frozen=True, slots=True)
class CardTopic:
    """What a review card's buttons and forms carry: the topic, and the version of the policy
    the card was made for."""

    version: str
    topic_key: str

    @property
    def value(self) -> str:
        return f"{self.version}:{self.topic_key}"


_VERSION = re.compile(rf"[0-9a-f]{{{VERSION_CHARS}}}")
_TOPIC = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def card_topic(value: str) -> CardTopic | None:
    version, _, key = value.partition(":")
    if not _VERSION.fullmatch(version) or not _TOPIC.fullmatch(key):
        return None
    return CardTopic(version, key)


# --- the decisions applied to what questions are answered from --------------------------------

_REVIEWED: WeakKeyDictionary[PolicyIndex, tuple[tuple[int, int], PolicyIndex]] = WeakKeyDictionary()


async def reviewed_index(ctx: HandlerContext, uow: UnitOfWork) -> PolicyIndex | None:
    """The loaded policy with the school's decisions applied. Applying them builds a new index,
    so it is kept until the document or the decisions change: a question costs one query."""
    loaded = ctx.policy.current() if ctx.policy else None
    if loaded is None:
        return None
    stamp = await uow.reviews.stamp()
    if stamp[0] == 0:
        return loaded
    cached = _REVIEWED.get(loaded)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    index = reviewed(loaded, await uow.reviews.all())
    _REVIEWED[loaded] = (stamp, index)
    return index


# --- the card ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Review:
    """The loaded policy as it was read, and the decisions stored for it."""

    loaded: PolicyIndex
    decisions: tuple[Decision, ...]

    @property
    def version(self) -> str:
        return self.loaded.document.digest[:VERSION_CHARS]

    @property
    def index(self) -> PolicyIndex:
        return reviewed(self.loaded, self.decisions)

    def waiting(self) -> list[Proposal]:
        return [p for p in proposals(self.loaded, self.decisions) if p.needs_review]

    def with_decision(self, decision: Decision) -> _Review:
        return _Review(self.loaded, (*self.decisions, decision))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def section_choices(review: _Review) -> tuple[Choice, ...]:
    """The document's sections with text, each by its place in the document."""
    return tuple(
        Choice(str(number), section.short_title)
        for number, section in enumerate(review.loaded.document.sections, start=1)
        if section.passages
    )


def section_form(review: _Review, proposal: Proposal) -> Form:
    current = review.loaded.document.sections
    initial = next((str(n) for n, s in enumerate(current, start=1) if s is proposal.section), None)
    return Form(
        form_id=SECTION_FORM,
        title="Another section",
        submit_label="Answer from it",
        intro=(
            Paragraph.of(
                f"Which section answers {proposal.topic_key}? Staff will get that section's own "
                "words, not the short answer."
            ),
        ),
        inputs=(SingleChoice(SECTION, "Section", section_choices(review), initial=initial),),
        context=CardTopic(review.version, proposal.topic_key).value,
    )


def rewrite_form(review: _Review, proposal: Proposal) -> Form:
    return Form(
        form_id=REWRITE_FORM,
        title="Rewrite the answer",
        submit_label="Save the answer",
        intro=(
            Paragraph.of(
                f"The short answer staff get for {proposal.topic_key}, in the school's own "
                "words. It rests on the passages the card shows, and is asked about again when "
                "they are reworded."
            ),
        ),
        inputs=(
            TextInput(
                ANSWER,
                "Short answer",
                multiline=True,
                max_length=REVIEW_ANSWER_MAX,
                initial=proposal.short_answer,
            ),
        ),
        context=CardTopic(review.version, proposal.topic_key).value,
    )


def review_card(review: _Review, proposal: Proposal, waiting: int) -> Message:
    value = CardTopic(review.version, proposal.topic_key).value
    section = proposal.section
    blocks: list[Block] = [
        Heading(f"Policy review: {_plural(waiting, 'topic')} to review"),
        Fields(
            (
                ("Topic", proposal.topic_key),
                ("Proposed section", section.short_title if section else "none"),
                ("Why", proposal.why),
            )
        ),
    ]
    asks = proposal.placement.topic.asks
    if asks:
        blocks.append(Paragraph.of(f"Staff ask it as: \u201c{asks[0]}\u201d"))
    if proposal.passages:
        blocks.append(Paragraph.of("What the section says:"))
        blocks.extend(Quote(p.quoted) for p in proposal.passages)
    blocks.append(Paragraph.of("The short answer staff would get once accepted:"))
    blocks.append(Quote(proposal.short_answer))
    blocks.append(
        Buttons(
            (
                Button("Accept", ACCEPT, value, ButtonStyle.PRIMARY),
                Button(
                    "Another section",
                    OTHER_SECTION,
                    value,
                    form=section_form(review, proposal),
                ),
                Button("Rewrite", REWRITE, value, form=rewrite_form(review, proposal)),
                Button(
                    "Not covered",
                    NOT_COVERED,
                    value,
                    ButtonStyle.DANGER,
                    confirm=ConfirmDialog(
                        "Not covered?",
                        "Staff who ask about it get no answer from any section of this version "
                        "of the policy.",
                        "Not covered",
                    ),
                ),
                Button("Skip", SKIP, value),
            )
        )
    )
    blocks.append(Note(f"Policy version {review.version[:8]}"))
    return Message(
        summary=f"Policy review: {proposal.topic_key} ({_plural(waiting, 'topic')} to review)",
        blocks=tuple(blocks),
    )


def next_card(review: _Review, after: str | None = None) -> Message:
    """The card for the first topic needing review or, after one just decided or skipped, for
    the next one after it (those skipped earlier come round again with `policy review`)."""
    waiting = review.waiting()
    if not waiting:
        return Message.saying(ALL_REVIEWED)
    if after is None:
        return review_card(review, waiting[0], len(waiting))
    # The order reviewed in, whatever has been decided since.
    order = {p.topic_key: i for i, p in enumerate(proposals(review.loaded, ()))}
    mark = order.get(after, -1)
    later = [p for p in waiting if order.get(p.topic_key, -1) > mark]
    if not later:
        return Message.saying(
            f"No more topics after this one; {_plural(len(waiting), 'topic')} skipped "
            f"{'still needs' if len(waiting) == 1 else 'still need'} review: policy review shows "
            "them again."
        )
    return review_card(review, later[0], len(waiting))


# --- checks made at every command, click and form ---------------------------------------------


def _is_reviewer(ctx: HandlerContext, actor: Person) -> bool:
    person = ctx.directory.by_key(actor.key) or actor
    return person.holds(Role.NETWORK_MANAGER)


async def _review(ctx: HandlerContext, uow: UnitOfWork) -> _Review | None:
    loaded = ctx.policy.current() if ctx.policy else None
    if loaded is None:
        return None
    return _Review(loaded, tuple(await uow.reviews.all()))


def _to(actor: Person, platform: Platform) -> Person:
    """The reviewer, reached where they clicked (not on every platform they have)."""
    here = tuple(i for i in actor.identities if i.platform is platform)
    return replace(actor, identities=here) if here else actor


def _moved_on(actor: Person, platform: Platform, said: str, card: Message) -> Outcome:
    """Said to the reviewer, with the next card sent to them as a message of its own: the card
    clicked (or the window its form came in) says what was done."""
    return Outcome(reply=Message.saying(said), notifications=(Notify(_to(actor, platform), card),))


async def _checked(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, platform: Platform, target: CardTopic
) -> _Review | Outcome:
    """The review as it is now, or what to say instead: a refusal, no policy, or a card made for
    another version of the policy (then the new version's first card follows)."""
    if not _is_reviewer(ctx, actor):
        return Outcome(reply=Message.saying(NOT_YOURS))
    review = await _review(ctx, uow)
    if review is None:
        return Outcome(reply=Message.saying(NO_POLICY))
    if review.version != target.version:
        return _moved_on(actor, platform, CHANGED, next_card(review))
    return review


async def record(uow: UnitOfWork, decision: Decision) -> None:
    """A decision kept, with its entry in the audit log (also `socialdesk policy review`)."""
    await uow.reviews.add(decision)
    await uow.audit.append(
        decision.decided_by,
        "policy.reviewed",
        "policy_topic",
        decision.topic_key,
        decision.decided_at,
        {"kind": decision.kind.value, "version": decision.policy_version[:12]},
    )


async def _decided(
    ctx: HandlerContext,
    uow: UnitOfWork,
    actor: Person,
    platform: Platform,
    review: _Review,
    decision: Decision,
) -> Outcome:
    await record(uow, decision)
    now = review.with_decision(decision)
    placed = now.index.placements.get(decision.topic_key)
    where = f" ({placed.section.short_title})" if placed is not None and placed.section else ""
    said = f"Saved for {decision.topic_key}{where}: {DECIDED[decision.kind]}."
    return _moved_on(actor, platform, said, next_card(now, decision.topic_key))


def _make(
    review: _Review,
    actor: Person,
    ctx: HandlerContext,
    topic_key: str,
    kind: DecisionKind,
    section: Section | None = None,
    answer: str | None = None,
) -> Decision:
    return decide(
        review.index,
        topic_key,
        kind,
        actor.key,
        ctx.clock.now(),
        section=section,
        answer=answer,
    )


def _sentence(error: ReviewError) -> str:
    text = str(error)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


# --- what the reviewer does --------------------------------------------------------------------


async def review_command(ctx: HandlerContext, uow: UnitOfWork, said: Said) -> Outcome:
    if not _is_reviewer(ctx, said.actor):
        return Outcome(reply=Message.saying(NOT_YOURS))
    review = await _review(ctx, uow)
    if review is None:
        return Outcome(reply=Message.saying(NO_POLICY))
    return Outcome(reply=next_card(review))


def _on_card(
    act: Callable[[HandlerContext, UnitOfWork, Clicked, _Review], Awaitable[Outcome]],
) -> Callable[[HandlerContext, UnitOfWork, Clicked], Awaitable[Outcome]]:
    async def clicked_on(ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked) -> Outcome:
        found = await _checked(ctx, uow, clicked.actor, clicked.platform, clicked.target)
        if isinstance(found, Outcome):
            return found
        return await act(ctx, uow, clicked, found)

    return clicked_on


async def _simple(
    kind: DecisionKind, ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked, review: _Review
) -> Outcome:
    try:
        decision = _make(review, clicked.actor, ctx, clicked.target.topic_key, kind)
    except ReviewError as error:
        return Outcome(reply=Message.saying(_sentence(error)))
    return await _decided(ctx, uow, clicked.actor, clicked.platform, review, decision)


async def _accept(
    ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked, review: _Review
) -> Outcome:
    return await _simple(DecisionKind.ACCEPT, ctx, uow, clicked, review)


async def _not_covered(
    ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked, review: _Review
) -> Outcome:
    return await _simple(DecisionKind.NOT_COVERED, ctx, uow, clicked, review)


async def _skip(ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked, review: _Review) -> Outcome:
    key = clicked.target.topic_key
    return _moved_on(
        clicked.actor,
        clicked.platform,
        f"Skipped {key}: it still needs review.",
        next_card(review, key),
    )


def _proposal(review: _Review, topic_key: str) -> Proposal | None:
    return next(
        (p for p in proposals(review.loaded, review.decisions) if p.topic_key == topic_key), None
    )


def _opening(
    build: Callable[[_Review, Proposal], Form],
) -> Callable[[HandlerContext, UnitOfWork, Clicked, _Review], Awaitable[Outcome]]:
    """A click that opens a form about the clicked topic."""

    async def open_form(
        ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked, review: _Review
    ) -> Outcome:
        proposal = _proposal(review, clicked.target.topic_key)
        if proposal is None:
            return Outcome(reply=Message.saying(f"There is no topic {clicked.target.topic_key!r}."))
        return Outcome(form=build(review, proposal))

    return open_form


async def _in_form(
    ctx: HandlerContext, uow: UnitOfWork, sent: Submitted, field: str
) -> _Review | Outcome:
    """The checks of a click, at the form's submission; a refusal is said in the form."""
    found = await _checked(ctx, uow, sent.actor, sent.platform, sent.target)
    if isinstance(found, Outcome) and not found.notifications:
        said = found.reply.summary if found.reply else NOT_YOURS
        return Outcome(errors=FormErrors({field: said}))
    return found


async def _section_chosen(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Outcome:
    found = await _in_form(ctx, uow, sent, SECTION)
    if isinstance(found, Outcome):
        return found
    sections = found.loaded.document.sections
    chosen = sent.values.choice(SECTION)
    if not chosen.isdecimal() or not 1 <= int(chosen) <= len(sections):
        return Outcome(errors=FormErrors({SECTION: "Choose one of the sections listed."}))
    try:
        decision = _make(
            found,
            sent.actor,
            ctx,
            sent.target.topic_key,
            DecisionKind.REASSIGN,
            section=sections[int(chosen) - 1],
        )
    except ReviewError as error:
        return Outcome(errors=FormErrors({SECTION: _sentence(error)}))
    return await _decided(ctx, uow, sent.actor, sent.platform, found, decision)


async def _rewritten(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Outcome:
    found = await _in_form(ctx, uow, sent, ANSWER)
    if isinstance(found, Outcome):
        return found
    try:
        decision = _make(
            found,
            sent.actor,
            ctx,
            sent.target.topic_key,
            DecisionKind.REWRITE,
            answer=sent.values.text(ANSWER),
        )
    except ReviewError as error:
        return Outcome(errors=FormErrors({ANSWER: _sentence(error)}))
    return await _decided(ctx, uow, sent.actor, sent.platform, found, decision)


WORKFLOW = Workflow(
    name="policy_review",
    # No command of its own: `/policy review` is the questions workflow's command with the
    # one word `review` (see asks_for_review), so any other words stay a question.
    forms=(
        FormRoute(SECTION_FORM, _section_chosen, SECTION, "Section chosen", reads=card_topic),
        FormRoute(REWRITE_FORM, _rewritten, ANSWER, "Answer saved", reads=card_topic),
    ),
    clicks=(
        ClickRoute(ACCEPT, _on_card(_accept), card_topic),
        ClickRoute(OTHER_SECTION, _on_card(_opening(section_form)), card_topic),
        ClickRoute(REWRITE, _on_card(_opening(rewrite_form)), card_topic),
        ClickRoute(NOT_COVERED, _on_card(_not_covered), card_topic),
        ClickRoute(SKIP, _on_card(_skip), card_topic),
    ),
)
