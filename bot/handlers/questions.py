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

from collections.abc import Sequence

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
)
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
from bot.handlers import HandlerContext, posts
from bot.handlers import help as help_handler

ESCALATE = "policy.escalate"
START_DRAFT = "policy.start_draft"
ANSWER = "policy.answer"
BUTTONS = (ESCALATE, START_DRAFT, ANSWER)
ANSWER_FORM = "policy.answer_form"
ANSWER_TEXT = "answer"
LEARN = "learn"
SECTIONS = "sections"
ANSWER_MAX = 2000
QUESTION_MAX = 1000
GONE = "That question is no longer on record."


def _card_key(question_id: int) -> str:
    return f"question:{question_id}"


def answerers_for(ctx: HandlerContext, asker_key: str) -> tuple[Person, ...]:
    """The IT Network Manager(s); for a Network Manager's own question, the Co-Headteachers,
    who hold overall responsibility. Nobody answers their own question."""
    for role in (Role.NETWORK_MANAGER, Role.CO_HEAD):
        chosen = tuple(p for p in ctx.directory.holders(role) if p.key != asker_key)
        if chosen:
            return chosen
    return ()


# --- asking --------------------------------------------------------------------------------


async def ask(
    ctx: HandlerContext,
    uow: UnitOfWork,
    actor: Person,
    text: str,
    platform: Platform = Platform.SLACK,
) -> Outcome:
    question = " ".join(text.split())
    if not question:
        return Outcome(reply=help_handler.help_message(ctx, platform))
    index = ctx.policy.current() if ctx.policy else None
    if index is not None:
        talk = index.smalltalk(question)
        if talk is not None:
            if talk.kind == "about_bot":
                return Outcome(reply=help_handler.help_message(ctx, platform))
            return Outcome(reply=Message(summary=talk.reply, blocks=(Paragraph.of(talk.reply),)))
    if len(question) > QUESTION_MAX:
        return Outcome(
            reply=Message(
                summary="That question is too long",
                blocks=(
                    Paragraph.of(
                        f"Please ask in fewer than {QUESTION_MAX} characters: one question at a "
                        "time works best."
                    ),
                ),
            )
        )
    now = ctx.clock.now()
    if index is None:
        record = await uow.questions.create(
            NewQuestion(actor.key, question, AnswerKind.NO_POLICY, None, (), None, now)
        )
        return Outcome(reply=_no_policy(ctx, record))

    learned = similar_learned(index, question, await uow.questions.learned())
    found = answer_question(index, question)
    kind = AnswerKind.LEARNED if learned else found.kind
    record = await uow.questions.create(
        NewQuestion(
            actor.key,
            question,
            kind,
            index.document.digest,
            tuple((s.section.short_title, s.score) for s in found.ranked),
            found.topic.key if found.topic and not learned else None,
            now,
        )
    )
    if learned is not None:
        return Outcome(reply=_learned_reply(ctx, record, learned))
    if found.kind is AnswerKind.OFF_TOPIC:
        return Outcome(
            reply=Message(summary="Not a policy question", blocks=(Paragraph.of(found.text),))
        )
    return Outcome(reply=_answer_reply(ctx, record, found))


def _ask_button(record: QuestionRecord) -> Button:
    return Button("Ask the IT Network Manager", ESCALATE, str(record.id))


def _answer_reply(ctx: HandlerContext, record: QuestionRecord, found: Answer) -> Message:
    blocks: list[Block] = [Paragraph.of(found.text)]
    if found.confident:
        quoted = found.quoted[0]
        for passage in quoted.passages:
            blocks.append(Quote(passage.quoted))
        blocks.append(Note(f"From the policy, \u201c{quoted.section.short_title}\u201d"))
    else:
        for quoted in found.quoted:
            blocks.append(Paragraph.of(f"\u201c{quoted.section.short_title}\u201d:"))
            blocks.extend(Quote(p.quoted) for p in quoted.passages)
    buttons = [_ask_button(record)]
    step = found.topic.next if found.topic and found.confident else None
    if step is not None:
        blocks.append(_next_step(ctx, step.kind, step.text))
        if step.kind is NextKind.DRAFT:
            buttons.insert(
                0, Button("Start a draft", START_DRAFT, str(record.id), ButtonStyle.PRIMARY)
            )
    blocks.append(Buttons(tuple(buttons)))
    blocks.append(Note(_reference_note(record)))
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


def _reference_note(record: QuestionRecord) -> str:
    version = f" \u00b7 policy version {record.policy_hash[:8]}" if record.policy_hash else ""
    return f"Question {record.reference}{version}"


def _no_policy(ctx: HandlerContext, record: QuestionRecord) -> Message:
    return Message(
        summary="No policy loaded",
        blocks=(
            Paragraph.of(
                "No policy loaded: the school's policy document has not been set up for me yet, "
                "so I cannot answer from it. The IT Network Manager can answer your question."
            ),
            Buttons((_ask_button(record),)),
            Note(_reference_note(record)),
        ),
    )


def _learned_reply(ctx: HandlerContext, record: QuestionRecord, learned: LearnedAnswer) -> Message:
    by = ctx.directory.by_key(learned.answered_by)
    said_by: str | Mention = Mention(by) if by else "the IT Network Manager"
    return Message(
        summary=learned.answer[:150],
        blocks=(
            Paragraph.of("The IT Network Manager has answered much the same question:"),
            Quote(learned.question),
            Paragraph.of("Their answer, from ", said_by, ":"),
            Quote(learned.answer),
            Buttons((_ask_button(record),)),
            Note(f"{_reference_note(record)} \u00b7 answer from {learned.reference}"),
        ),
    )


