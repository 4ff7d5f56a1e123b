"""Policy questions from Slack, end to end over HTTP: answers from the school's own document with
the passage, its section and the next step; small talk and off-topic questions; no policy
loaded; and the round trip to the IT Network Manager and back, kept for next time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.policy import parse_policy
from bot.handlers import questions
from bot.store.models import AuditEvent, OutboxItem, PolicyQuestion
from tests.conftest import BotFactory
from tests.documents import word_document
from tests.fakes.slack import FakeSlack, Fault
from tests.harness import POLICY_FILE, RunningBot, eventually, heading, sessions, view_payload

# The bot answers from the example school's policy (examples/policy), which ships with the
# project; tests/test_policy_answers.py asks the first school's too, when it is beside it.
PERSONAL_USE = heading("Personal Use of Social Media")
PHOTOGRAPHS = heading("Photographs for use with social media")

TEACHER, OTHER_TEACHER = "U0TEACH", "U0TEACH2"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SAM, NIA = "U0NETMGR", "U0NETDEP"  # the two Network Managers
CO_HEADS = ("U0COHEAD1", "U0COHEAD2")


def buttons_of(answer: dict[str, Any]) -> dict[str, str]:
    """Each button in a reply, by action id, with its value."""
    return {
        element["action_id"]: element.get("value", "")
        for block in answer.get("blocks", [])
        if block.get("type") == "actions"
        for element in block["elements"]
    }


async def ask(bot: RunningBot, text: str, user: str = TEACHER) -> dict[str, Any]:
    reply = await bot.command("/policy", user, text)
    assert reply.status == 200 and reply.elapsed < 3.0
    answer: dict[str, Any] = reply.json()
    assert answer["response_type"] == "ephemeral"  # only the asker sees it
    return answer


async def test_the_issue_examples_get_an_answer_the_passage_the_section_and_a_next_step(
    bot: RunningBot,
) -> None:
    snapchat = await ask(bot, "a Year 8 added me on Snapchat, what do I do?")
    text = json.dumps(snapchat)
    assert "Don't accept or reply" in text
    assert "or the IT Network Manager so that it can be logged" in text  # quoted
    assert PERSONAL_USE in text
    assert "Next step" in text and "/report" in text
    # Report it opens the report form with a pupil's friend request chosen.
    (report_it,) = [
        e
        for b in snapchat["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "report.open"
    ]
    assert report_it["value"] == "pupil_request"

    linkedin = json.dumps(await ask(bot, "can I put the school in my LinkedIn bio?"))
    assert "once the Co-Headteachers have given their permission" in linkedin
    # Who to ask is named: both Co-Headteachers, as mentions.
    assert all(f"<@{head}>" in linkedin for head in CO_HEADS)

    phone = await ask(bot, "can I use my own phone for the trip photos?")
    assert PHOTOGRAPHS in json.dumps(phone)
    assert questions.START_DRAFT in buttons_of(phone)
    assert questions.ESCALATE in buttons_of(phone)


async def test_start_a_draft_opens_the_draft_form(bot: RunningBot, fake_slack: FakeSlack) -> None:
    answer = await ask(bot, "Who approves posts for the school Facebook page?")
    value = buttons_of(answer)[questions.START_DRAFT]
    reply = await bot.click(TEACHER, questions.START_DRAFT, value, fake_slack.response_url("t"))
    assert reply.status == 200
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("views.open")))
    view = fake_slack.calls_to("views.open")[-1].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "post.draft"


async def test_small_talk_off_topic_and_empty_input_get_short_sensible_replies(
    bot: RunningBot,
) -> None:
    assert "welcome" in json.dumps(await ask(bot, "thanks!")).lower()
    assert "Hello" in json.dumps(await ask(bot, "hello"))
    lunch = json.dumps(await ask(bot, "what's for lunch today?"))
    assert "does not look like a question about the staff Social Media Policy" in lunch
    assert PERSONAL_USE not in lunch  # no random passage
    bare = json.dumps(await ask(bot, "   "))
    assert "/post" in bare and "/policy" in bare
    # Only real questions are kept.
    assert [q.question for q in await bot.rows(PolicyQuestion)] == ["what's for lunch today?"]


async def test_every_answer_is_stored_with_the_policy_version_it_came_from(
    bot: RunningBot,
) -> None:
    await ask(bot, "Can the school read my emails on the work laptop?")
    (stored,) = await bot.rows(PolicyQuestion)
    document = parse_policy(POLICY_FILE.read_bytes(), POLICY_FILE.name)
    assert stored.policy_hash == document.digest
    assert stored.sections[0]["title"] == heading("Monitoring")
    assert stored.kind == "answered" and stored.asker_key is None


async def test_without_a_policy_the_bot_starts_and_says_no_policy_is_loaded(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = await start_bot(no_policy=True)
    assert (await bot.get("/healthz")).status == 200
    # Small talk needs no policy.
    assert "welcome" in json.dumps(await ask(bot, "thanks!")).lower()
    answer = await ask(bot, "can I use my own phone for the trip photos?")
    assert "No policy loaded" in json.dumps(answer)
    # The IT Network Manager can still be asked, and answer; but the answer cannot be kept,
    # with no policy to tie it to.
    question_id = buttons_of(answer)[questions.ESCALATE]
    await bot.click(TEACHER, questions.ESCALATE, question_id, fake_slack.response_url("t"))
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(SAM)))
    kept = await _answer(bot, SAM, question_id, "Only school devices, please.", keep=True)
    assert kept["response_action"] == "errors" and questions.LEARN in kept["errors"]
    sent = await _answer(bot, SAM, question_id, "Only school devices, please.")
    assert sent["response_action"] == "update"
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(TEACHER)))


@pytest.mark.postgres_only
async def test_two_answers_at_once_on_postgresql_store_one(database_url: str) -> None:
    """Two transactions, interleaved as two instances of the bot would: the second waits for
    the first's row lock, then finds the question answered."""
    from bot.core.questions import AnswerKind, NewQuestion
    from bot.store.db import make_engine, migrate
    from bot.store.question_repo import SqlQuestions

    engine = make_engine(database_url)
    try:
        await migrate(engine)
        async with engine.begin() as db:
            record = await SqlQuestions(db).create(
                NewQuestion("slack:U0TEACH", "May I?", AnswerKind.UNSURE, None, (), None, NOW)
            )
            assert await SqlQuestions(db).mark_escalated(record.id, NOW) == "Q-0001"
        async with engine.connect() as first, engine.connect() as second:
            await first.begin()
            await second.begin()
            assert await SqlQuestions(first).record_answer(record.id, "sam", "Yes", NOW, None, None)
            racing = asyncio.create_task(
                SqlQuestions(second).record_answer(record.id, "nia", "No", NOW, None, None)
            )
            await asyncio.sleep(0.2)
            assert not racing.done()  # held by the first's row lock
            await first.commit()
            assert await racing is False
            await second.commit()
        async with engine.connect() as db:
            stored = await SqlQuestions(db).get(record.id)
        assert stored is not None and stored.answer == "Yes" and stored.answered_by == "sam"
    finally:
        await engine.dispose()


