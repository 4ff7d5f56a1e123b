"""Policy questions ("Personnel Responsible for Implementing This Policy": questions about the
policy's content or how it applies go to the IT Network Manager).

The bot answers from the school's own document: a direct answer where the policy is clear, the
passage that says so, its section and the next step. When it is not sure it says so, shows the
nearest passages and offers to send the question to the IT Network Manager, whose answer comes
back to the asker in the chat and may join the bot's answers for next time. Every question and
answer is stored with the version of the policy it came from; nothing goes to any outside
service.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.core import plaintext, routing
from bot.core.outcome import CardUpdate, Notify, Outcome
from bot.core.people import Person, Platform, Role
from bot.core.ports import UnitOfWork
from bot.core.question_report import question_report
from bot.core.questions import (
    DIGEST_CHARS,
    Answer,
    AnswerKind,
    LearnedAnswer,
    LearnedSection,
    NewQuestion,
    NextKind,
    PolicyIndex,
    QuestionRecord,
    Vote,
    answer_question,
    similar_learned,
    smalltalk_in,
)
from bot.core.typed import parse_id, printable
from bot.core.ui import (
    Block,
    Button,
    Buttons,
    ButtonStyle,
    Choice,
    Fields,
    Form,
    FormErrors,
    Mention,
    Message,
    MultiChoice,
    Note,
    Paragraph,
    Quote,
    TextInput,
)
from bot.handlers import HandlerContext, policy_review, posts, report_cards
from bot.handlers import help as help_handler
from bot.handlers.question_report import KEEP, report_card
from bot.handlers.workflow import (
    QUESTION_FAILED,
    Clicked,
    ClickRoute,
    CommandRoute,
    FormRoute,
    Said,
    Submitted,
    Workflow,
)

ESCALATE = "policy.escalate"
START_DRAFT = "policy.start_draft"
ANSWER = "policy.answer"
ANSWER_FORM = "policy.answer_form"
ANSWER_TEXT = "answer"
LEARN = "learn"
SECTIONS = "sections"
ANSWER_MAX = 2000
QUESTION_MAX = 1000
GONE = "That question is not one sent to the IT Network Manager."
# The thumbs under every answer: the asker's vote, and the reason they may give for a thumbs
# down (in a form of its own; inside the card where the platform can show it there).
HELPFUL = "policy.helpful"
UNHELPFUL = "policy.unhelpful"
REASON_FORM = "policy.unhelpful_reason"
REASON = "reason"
REASON_MAX = 500
THANKS = "Thanks \u2014 noted."
ONLY_THE_ASKER_VOTES = "Only the person who asked can say whether this answer helped."
# `/policy questions` (`policy questions` in a chat): the question report, for the IT Network
# Manager; a question of one word would not be answered from the policy anyway.
REPORT_WORD = "questions"
NOT_FOR_YOU = (
    "Only the IT Network Manager can see the question report. To ask about the policy, type "
    "your question in your own words."
)
KEEP_FORM = "policy.keep_form"
NOT_KEPT = "That question is not in socialdesk's records."


def _answer_refused(text: str, verb: str) -> Outcome | None:
    """An answer the IT Network Manager cannot send or keep, said on its field."""
    if not text:
        return Outcome(errors=FormErrors({ANSWER_TEXT: f"Write the answer to {verb}."}))
    if len(text) > ANSWER_MAX:
        return Outcome(
            errors=FormErrors({ANSWER_TEXT: f"Keep the answer under {ANSWER_MAX} characters."})
        )
    return None


def question_id(value: str) -> int | None:
    """A question's id as a button or form carries it (any secret after it aside); None for
    anything else."""
    return parse_id(value.partition(".")[0])


@dataclass(frozen=True, slots=True)
class ClickedQuestion:
    """What a button on a question's messages carries: the question, and on the asker's own
    answer the secret that lets them send it on (the question does not say who asked)."""

    id: int
    secret: str = ""


def clicked_question(value: str) -> ClickedQuestion | None:
    found = question_id(value)
    secret = value.partition(".")[2]
    if found is None or len(secret) > 64:
        return None
    return ClickedQuestion(found, secret)


def _digest(secret: str, asker_key: str) -> str:
    """Binds the secret to whoever asked, so another person shown the button (a screenshot, a
    forwarded card) cannot send it on; without the secret, which only their message holds,
    the digest cannot be tried against each member of staff to find them."""
    return hashlib.sha256(f"socialdesk-question:{secret}:{asker_key}".encode()).hexdigest()


def _shown_to(record: QuestionRecord | None, clicked: ClickedQuestion, actor: Person) -> bool:
    """Whether `actor` is the person this question's answer was shown to: the button's secret,
    bound to them, is in their message only."""
    return (
        record is not None
        and record.escalation_digest is not None
        and secrets.compare_digest(record.escalation_digest, _digest(clicked.secret, actor.key))
    )


def _day_of(ctx: HandlerContext, instant: datetime) -> datetime:
    """Questions keep their times to the day: to the second, they would line up with what
    the asker does next (a report made anonymously, say)."""
    return ctx.school_time.start_of(ctx.school_time.local(instant).date())


def _card_key(question_id: int) -> str:
    return f"question:{question_id}"


# --- asking --------------------------------------------------------------------------------


async def ask(
    ctx: HandlerContext,
    uow: UnitOfWork,
    actor: Person,
    text: str,
    platform: Platform = Platform.SLACK,
) -> Outcome:
    question = " ".join(printable(text).split())
    if not question:
        return Outcome(reply=help_handler.help_message(ctx, platform, actor))
    # Small talk needs no policy document: "thanks" is answered before one is loaded too.
    talk = smalltalk_in(ctx.policy.knowledge, question) if ctx.policy else None
    if talk is not None:
        if talk.kind == "about_bot":
            return Outcome(reply=help_handler.help_message(ctx, platform, actor))
        return Outcome(reply=_told(talk.reply))
    if len(question) > QUESTION_MAX:
        return Outcome(
            reply=_told(
                f"Please ask in fewer than {QUESTION_MAX} characters: one question at a time "
                "works best."
            )
        )
    # Nothing here says who asked (the policy question may be about a colleague, reported
    # anonymously a minute later): only the asker's own message carries the secret that
    # sends it on, and the day is all that is kept of when.
    day = _day_of(ctx, ctx.clock.now())
    secret = secrets.token_urlsafe(24)
    index = await policy_review.reviewed_index(ctx, uow)
    if index is None:
        record = await uow.questions.create(
            NewQuestion(
                _digest(secret, actor.key), question, AnswerKind.NO_POLICY, None, (), None, day
            )
        )
        return Outcome(reply=_no_policy(record, secret))

    found = answer_question(index, question)
    # Off-topic questions too: the IT Network Manager may have kept an answer for one the bot
    # wrongly called off-topic (a thumbs down in the question report).
    learned = similar_learned(index, question, await uow.questions.learned())
    record = await uow.questions.create(
        NewQuestion(
            _digest(secret, actor.key),
            question,
            AnswerKind.LEARNED if learned else found.kind,
            index.document.digest,
            tuple((s.section.short_title, s.score) for s in found.ranked),
            found.topic.key if found.topic else None,
            day,
            learned.question_id if learned else None,
        )
    )
    return Outcome(reply=_shown_answer(ctx, record, found, learned, platform, secret))


def _shown_answer(
    ctx: HandlerContext,
    record: QuestionRecord,
    found: Answer,
    learned: LearnedAnswer | None,
    platform: Platform,
    secret: str,
) -> Message:
    if found.kind is not AnswerKind.OFF_TOPIC:
        return _answer_reply(ctx, record, found, learned, platform, secret)
    if learned is None:
        blocks: list[Block] = [Paragraph.of(found.text)]
        blocks.extend(_feedback(record, secret, ()))
        return Message(summary=found.text, blocks=tuple(blocks))
    # Not about the policy by its words, but the IT Network Manager answered much the same.
    blocks = list(_learned_blocks(ctx, learned))
    blocks.extend(_feedback(record, secret, (_ask_button(record, secret),)))
    blocks.append(Note(_version_note(record)))
    return Message(summary=_LEARNED_SAID, blocks=tuple(blocks))


_LEARNED_SAID = "The IT Network Manager has answered a question like yours"


def _learned_blocks(ctx: HandlerContext, learned: LearnedAnswer) -> tuple[Block, ...]:
    # Beside the policy's answer, or (for a question the bot calls off-topic) alone; the
    # earlier question was someone else's and is never shown.
    by = ctx.directory.by_key(learned.answered_by)
    return (
        Paragraph.of(_LEARNED_SAID, *((" (", Mention(by), ")") if by else ()), ":"),
        Quote(learned.answer),
    )


def _feedback(record: QuestionRecord, secret: str, before: Sequence[Button]) -> tuple[Block, ...]:
    """The answer's buttons (`before`) and its thumbs, showing the asker's vote once they
    gave one."""
    value = f"{record.id}.{secret}"
    up, down = record.vote is Vote.HELPFUL, record.vote is Vote.UNHELPFUL
    chosen, plain = ButtonStyle.PRIMARY, ButtonStyle.DEFAULT
    thumbs = (
        Button(
            "\U0001f44d Helpful" + (" (your vote)" if up else ""),
            HELPFUL,
            value,
            chosen if up else plain,
        ),
        Button(
            "\U0001f44e Not helpful" + (" (your vote)" if down else ""),
            UNHELPFUL,
            value,
            chosen if down else plain,
            form=reason_form(record, secret),
        ),
    )
    blocks: list[Block] = [Buttons((*before, *thumbs))]
    if up:
        blocks.append(Note(f"{THANKS} You found this answer helpful."))
    elif down:
        said = " and said why" if record.vote_reason else ""
        blocks.append(Note(f"{THANKS} You found this answer unhelpful{said}."))
    return tuple(blocks)


def reason_form(record: QuestionRecord, secret: str) -> Form:
    return Form(
        form_id=REASON_FORM,
        title="Not helpful",
        submit_label="Send",
        intro=(
            Paragraph.of(
                "Thanks for saying. It helps the IT Network Manager make socialdesk's answers "
                "better."
            ),
        ),
        inputs=(
            TextInput(
                REASON,
                "What was wrong or missing? (optional)",
                multiline=True,
                max_length=REASON_MAX,
                required=False,
                hint="The IT Network Manager sees it with your question, never with your name: "
                "leave names out.",
            ),
        ),
        context=f"{record.id}.{secret}",
    )


def _ask_button(record: QuestionRecord, secret: str) -> Button:
    return Button("Ask the IT Network Manager", ESCALATE, f"{record.id}.{secret}")


def _answer_reply(
    ctx: HandlerContext,
    record: QuestionRecord,
    found: Answer,
    learned: LearnedAnswer | None,
    platform: Platform,
    secret: str,
) -> Message:
    blocks: list[Block] = [Paragraph.of(found.text)]
    if found.confident:
        quoted = found.quoted[0]
        blocks.extend(Quote(passage.quoted) for passage in quoted.passages)
        blocks.append(Note(f"From the policy, \u201c{quoted.section.short_title}\u201d"))
    else:
        for quoted in found.quoted:
            blocks.append(Paragraph.of(f"\u201c{quoted.section.short_title}\u201d:"))
            blocks.extend(Quote(p.quoted) for p in quoted.passages)
    if learned is not None:
        blocks.extend(_learned_blocks(ctx, learned))
    buttons = [_ask_button(record, secret)]
    step = found.topic.next if found.topic and found.confident else None
    if step is not None:
        # Slack has slash commands; in Teams the same words are typed in the chat.
        report = "/report" if platform is Platform.SLACK else "report"
        blocks.append(_next_step(ctx, step.kind, step.text.replace("{report}", report)))
        if step.kind is NextKind.DRAFT:
            buttons.insert(
                0, Button("Start a draft", START_DRAFT, str(record.id), ButtonStyle.PRIMARY)
            )
        elif step.kind is NextKind.REPORT and step.report_kind:
            # The report form, with this kind chosen, in a window of its own.
            buttons.insert(
                0,
                Button(
                    "Report it",
                    report_cards.OPEN_FORM,
                    step.report_kind,
                    ButtonStyle.PRIMARY,
                    dialog=True,
                ),
            )
    blocks.extend(_feedback(record, secret, buttons))
    blocks.append(Note(_version_note(record)))
    summary = found.text if found.confident else "Not sure: the nearest passages of the policy"
    return Message(summary=summary, blocks=tuple(blocks))


def _next_step(ctx: HandlerContext, kind: NextKind, text: str) -> Paragraph:
    role = {NextKind.CO_HEADS: Role.CO_HEAD, NextKind.NETWORK_MANAGER: Role.NETWORK_MANAGER}.get(
        kind
    )
    people = ctx.directory.holders(role) if role else ()
    parts: list[str | Mention] = [f"Next step: {text}"]
    if people:
        parts.append(" (")
        for number, person in enumerate(people):
            if number:
                parts.append(", ")
            parts.append(Mention(person))
        parts.append(")")
    return Paragraph(tuple(parts))


def _version_note(record: QuestionRecord) -> str:
    if record.policy_hash:
        return f"From the school's policy, version {record.policy_hash[:8]}"
    return "No policy document loaded"


def _no_policy(record: QuestionRecord, secret: str) -> Message:
    return Message(
        summary="No policy loaded",
        blocks=(
            Paragraph.of(
                "No policy loaded: the school's policy document has not been set up for me yet, "
                "so I cannot answer from it. The IT Network Manager can answer your question."
            ),
            Buttons((_ask_button(record, secret),)),
        ),
    )


# --- the IT Network Manager ----------------------------------------------------------------


async def escalate(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, clicked: ClickedQuestion
) -> Outcome:
    question_id = clicked.id
    record = await uow.questions.get(question_id)
    if record is None or not _shown_to(record, clicked, actor):
        return _refuse("Only the person who asked can send this question on.")
    answerers = routing.answerers_for(ctx.directory, actor.key)
    if not answerers:
        where = f" by email to {ctx.policy_contact}" if ctx.policy_contact else ""
        return _refuse(
            f"Nobody is set up to answer policy questions here yet; ask the IT Network Manager"
            f"{where}."
        )
    now = ctx.clock.now()
    reference = await uow.questions.mark_escalated(question_id, _day_of(ctx, now), actor.key)
    if reference is None:
        return _refuse(
            f"{record.reference or 'That question'} has already gone to the IT Network "
            "Manager; their answer will arrive here."
        )
    record = replace(record, reference=reference, escalated_at=now, asker_key=actor.key)
    await uow.audit.append(
        actor.key, "question.escalated", "question", reference, now, {"answerers": len(answerers)}
    )
    asker = ctx.directory.by_key(actor.key) or actor
    card = _question_card(ctx, record, asker)
    return Outcome(
        reply=_told(
            f"Sent to the IT Network Manager as {reference}. Their answer will arrive here."
        ),
        notifications=tuple(
            Notify(recipient=p, message=card, card_key=_card_key(record.id), revision=1)
            for p in answerers
        ),
    )


def answer_form(record: QuestionRecord, *, keep: bool = False) -> Form:
    """`keep`: "for next time" comes ticked (opened from the question report to keep one)."""
    inputs: list[TextInput | MultiChoice] = [
        TextInput(
            ANSWER_TEXT,
            "Your answer",
            multiline=True,
            max_length=ANSWER_MAX,
            hint="Sent to the person who asked, in their chat with socialdesk.",
        ),
        MultiChoice(
            LEARN,
            "For next time",
            (Choice(LEARN, "Add this answer to socialdesk's answers for much the same question"),),
            required=False,
            hint="Only your answer is shown to others who ask, never this question or who asked "
            "it: keep names and personal details out of it.",
            initial=(LEARN,) if keep else (),
        ),
    ]
    inputs.extend(_sections_input(record))
    return Form(
        form_id=ANSWER_FORM,
        title="Answer a policy question",
        submit_label="Send answer",
        intro=(Quote(record.question),),
        inputs=tuple(inputs),
        context=str(record.id),
    )


def _sections_input(record: QuestionRecord) -> tuple[MultiChoice, ...]:
    choices = tuple(Choice(str(i), title) for i, (title, _) in enumerate(record.sections))
    if not choices:
        return ()
    return (
        MultiChoice(
            SECTIONS,
            "Which parts of the policy it rests on",
            choices,
            required=False,
            hint="A kept answer is held back when these sections change; with none ticked, "
            "when any of the policy changes.",
        ),
    )


def _question_card(ctx: HandlerContext, record: QuestionRecord, asker: Person) -> Message:
    nearest = ", ".join(title for title, _ in record.sections) or "none (no policy loaded)"
    return Message(
        summary=f"A policy question for you ({record.reference})",
        blocks=(
            Paragraph.of(Mention(asker), " asked a question about the policy:"),
            Quote(record.question),
            Fields(
                (
                    ("Reference", record.reference or ""),
                    (
                        "Asked",
                        ctx.school_time.show_date(ctx.school_time.local(record.asked_at).date()),
                    ),
                    ("Nearest sections", nearest),
                )
            ),
            Buttons(
                (
                    Button(
                        "Answer",
                        ANSWER,
                        str(record.id),
                        ButtonStyle.PRIMARY,
                        form=answer_form(record),
                    ),
                )
            ),
        ),
    )


def _answered_card(
    ctx: HandlerContext,
    record: QuestionRecord,
    asker: Person,
    by: Person,
    answer: str,
    kept: bool,
) -> Message:
    blocks: list[Block] = [
        Paragraph.of(Mention(asker), " asked:"),
        Quote(record.question),
        Paragraph.of(
            "Answered by ", Mention(by), " at ", ctx.school_time.show(ctx.clock.now()), ":"
        ),
        Quote(answer),
    ]
    if kept:
        blocks.append(Note("Kept as one of socialdesk's answers for next time."))
    blocks.append(Note(record.reference or ""))
    return Message(summary=f"{record.reference} answered", blocks=tuple(blocks))


async def open_answer_form(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, clicked: ClickedQuestion
) -> Outcome:
    record = await uow.questions.get(clicked.id)
    refusal = _may_answer(ctx, record, actor)
    if refusal is not None or record is None:
        return refusal or _refuse(GONE)
    return Outcome(form=answer_form(record))


def _may_answer(
    ctx: HandlerContext, record: QuestionRecord | None, actor: Person
) -> Outcome | None:
    # Checked at every click and submission: roles change, and a card outlives them.
    if record is None or record.escalated_at is None:
        # Only a question its asker sent on is anyone else's to read or answer.
        return _refuse(GONE)
    if actor.key not in {
        p.key for p in routing.answerers_for(ctx.directory, record.asker_key or "")
    }:
        return _refuse("Only the IT Network Manager answers policy questions.")
    if record.answered_at is not None:
        by = ctx.directory.by_key(record.answered_by or "")
        return Outcome(
            reply=Message(
                summary="Already answered",
                blocks=(
                    Paragraph.of(
                        f"{record.reference} was already answered by ",
                        Mention(by) if by else "someone else",
                        ".",
                    ),
                ),
            )
        )
    return None


async def submit_answer(
    ctx: HandlerContext,
    uow: UnitOfWork,
    actor: Person,
    question_id: int,
    answer: str,
    keep: bool,
    section_choices: Sequence[str],
) -> Outcome:
    record = await uow.questions.get(question_id)
    refusal = _may_answer(ctx, record, actor)
    if refusal is not None or record is None:
        # Shown in the form, which stays open: nothing was sent.
        return _in_form(refusal or _refuse(GONE))
    text = printable(answer).strip()
    if (refused := _answer_refused(text, "send")) is not None:
        return refused
    index = ctx.policy.current() if ctx.policy else None
    if keep and index is None:
        return Outcome(
            errors=FormErrors(
                {LEARN: "No policy document is loaded, so the answer cannot be kept; untick it."}
            )
        )
    chosen: list[LearnedSection] = []
    if keep and index is not None:
        sections = _chosen_sections(record, index, section_choices)
        if isinstance(sections, FormErrors):
            return Outcome(errors=sections)
        chosen = sections
    now = ctx.clock.now()
    stored = await uow.questions.record_answer(
        question_id,
        actor.key,
        text,
        now,
        index.document.digest if index else None,
        chosen if keep else None,
    )
    if not stored:
        fresh = await uow.questions.get(question_id)
        return _in_form(
            _may_answer(ctx, fresh, actor) or _refuse("That question was already answered.")
        )
    reference = record.reference or ""
    await uow.audit.append(
        actor.key,
        "question.answered",
        "question",
        reference,
        now,
        {"kept": int(keep), "sections": len(chosen)},
    )
    asker_key = record.asker_key or ""
    asker = ctx.directory.by_key(asker_key) or Person(key=asker_key, name=None, identities=())
    for_asker = Message(
        summary=f"An answer to your policy question ({reference})",
        blocks=(
            Paragraph.of("Your question about the policy has an answer:"),
            Quote(record.question),
            Paragraph.of("From ", Mention(actor), ":"),
            Quote(text),
            Note(reference),
        ),
    )
    card = _answered_card(ctx, record, asker, actor, text, keep)
    return Outcome(
        reply=_told(f"Answer sent for {reference}."),
        notifications=(Notify(recipient=asker, message=for_asker),),
        card_updates=(CardUpdate(_card_key(record.id), card, revision=2),),
    )


def _chosen_sections(
    record: QuestionRecord, index: PolicyIndex, choices: Sequence[str]
) -> list[LearnedSection] | FormErrors:
    """The sections a kept answer rests on, as ticked in its form, with their wording now."""
    chosen: list[LearnedSection] = []
    for choice in choices:
        if not choice.isdigit() or int(choice) >= len(record.sections):
            return FormErrors({SECTIONS: "Choose from the sections listed."})
        section = index.document.section(record.sections[int(choice)][0])
        if section is None:
            return FormErrors({SECTIONS: "That section is no longer in the policy; untick it."})
        chosen.append(LearnedSection(section.short_title, section.digest[:DIGEST_CHARS]))
    return chosen


async def start_draft(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, clicked: ClickedQuestion
) -> Outcome:
    return Outcome(form=posts.draft_form(ctx))


# --- the asker's vote on the answer ---------------------------------------------------------


async def _voted(
    uow: UnitOfWork,
    actor: Person,
    clicked: ClickedQuestion,
    chosen: Vote,
    reason: str | None = None,
    *,
    keep_reason: bool = False,
) -> QuestionRecord | Outcome:
    """The question with the asker's vote stored, or the refusal. One vote per answer: a
    second changes it. Stored on the question, which still says nothing of who asked; nothing
    goes in the audit log either, which would name them. `keep_reason`: a thumbs down clicked
    before its form keeps a reason given before."""
    record = await uow.questions.get(clicked.id)
    if record is None or not _shown_to(record, clicked, actor):
        return _refuse(ONLY_THE_ASKER_VOTES)
    if record.kind is AnswerKind.NO_POLICY:
        return _refuse("That answer came from no policy document: there is nothing to vote on.")
    if keep_reason and record.vote is Vote.UNHELPFUL:
        reason = record.vote_reason
    await uow.questions.vote(record.id, chosen, reason)
    return replace(record, vote=chosen, vote_reason=reason)


async def _vote_shown(
    ctx: HandlerContext,
    uow: UnitOfWork,
    record: QuestionRecord,
    secret: str,
    platform: Platform,
) -> Outcome:
    """The answer shown again in place, with the vote on its buttons; or, once the policy has
    changed and it cannot be shown as it was, a note."""
    shown = await _answer_again(ctx, uow, record, secret, platform)
    if shown is None:
        return Outcome(reply=_told(f"{THANKS} (The policy has changed since that answer.)"))
    return Outcome(replaces_clicked=shown)


async def _answer_again(
    ctx: HandlerContext,
    uow: UnitOfWork,
    record: QuestionRecord,
    secret: str,
    platform: Platform,
) -> Message | None:
    """The answer as its asker was shown it, with their vote now: answered again from the same
    version of the policy (the same words give the same answer), with the kept answer shown
    beside it then, with the school's review applied as it is for every answer. None once the
    policy has changed."""
    index = await policy_review.reviewed_index(ctx, uow)
    if index is None or record.policy_hash != index.document.digest:
        return None
    found = answer_question(index, record.question)
    if record.kind is not AnswerKind.LEARNED and found.kind is not record.kind:
        return None  # the bot's own knowledge changed (a new version of socialdesk)
    learned = None
    if record.learned_from is not None:
        kept = await uow.questions.learned()
        learned = next((k for k in kept if k.question_id == record.learned_from), None)
    return _shown_answer(ctx, record, found, learned, platform, secret)


async def _thumbs_up_clicked(ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked) -> Outcome:
    target: ClickedQuestion = clicked.target
    voted = await _voted(uow, clicked.actor, target, Vote.HELPFUL)
    if isinstance(voted, Outcome):
        return voted
    return await _vote_shown(ctx, uow, voted, target.secret, clicked.platform)


async def _thumbs_down_clicked(ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked) -> Outcome:
    """Where the reason cannot be asked inside the card (a Slack message, the terminal), the
    click is the vote, and the form for the reason follows."""
    target: ClickedQuestion = clicked.target
    voted = await _voted(uow, clicked.actor, target, Vote.UNHELPFUL, keep_reason=True)
    if isinstance(voted, Outcome):
        return voted
    shown = await _vote_shown(ctx, uow, voted, target.secret, clicked.platform)
    return replace(shown, form=reason_form(voted, target.secret))


async def _reason_sent(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Outcome:
    target: ClickedQuestion = sent.target
    reason = printable(sent.values.text(REASON)).strip()
    if len(reason) > REASON_MAX:
        return Outcome(
            errors=FormErrors(
                {
                    REASON: f"Please keep it to {REASON_MAX} characters or fewer (this is "
                    f"{len(reason)}). Nothing was changed."
                }
            )
        )
    voted = await _voted(uow, sent.actor, target, Vote.UNHELPFUL, reason or None)
    if isinstance(voted, Outcome):
        refusal = voted.reply.summary if voted.reply else ONLY_THE_ASKER_VOTES
        return Outcome(errors=FormErrors({REASON: refusal}))
    shown = await _vote_shown(ctx, uow, voted, target.secret, sent.platform)
    return replace(shown, reply=_told(THANKS))


# --- the question report, and answers kept from it ----------------------------------------


def _network_manager_only(actor: Person, what: str) -> Outcome | None:
    # Asked at every command, click and form: roles change, and a card outlives them.
    if actor.holds(Role.NETWORK_MANAGER):
        return None
    return _refuse(f"Only the IT Network Manager can {what}.")


async def show_report(ctx: HandlerContext, uow: UnitOfWork, actor: Person) -> Outcome:
    if not actor.holds(Role.NETWORK_MANAGER):
        return _refuse(NOT_FOR_YOU)
    report = question_report(await uow.questions.listed(), ctx.school_time)
    return Outcome(reply=report_card(ctx, report))


def keep_form(record: QuestionRecord) -> Form:
    return Form(
        form_id=KEEP_FORM,
        title="Keep an answer",
        submit_label="Keep answer",
        intro=(
            Quote(record.question),
            Paragraph.of(
                "Your answer joins socialdesk's answers: anyone who asks much the same question "
                "sees it beside the policy's own answer. Nobody is told now: who asked this was "
                "never kept."
            ),
        ),
        inputs=(
            TextInput(
                ANSWER_TEXT,
                "The answer to keep",
                multiline=True,
                max_length=ANSWER_MAX,
                hint="Shown to others who ask, never this question: keep names and personal "
                "details out of it.",
            ),
            *_sections_input(record),
        ),
        context=str(record.id),
    )


def _may_keep(record: QuestionRecord | None, actor: Person) -> Outcome | None:
    refusal = _network_manager_only(actor, "keep an answer for a question")
    if refusal is not None:
        return refusal
    if record is None:
        return _refuse(NOT_KEPT)
    if record.answered_at is not None:
        kept = ", kept as one of socialdesk's answers" if record.kept else ""
        return _refuse(f"That question already has an answer{kept}.")
    return None


async def open_keep_form(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, question_id: int
) -> Outcome:
    record = await uow.questions.get(question_id)
    refusal = _may_keep(record, actor)
    if refusal is not None or record is None:
        return refusal or _refuse(NOT_KEPT)
    if record.escalated_at is not None:
        # Its asker sent it on and waits: answering it tells them, and keeps it too.
        return _may_answer(ctx, record, actor) or Outcome(form=answer_form(record, keep=True))
    return Outcome(form=keep_form(record))


async def keep_answer(
    ctx: HandlerContext,
    uow: UnitOfWork,
    actor: Person,
    question_id: int,
    answer: str,
    section_choices: Sequence[str] = (),
) -> Outcome:
    """An answer kept for a question nobody sent on, as answering one sent on keeps it: the bot
    serves it to much the same question while the policy it rests on reads the same. Nobody
    is told, and nothing about who asked is read or stored (it was never kept)."""
    record = await uow.questions.get(question_id)
    refusal = _may_keep(record, actor)
    if refusal is not None or record is None:
        return _in_form(refusal or _refuse(NOT_KEPT))
    if record.escalated_at is not None:
        return _in_form(
            _refuse(
                f"{record.reference} was sent on by whoever asked it: answer it from its card "
                "(or the question report's Answer button), so that they hear the answer."
            )
        )
    text = printable(answer).strip()
    if (refused := _answer_refused(text, "keep")) is not None:
        return refused
    index = ctx.policy.current() if ctx.policy else None
    if index is None:
        return Outcome(
            errors=FormErrors(
                {ANSWER_TEXT: "No policy document is loaded, so no answer can be kept."}
            )
        )
    chosen = _chosen_sections(record, index, section_choices)
    if isinstance(chosen, FormErrors):
        return Outcome(errors=chosen)
    now = ctx.clock.now()
    if not await uow.questions.record_answer(
        record.id, actor.key, text, now, index.document.digest, chosen
    ):
        fresh = await uow.questions.get(record.id)
        return _in_form(_may_keep(fresh, actor) or _refuse("That question already has an answer."))
    await uow.audit.append(
        actor.key,
        "question.kept",
        "question",
        record.reference or str(record.id),
        now,
        {"sections": len(chosen)},
    )
    kept = Message(
        summary=f"Answer kept for question #{record.id}",
        blocks=(
            Paragraph.of(
                f"Kept for question #{record.id}: anyone who asks much the same now sees it "
                "beside the policy's own answer."
            ),
            Quote(text),
        ),
    )
    return Outcome(reply=kept, replaces_clicked=kept)


def _in_form(refusal: Outcome) -> Outcome:
    """A refusal said in the answer form itself, which stays open with what was typed."""
    text = plaintext.render_blocks(refusal.reply.blocks) if refusal.reply else ""
    return Outcome(errors=FormErrors({ANSWER_TEXT: text or "That answer cannot be sent."}))


_told = Message.saying


def _refuse(text: str) -> Outcome:
    return Outcome(reply=_told(text))


# --- what this workflow answers ---------------------------------------------------------------


def _question_asked(ctx: HandlerContext, uow: UnitOfWork, said: Said) -> Awaitable[Outcome]:
    if said.text.strip().lower() == REPORT_WORD:
        return show_report(ctx, uow, said.actor)
    if policy_review.asks_for_review(said.text):
        # `/policy review` alone: the IT Network Manager's review of where answers come from.
        return policy_review.review_command(ctx, uow, said)
    return ask(ctx, uow, said.actor, said.text, said.platform)


def _keep_clicked(ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked) -> Awaitable[Outcome]:
    return open_keep_form(ctx, uow, clicked.actor, clicked.target)


def _keep_sent(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Awaitable[Outcome]:
    values = sent.values
    return keep_answer(
        ctx, uow, sent.actor, sent.target, values.text(ANSWER_TEXT), values.choices(SECTIONS)
    )


def _on_question(
    click: Callable[[HandlerContext, UnitOfWork, Person, ClickedQuestion], Awaitable[Outcome]],
) -> Callable[[HandlerContext, UnitOfWork, Clicked], Awaitable[Outcome]]:
    def clicked_on(ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked) -> Awaitable[Outcome]:
        return click(ctx, uow, clicked.actor, clicked.target)

    return clicked_on


def _answer_sent(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Awaitable[Outcome]:
    values = sent.values
    return submit_answer(
        ctx,
        uow,
        sent.actor,
        sent.target,
        values.text(ANSWER_TEXT),
        LEARN in values.choices(LEARN),
        values.choices(SECTIONS),
    )


WORKFLOW = Workflow(
    name="questions",
    commands=(
        # Any words no other command takes are a policy question (DESIGN.md), `policy` first
        # or not; `/policy` alone is help.
        CommandRoute(
            "policy",
            asks=_question_asked,
            unsaved=QUESTION_FAILED,
            catch_all=True,
            usage=" <your question>",
            about="ask about the policy in your own words; I answer from the school's policy, "
            "quote the passage and name its section, and can pass your question to the IT Network "
            "Manager",
            in_chat=" (or just type your question)",
        ),
    ),
    forms=(
        FormRoute(ANSWER_FORM, _answer_sent, ANSWER_TEXT, "Answer sent", reads=question_id),
        FormRoute(REASON_FORM, _reason_sent, REASON, "Feedback sent", reads=clicked_question),
        FormRoute(KEEP_FORM, _keep_sent, ANSWER_TEXT, "Answer kept", reads=question_id),
    ),
    clicks=(
        # The answer stays readable: the asker is told in a note that it went on, and the
        # draft form comes below it.
        ClickRoute(ESCALATE, _on_question(escalate), clicked_question, beside_card=True),
        ClickRoute(START_DRAFT, _on_question(start_draft), clicked_question, beside_card=True),
        ClickRoute(ANSWER, _on_question(open_answer_form), clicked_question),
        # A vote shows in the answer itself, which is shown again with it.
        ClickRoute(HELPFUL, _thumbs_up_clicked, clicked_question),
        ClickRoute(UNHELPFUL, _thumbs_down_clicked, clicked_question),
        # The report stays as it is: the form comes in a window, or a message, of its own.
        ClickRoute(KEEP, _keep_clicked, question_id, beside_card=True),
    ),
)