# --- the IT Network Manager ----------------------------------------------------------------


async def escalate(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, question_id: int
) -> Outcome:
    record = await uow.questions.get(question_id)
    if record is None:
        return _refuse(GONE)
    if record.asker_key != actor.key:
        return _refuse("Only the person who asked can send this question on.")
    answerers = answerers_for(ctx, actor.key)
    if not answerers:
        where = f" by email to {ctx.policy_contact}" if ctx.policy_contact else ""
        return _refuse(
            "Nobody is set up to answer policy questions here yet; ask the IT Network Manager"
            f"{where}."
        )
    now = ctx.clock.now()
    if not await uow.questions.mark_escalated(question_id, now):
        return Outcome(
            reply=_told(
                f"{record.reference} has already gone to the IT Network "
                "Manager; their answer will arrive here."
            )
        )
    await uow.audit.append(
        actor.key,
        "question.escalated",
        "question",
        record.reference,
        now,
        {"answerers": len(answerers)},
    )
    asker = ctx.directory.by_key(actor.key) or actor
    card = _question_card(ctx, record, asker, now)
    return Outcome(
        reply=_told(
            f"Sent to the IT Network Manager as {record.reference}. Their answer will arrive here."
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
        ),
    ]
    if choices:
        inputs.append(
            MultiChoice(
                SECTIONS,
                "Which parts of the policy it rests on",
                choices,
                required=False,
                hint="A kept answer is held back for review when these "
                "sections change; with none ticked, when any of the policy changes.",
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


def _question_card(
    ctx: HandlerContext, record: QuestionRecord, asker: Person, sent_at: object = None
) -> Message:
    nearest = ", ".join(title for title, _ in record.sections) or "none (no policy loaded)"
    return Message(
        summary=f"A policy question for you ({record.reference})",
        blocks=(
            Paragraph.of(
                Mention(asker), " asked a question about the policy that I could not settle:"
            ),
            Quote(record.question),
            Fields(
                (
                    ("Reference", record.reference),
                    ("Asked", ctx.school_time.show(record.asked_at)),
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
    blocks.append(Note(record.reference))
    return Message(summary=f"{record.reference} answered", blocks=tuple(blocks))


async def open_answer_form(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, question_id: int
) -> Outcome:
    record = await uow.questions.get(question_id)
    refusal = _may_answer(ctx, record, actor)
    if refusal is not None:
        return refusal
    assert record is not None
    return Outcome(form=answer_form(record))


def _may_answer(
    ctx: HandlerContext, record: QuestionRecord | None, actor: Person
) -> Outcome | None:
    # Checked at every click and submission: roles change, and a card outlives them.
    if record is None:
        return _refuse(GONE)
    if actor.key not in {p.key for p in answerers_for(ctx, record.asker_key)}:
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
    if refusal is not None:
        return refusal
    assert record is not None
    text = answer.strip()
    if not text:
        return Outcome(errors=FormErrors({ANSWER_TEXT: "Write the answer to send."}))
    if len(text) > ANSWER_MAX:
        return Outcome(
            errors=FormErrors({ANSWER_TEXT: f"Keep the answer under {ANSWER_MAX} characters."})
        )
    index = ctx.policy.current() if ctx.policy else None
    chosen: list[LearnedSection] = []
    for choice in section_choices:
        if not choice.isdigit() or int(choice) >= len(record.sections):
            return Outcome(errors=FormErrors({SECTIONS: "Choose from the sections listed."}))
        section = index.document.section(record.sections[int(choice)][0]) if index else None
        if section is None:
            return Outcome(
                errors=FormErrors({SECTIONS: "That section is no longer in the policy; untick it."})
            )
        chosen.append(LearnedSection(section.short_title, section.digest[:DIGEST_CHARS]))
    now = ctx.clock.now()
    policy_hash = index.document.digest if index else None
    stored = await uow.questions.record_answer(
        question_id, actor.key, text, now, policy_hash, chosen if keep else None
    )
    if not stored:
        fresh = await uow.questions.get(question_id)
        return _may_answer(ctx, fresh, actor) or _refuse("That question was already answered.")
    await uow.audit.append(
        actor.key,
        "question.answered",
        "question",
        record.reference,
        now,
        {"kept": int(keep), "sections": len(chosen)},
    )
    asker = ctx.directory.by_key(record.asker_key) or Person(
        key=record.asker_key, name=None, identities=()
    )
    for_asker = Message(
        summary=f"An answer to your policy question ({record.reference})",
        blocks=(
            Paragraph.of("The IT Network Manager answered your question:"),
            Quote(record.question),
            Paragraph.of("From ", Mention(actor), ":"),
            Quote(text),
            Note(record.reference),
        ),
    )
    card = _answered_card(ctx, record, asker, actor, text, keep)
    return Outcome(
        reply=_told(f"Answer sent for {record.reference}."),
        notifications=(Notify(recipient=asker, message=for_asker),),
        card_updates=(CardUpdate(_card_key(record.id), card, revision=2),),
    )


async def start_draft(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, question_id: int
) -> Outcome:
    return Outcome(form=posts.draft_form(ctx))


def _told(text: str) -> Message:
    return Message(summary=text, blocks=(Paragraph.of(text),))


def _refuse(text: str) -> Outcome:
    return Outcome(reply=_told(text))


# What each button of a question's messages does, given who clicked and which question.
CLICKS = {ESCALATE: escalate, START_DRAFT: start_draft, ANSWER: open_answer_form}