async def test_a_question_goes_to_the_network_manager_and_the_answer_comes_back(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    asked = "Can I livestream the summer fair on my own TikTok?"
    answer = await ask(bot, asked)
    escalate = buttons_of(answer)[questions.ESCALATE]

    # Someone else cannot send the teacher's question on.
    await bot.click(OTHER_TEACHER, questions.ESCALATE, escalate, fake_slack.response_url("o"))
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to("o")))
    assert "Only the person who asked" in json.dumps(fake_slack.responses_to("o"))

    await bot.click(TEACHER, questions.ESCALATE, escalate, fake_slack.response_url("t"))
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to("t")))
    assert "Sent to the IT Network Manager as Q-0001" in json.dumps(fake_slack.responses_to("t"))
    # Both Network Managers get the question as a card, and nobody else.
    await fake_slack.wait_for(
        lambda: bool(fake_slack.messages_to(SAM) and fake_slack.messages_to(NIA))
    )
    card = fake_slack.messages_to(SAM)[0].args
    assert asked in json.dumps(card) and "<@U0TEACH>" in json.dumps(card)
    for head in CO_HEADS:
        assert not fake_slack.messages_to(head)
    # Asking twice sends nothing more.
    await bot.click(TEACHER, questions.ESCALATE, escalate, fake_slack.response_url("t"))
    await fake_slack.wait_for(lambda: len(fake_slack.responses_to("t")) == 2)
    assert "already gone" in json.dumps(fake_slack.responses_to("t")[-1])

    # A question nobody sent on is not the Network Manager's to read or answer.
    other = buttons_of(await ask(bot, "Can I share the school's Instagram posts?", OTHER_TEACHER))
    await bot.click(SAM, questions.ANSWER, other[questions.ESCALATE], fake_slack.response_url("x"))
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to("x")))
    assert "not one sent to the IT Network Manager" in json.dumps(fake_slack.responses_to("x"))
    unsent = await _answer(bot, SAM, other[questions.ESCALATE], "Yes.")
    assert "not one sent" in json.dumps(unsent)

    # A teacher cannot open the answer form; the Network Manager can, at the moment of the click.
    await bot.click(TEACHER, questions.ANSWER, escalate, fake_slack.response_url("t2"))
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to("t2")))
    assert "Only the IT Network Manager" in json.dumps(fake_slack.responses_to("t2"))
    assert not fake_slack.calls_to("views.open")
    await bot.click(SAM, questions.ANSWER, escalate, fake_slack.response_url("sam"))
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("views.open")))
    view = fake_slack.calls_to("views.open")[-1].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == questions.ANSWER_FORM

    # A blank answer is refused in the form, and changes nothing.
    blank = await _answer(bot, SAM, escalate, "   ")
    assert blank["response_action"] == "errors" and questions.ANSWER_TEXT in blank["errors"]

    # The teacher's chat with the bot is down for a moment: the answer waits, then arrives.
    fake_slack.fail_next("chat.postMessage", Fault(only_when={"channel": f"D{TEACHER}"}))
    sent = await _answer(bot, SAM, escalate, "Not on a personal account, sorry.", keep=True)
    assert sent["response_action"] == "update"
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(TEACHER)))
    told = json.dumps(fake_slack.messages_to(TEACHER)[-1].args)
    assert "Not on a personal account, sorry." in told and asked in told
    assert fake_slack.failed  # the first attempt failed and was retried
    # The other Network Manager's card now shows who answered, in place.
    await fake_slack.wait_for(lambda: any(c["updates"] for c in fake_slack.cards_of(NIA).values()))
    (nia_card,) = fake_slack.cards_of(NIA).values()
    assert "Answered by" in json.dumps(nia_card["blocks"]) and "<@U0NETMGR>" in json.dumps(
        nia_card["blocks"]
    )
    # A second answer from the other Network Manager is refused: the first stands.
    late = await _answer(bot, NIA, escalate, "Yes, go ahead.")
    assert late["response_action"] == "errors"  # the form stays open, with the reason
    assert "already answered by Sam Network" in late["errors"][questions.ANSWER_TEXT]

    stored = (await bot.rows(PolicyQuestion))[0]
    assert stored.answer == "Not on a personal account, sorry." and stored.learned
    assert stored.answered_by == "sam" and stored.answer_policy_hash == stored.policy_hash
    assert stored.learned_sections and stored.learned_sections[0]["digest"]
    events = await bot.rows(AuditEvent)
    assert [e.action for e in events] == ["question.escalated", "question.answered"]
    # The audit log holds references and counts, never the question or the answer.
    assert asked not in json.dumps([e.detail for e in events])
    assert {e.object_id for e in events} == {"Q-0001"}
    # Each Network Manager got the question once, however often it was sent on.
    assert len(fake_slack.messages_to(SAM)) == len(fake_slack.messages_to(NIA)) == 1

    # Next time, much the same question gets the Network Manager's answer beside the policy's,
    # and never the first asker's question.
    again = json.dumps(await ask(bot, "is it ok to livestream the summer fair on my own tiktok"))
    assert "Not on a personal account, sorry." in again
    assert "has answered a question like yours" in again and asked not in again
    # The school's account is another matter: that answer is not offered for it.
    school = json.dumps(await ask(bot, "Can I livestream the summer fair on the school TikTok?"))
    assert "Not on a personal account, sorry." not in school


