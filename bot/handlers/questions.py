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
from bot.core.questions import (
    DIGEST_CHARS,
    Answer,
    AnswerKind,
    LearnedAnswer,
    LearnedSection,
    NewQuestion,
    NextKind,
    QuestionRecord,
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
        return Outcome(reply=help_handler.help_message(ctx, platform))
    # Small talk needs no policy document: "thanks" is answered before one is loaded too.
    talk = smalltalk_in(ctx.policy.knowledge, question) if ctx.policy else None
    if talk is not None:
        if talk.kind == "about_bot":
            return Outcome(reply=help_handler.help_message(ctx, platform))
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
    learned = None
    if found.kind is not AnswerKind.OFF_TOPIC:
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
    if found.kind is AnswerKind.OFF_TOPIC:
        return Outcome(reply=_told(found.text))
    return Outcome(reply=_answer_reply(ctx, record, found, learned, platform, secret))


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
        # Beside the policy's answer, never instead of it; the earlier question was someone
        # else's and is never shown.
        by = ctx.directory.by_key(learned.answered_by)
        blocks.append(
            Paragraph.of(
                "The IT Network Manager has answered a question like yours",
                *((" (", Mention(by), ")") if by else ()),
                ":",
            )
        )
        blocks.append(Quote(learned.answer))
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
    blocks.append(Buttons(tuple(buttons)))
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
    if (
        record is None
        or record.escalation_digest is None
        or not secrets.compare_digest(record.escalation_digest, _digest(clicked.secret, actor.key))
    ):
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


def answer_form(record: QuestionRecord) -> Form:
    choices = tuple(Choice(str(i), title) for i, (title, _) in enumerate(record.sections))
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
        ),
    ]
    if choices:
        inputs.append(
            MultiChoice(
                SECTIONS,
                "Which parts of the policy it rests on",
                choices,
                required=False,
                hint="A kept answer is held back when these sections change; with none ticked, "
                "when any of the policy changes.",
            )
        )
    return Form(
        form_id=ANSWER_FORM,
        title="Answer a policy question",
        submit_label="Send answer",
        intro=(Quote(record.question),),
        inputs=tuple(inputs),
        context=str(record.id),
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
    if not text:
        return Outcome(errors=FormErrors({ANSWER_TEXT: "Write the answer to send."}))
    if len(text) > ANSWER_MAX:
        return Outcome(
            errors=FormErrors({ANSWER_TEXT: f"Keep the answer under {ANSWER_MAX} characters."})
        )
    index = ctx.policy.current() if ctx.policy else None
    if keep and index is None:
        return Outcome(
            errors=FormErrors(
                {LEARN: "No policy document is loaded, so the answer cannot be kept; untick it."}
            )
        )
    chosen: list[LearnedSection] = []
    if keep and index is not None:
        for choice in section_choices:
            if not choice.isdigit() or int(choice) >= len(record.sections):
                return Outcome(errors=FormErrors({SECTIONS: "Choose from the sections listed."}))
            section = index.document.section(record.sections[int(choice)][0])
            if section is None:
                gone = "That section is no longer in the policy; untick it."
                return Outcome(errors=FormErrors({SECTIONS: gone}))
            chosen.append(LearnedSection(section.short_title, section.digest[:DIGEST_CHARS]))
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


async def start_draft(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, clicked: ClickedQuestion
) -> Outcome:
    return Outcome(form=posts.draft_form(ctx))


def _in_form(refusal: Outcome) -> Outcome:
    """A refusal said in the answer form itself, which stays open with what was typed."""
    text = plaintext.render_blocks(refusal.reply.blocks) if refusal.reply else ""
    return Outcome(errors=FormErrors({ANSWER_TEXT: text or "That answer cannot be sent."}))


_told = Message.saying


def _refuse(text: str) -> Outcome:
    return Outcome(reply=_told(text))


# --- what this workflow answers ---------------------------------------------------------------


def _question_asked(ctx: HandlerContext, uow: UnitOfWork, said: Said) -> Awaitable[Outcome]:
    if policy_review.asks_for_review(said.text):
        # `/policy review` alone: the IT Network Manager's review of where answers come from.
        return policy_review.review_command(ctx, uow, said)
    return ask(ctx, uow, said.actor, said.text, said.platform)


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
    forms=(FormRoute(ANSWER_FORM, _answer_sent, ANSWER_TEXT, "Answer sent", reads=question_id),),
    clicks=(
        # The answer stays readable: the asker is told in a note that it went on, and the
        # draft form comes below it.
        ClickRoute(ESCALATE, _on_question(escalate), clicked_question, beside_card=True),
        ClickRoute(START_DRAFT, _on_question(start_draft), clicked_question, beside_card=True),
        ClickRoute(ANSWER, _on_question(open_answer_form), clicked_question),
    ),
)