async def _answer(
    bot: RunningBot, user: str, question_id: str, text: str, keep: bool = False
) -> dict[str, Any]:
    values: dict[str, Any] = {
        questions.ANSWER_TEXT: {"type": "plain_text_input", "value": text},
        questions.LEARN: {
            "type": "checkboxes",
            "selected_options": [{"value": questions.LEARN}] if keep else [],
        },
        questions.SECTIONS: {"type": "checkboxes", "selected_options": [{"value": "0"}]},
    }
    wrapped = {name: {name: element} for name, element in values.items()}
    payload = view_payload(user, questions.ANSWER_FORM, question_id, {})
    payload["view"]["state"]["values"] = wrapped
    reply = await bot.submit(payload)
    assert reply.status == 200
    answer: dict[str, Any] = reply.json()
    return answer


async def test_a_kept_answer_is_held_back_when_its_section_changes(
    start_bot: BotFactory, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    policy = tmp_path / POLICY_FILE.name
    policy.write_text(POLICY_FILE.read_text("utf-8"), "utf-8")
    bot = await start_bot(policy=policy)
    asked = "Can I livestream the summer fair on my own TikTok?"
    escalate = buttons_of(await ask(bot, asked))[questions.ESCALATE]
    await bot.click(TEACHER, questions.ESCALATE, escalate, fake_slack.response_url("t"))
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(SAM)))
    await _answer(bot, SAM, escalate, "Not on a personal account.", keep=True)
    assert "Not on a personal account." in json.dumps(await ask(bot, asked))

    # A change elsewhere in the policy leaves it be.
    stored = (await bot.rows(PolicyQuestion))[0]
    title = stored.learned_sections[0]["title"]
    text = policy.read_text("utf-8")
    recruitment, monitoring = heading("Recruitment"), heading("Monitoring")
    other = recruitment if title != recruitment else monitoring
    policy.write_text(text.replace(f"{other}\n\n", f"{other}\n\nA new first line.\n\n"), "utf-8")
    assert "Not on a personal account." in json.dumps(await ask(bot, asked))

    # The school rewrites the section the answer rests on; the bot reads the new version.
    section_start = text.index(title.rstrip(":"))
    paragraph_end = text.index("\n\n", text.index("\n\n", section_start) + 2)
    policy.write_text(
        text[:paragraph_end]
        + " Livestreams need the Co-Headteachers' agreement."
        + text[paragraph_end:],
        "utf-8",
    )
    after = json.dumps(await ask(bot, asked))
    assert "Not on a personal account." not in after


async def test_slack_failing_to_deliver_the_question_loses_nothing(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    escalate = buttons_of(await ask(bot, "Is it ok to join a Facebook group for local teachers?"))
    fake_slack.fail_next("chat.postMessage", Fault(status=503), Fault(status=503))
    await bot.click(TEACHER, questions.ESCALATE, escalate[questions.ESCALATE], "http://x/")

    async def delivered() -> bool:
        async with sessions(bot.runtime.engine)() as session:
            items = (await session.scalars(select(OutboxItem))).all()
        return bool(items) and all(i.status == "sent" for i in items)

    await eventually(delivered, what="the question cards to be delivered")
    assert len(fake_slack.failed) == 2  # Slack did fail, twice
    assert fake_slack.messages_to(SAM) and fake_slack.messages_to(NIA)


async def test_two_network_managers_answering_at_once_make_one_answer(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    escalate = buttons_of(await ask(bot, "Can I join a Facebook group for local teachers?"))
    question_id = escalate[questions.ESCALATE]
    await bot.click(TEACHER, questions.ESCALATE, question_id, fake_slack.response_url("t"))
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(SAM)))
    first, second = await asyncio.gather(
        _answer(bot, SAM, question_id, "Yes, as yourself."),
        _answer(bot, NIA, question_id, "No."),
    )
    outcomes = sorted(json.dumps(a) for a in (first, second))
    assert sum("already answered" in o for o in outcomes) == 1
    (stored,) = [q for q in await bot.rows(PolicyQuestion) if q.reference]
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(TEACHER)))
    told = [json.dumps(m.args) for m in fake_slack.messages_to(TEACHER)]
    assert len(told) == 1 and stored.answer in told[0]


async def test_the_bot_answers_from_a_word_document(start_bot: BotFactory, tmp_path: Path) -> None:
    text = parse_policy(POLICY_FILE.read_bytes(), POLICY_FILE.name)
    paragraphs: list[tuple[str, str | None]] = [(text.title or "", "Titel")]
    for section in text.sections:
        paragraphs.append((section.title, "berschrift1"))
        paragraphs.extend((line, None) for line in section.text.split("\n"))
    policy = tmp_path / "social-media-policy.docx"
    policy.write_bytes(word_document(paragraphs))
    bot = await start_bot(policy=policy)
    answer = json.dumps(await ask(bot, "can I use my own phone for the trip photos?"))
    assert PHOTOGRAPHS in answer and "school cameras" in answer
    (stored,) = await bot.rows(PolicyQuestion)
    assert stored.policy_hash == text.digest  # the same words, the same version
