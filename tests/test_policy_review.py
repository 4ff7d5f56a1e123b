"""The school's review of where the bot answers from (issue: the school reviews its own policy,
and each new version, without editing code): the decisions in the core, and the IT Network
Manager's review card in Slack, over HTTP, with the answers staff get before and after."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.core.policy import parse_policy
from bot.core.policy_index import PolicyIndex
from bot.core.policy_map import Basis
from bot.core.policy_review import (
    REVIEW_ANSWER_MAX,
    DecisionKind,
    decide,
    proposals,
    reviewed,
)
from bot.core.questions import HELD, UNSURE, answer_question
from bot.handlers import policy_review
from bot.knowledge import load_knowledge
from bot.store.db import make_engine
from bot.store.models import POLICY_REVIEWS, AuditEvent, PolicyReview
from bot.teams.cards import VALUE_KEY
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack, validate_blocks
from tests.fakes.teams import FakeTeams, inputs_of
from tests.harness import FIXTURES, RunningBot, validate_reply, view_payload
from tests.review_school import (
    APPENDIX,
    BROOKFIELD,
    FRIEND_QUESTION,
    FRIEND_REQUEST,
    FROM_SECTION,
    PERSONAL_ACCOUNTS,
    RENAMED,
    REWORDED,
    SHORT_ANSWER,
    write_policy,
)
from tests.teams_client import SAM as TEAMS_SAM
from tests.teams_client import TEACHER as TEAMS_TEACHER
from tests.teams_client import TeamsUser, action_titled, texts_of

SAM, TEACHER = "U0NETMGR", "U0TEACH"
NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


# A not-sure answer's first words, as the chat shows them (the text is wrapped in some edges).
UNSURE_SHOWN = UNSURE.split(",")[0]


def _index(text: str) -> PolicyIndex:
    return PolicyIndex(parse_policy(text.encode(), "conduct-code.md"), load_knowledge())


# --- the decisions, on another school's policy ---------------------------------------------


def test_another_schools_policy_quotes_its_passage_until_reviewed_then_serves_the_answer() -> None:
    index = _index(BROOKFIELD)
    waiting = [p for p in proposals(index) if p.needs_review]
    assert FRIEND_REQUEST in [p.topic_key for p in waiting]
    before = answer_question(index, FRIEND_QUESTION)
    # The school's own words: given as the answer, or as the nearest passage when not sure.
    assert before.text in (FROM_SECTION, UNSURE) and before.topic is None
    assert SHORT_ANSWER not in before.text
    # The passage itself is what staff get: the school's words.
    assert "Designated Safeguarding Lead" in " ".join(
        p.text for q in before.quoted for p in q.passages
    )

    accepted = decide(index, FRIEND_REQUEST, DecisionKind.ACCEPT, "sam", NOW)
    after = answer_question(reviewed(index, [accepted]), FRIEND_QUESTION)
    assert after.text.startswith(SHORT_ANSWER)
    (proposal,) = [p for p in proposals(index, [accepted]) if p.topic_key == FRIEND_REQUEST]
    assert not proposal.needs_review and proposal.placement.basis is Basis.DECIDED

    # Headings renamed, passages unchanged: the decision still holds.
    renamed = _index(RENAMED)
    assert renamed.document.digest != index.document.digest
    held = answer_question(reviewed(renamed, [accepted]), FRIEND_QUESTION)
    assert held.text.startswith(SHORT_ANSWER)
    assert held.quoted[0].section.short_title == "2. Pupils and the internet"

    # The passage reworded: asked again, and the passage is served meanwhile.
    reworded = _index(REWORDED)
    again = answer_question(reviewed(reworded, [accepted]), FRIEND_QUESTION)
    assert again.text in (FROM_SECTION, UNSURE, HELD) and again.topic is None
    (proposal,) = [p for p in proposals(reworded, [accepted]) if p.topic_key == FRIEND_REQUEST]
    assert proposal.needs_review and proposal.decision is None


def test_a_rewritten_answer_is_served_and_a_bad_decision_is_refused() -> None:
    index = _index(BROOKFIELD)
    ours = "Decline it, don't reply, and tell the DSL so it is recorded."
    rewritten = decide(index, FRIEND_REQUEST, DecisionKind.REWRITE, "sam", NOW, answer=ours)
    assert answer_question(reviewed(index, [rewritten]), FRIEND_QUESTION).text == ours
    appendix = index.document.sections[APPENDIX - 1]
    for kind, given in (
        (DecisionKind.REWRITE, {"answer": "  "}),
        (DecisionKind.REWRITE, {"answer": "x" * (REVIEW_ANSWER_MAX + 1)}),
        (DecisionKind.REASSIGN, {"section": appendix}),
    ):
        with pytest.raises(ValueError):
            decide(index, FRIEND_REQUEST, kind, "sam", NOW, **given)  # type: ignore[arg-type]


# --- Slack ------------------------------------------------------------------------------------


async def _said(bot: RunningBot, user: str, text: str) -> dict[str, Any]:
    reply = await bot.command("/policy", user, text)
    assert reply.status == 200
    validate_reply(reply)
    answer: dict[str, Any] = reply.json()
    assert answer["response_type"] == "ephemeral"
    return answer


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        element["action_id"]: element.get("value", "")
        for block in message.get("blocks", [])
        if block.get("type") == "actions"
        for element in block["elements"]
    }


def _for(card: dict[str, Any], topic: str) -> str:
    """A card's button value, for another topic of the same version of the policy."""
    version = _buttons(card)[policy_review.ACCEPT].partition(":")[0]
    return f"{version}:{topic}"


async def _click(
    bot: RunningBot, slack: FakeSlack, user: str, action: str, value: str, key: str
) -> str:
    reply = await bot.click(user, action, value, slack.response_url(key))
    assert reply.status == 200
    await slack.wait_for(lambda: bool(slack.responses_to(key)), what=f"a reply to {key}")
    return json.dumps(slack.responses_to(key)[-1])


async def _form(
    bot: RunningBot, user: str, form_id: str, value: str, values: dict[str, Any]
) -> dict[str, Any]:
    reply = await bot.submit(view_payload(user, form_id, value, values))
    assert reply.status == 200
    validate_reply(reply)
    answer: dict[str, Any] = reply.json()
    return answer


def _dm_cards(slack: FakeSlack, user: str) -> list[str]:
    return [json.dumps(c.args) for c in slack.messages_to(user)]


@pytest.fixture
def brookfield(tmp_path: Path) -> Path:
    return write_policy(tmp_path)


async def test_the_network_manager_reviews_in_slack_and_staff_get_the_reviewed_answer(
    start_bot: BotFactory, fake_slack: FakeSlack, brookfield: Path
) -> None:
    bot = await start_bot(policy=brookfield)
    before = json.dumps(await _said(bot, TEACHER, FRIEND_QUESTION))
    assert (FROM_SECTION in before or UNSURE_SHOWN in before) and SHORT_ANSWER not in before

    card = await _said(bot, SAM, "review")
    shown = json.dumps(card)
    assert "Policy review:" in shown and "topics to review" in shown
    assert "Proposed section" in shown and "found by what the section says" in shown
    assert set(_buttons(card)) == {
        policy_review.ACCEPT,
        policy_review.OTHER_SECTION,
        policy_review.REWRITE,
        policy_review.NOT_COVERED,
        policy_review.SKIP,
    }
    # "review" with more words is a question, not the review.
    assert "Policy review:" not in json.dumps(await _said(bot, SAM, "review of my post?"))

    # Accept: stored with the version, the card moves on (in the reviewer's chat).
    value = _for(card, FRIEND_REQUEST)
    told = await _click(bot, fake_slack, SAM, policy_review.ACCEPT, value, "accept")
    assert f"Saved for {FRIEND_REQUEST} (2. Contact with pupils online)" in told
    (stored,) = await bot.rows(PolicyReview)
    document = parse_policy(BROOKFIELD.encode(), brookfield.name)
    assert stored.policy_version == document.digest and stored.kind == "accept"
    assert stored.decided_by == "sam" and stored.passages and stored.answer is None
    assert stored.decided_by_name == "Sam Network"
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(SAM)), what="the next card")
    next_card = fake_slack.messages_to(SAM)[-1].args
    blocks = next_card["blocks"]
    validate_blocks(json.loads(blocks) if isinstance(blocks, str) else blocks, 50)
    assert "Policy review:" in json.dumps(next_card)
    assert any(e.action == "policy.reviewed" for e in await bot.rows(AuditEvent))

    after = json.dumps(await _said(bot, TEACHER, FRIEND_QUESTION))
    assert SHORT_ANSWER in after

    # Rewrite: an empty or too long answer is refused in the form, nothing stored.
    for bad in ("   ", "x" * (REVIEW_ANSWER_MAX + 1)):
        refused = await _form(
            bot,
            SAM,
            policy_review.REWRITE_FORM,
            value,
            {policy_review.ANSWER: {"type": "plain_text_input", "value": bad}},
        )
        assert refused["response_action"] == "errors"
        assert policy_review.ANSWER in refused["errors"]
    assert await bot.count(PolicyReview) == 1
    ours = "Decline it, do not reply, and tell the DSL so it is recorded."
    done = await _form(
        bot,
        SAM,
        policy_review.REWRITE_FORM,
        value,
        {policy_review.ANSWER: {"type": "plain_text_input", "value": ours}},
    )
    assert done["response_action"] == "update"
    assert "answered with the school's own words" in json.dumps(done)
    assert ours in json.dumps(await _said(bot, TEACHER, FRIEND_QUESTION))

    # Another section: one with no text, or none at all, is refused; nothing stored.
    photos = _for(card, "own-device-photos")
    for bad in (str(APPENDIX), "99", "two"):
        refused = await _form(
            bot,
            SAM,
            policy_review.SECTION_FORM,
            photos,
            {
                policy_review.SECTION: {
                    "type": "static_select",
                    "selected_option": {"value": bad},
                }
            },
        )
        assert refused["response_action"] == "errors", bad
    assert await bot.count(PolicyReview) == 2
    moved = await _form(
        bot,
        SAM,
        policy_review.SECTION_FORM,
        photos,
        {
            policy_review.SECTION: {
                "type": "static_select",
                "selected_option": {"value": str(PERSONAL_ACCOUNTS)},
            }
        },
    )
    assert moved["response_action"] == "update"
    # Not covered.
    told = await _click(
        bot, fake_slack, SAM, policy_review.NOT_COVERED, _for(card, "training"), "not-covered"
    )
    assert "this document does not cover it" in told
    kinds = [(r.topic_key, r.kind) for r in await bot.rows(PolicyReview)]
    assert kinds == [
        (FRIEND_REQUEST, "accept"),
        (FRIEND_REQUEST, "rewrite"),
        ("own-device-photos", "reassign"),
        ("training", "not_covered"),
    ]
    # The history stays; the latest holds.
    assert ours in json.dumps(await _said(bot, TEACHER, FRIEND_QUESTION))


async def test_only_the_network_manager_reviews_at_the_command_and_at_every_click(
    start_bot: BotFactory, fake_slack: FakeSlack, brookfield: Path
) -> None:
    bot = await start_bot(policy=brookfield)
    refused = json.dumps(await _said(bot, TEACHER, "review"))
    assert "Only the IT Network Manager reviews" in refused
    card = await _said(bot, SAM, "review")
    value = _for(card, FRIEND_REQUEST)
    for action in (policy_review.ACCEPT, policy_review.NOT_COVERED, policy_review.REWRITE):
        told = await _click(bot, fake_slack, TEACHER, action, value, f"teacher-{action}")
        assert "Only the IT Network Manager reviews" in told
    form = await _form(
        bot,
        TEACHER,
        policy_review.REWRITE_FORM,
        value,
        {policy_review.ANSWER: {"type": "plain_text_input", "value": "Anything goes."}},
    )
    assert form["response_action"] == "errors"
    assert "Only the IT Network Manager" in json.dumps(form)
    assert await bot.count(PolicyReview) == 0
    # Skip stores nothing and moves on.
    told = await _click(bot, fake_slack, SAM, policy_review.SKIP, value, "skip")
    assert f"Skipped {FRIEND_REQUEST}" in told
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(SAM)), what="the next card")
    assert await bot.count(PolicyReview) == 0


async def test_a_card_for_an_earlier_version_of_the_policy_saves_nothing_and_shows_the_new_one(
    start_bot: BotFactory, fake_slack: FakeSlack, brookfield: Path
) -> None:
    bot = await start_bot(policy=brookfield)
    card = await _said(bot, SAM, "review")
    value = _for(card, FRIEND_REQUEST)
    await asyncio.to_thread(brookfield.write_text, REWORDED, "utf-8")
    told = await _click(bot, fake_slack, SAM, policy_review.ACCEPT, value, "stale")
    assert "The policy document has changed since this card was made" in told
    assert await bot.count(PolicyReview) == 0
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(SAM)), what="the new card")
    new_version = parse_policy(REWORDED.encode(), brookfield.name).digest
    fresh = json.dumps(fake_slack.messages_to(SAM)[-1].args)
    assert f"{new_version[: policy_review.VERSION_CHARS]}:" in fresh

    # A decision made on the new version holds when only headings change after it.
    card = await _said(bot, SAM, "review")
    await _click(bot, fake_slack, SAM, policy_review.ACCEPT, _for(card, FRIEND_REQUEST), "accept")
    assert SHORT_ANSWER in json.dumps(await _said(bot, TEACHER, FRIEND_QUESTION))
    renamed = REWORDED.replace("## 2. Contact with pupils online", "## 2. Pupils online")
    await asyncio.to_thread(brookfield.write_text, renamed, "utf-8")
    assert SHORT_ANSWER in json.dumps(await _said(bot, TEACHER, FRIEND_QUESTION))
    # Reworded again: asked again, and the passage is served meanwhile.
    await asyncio.to_thread(brookfield.write_text, BROOKFIELD, "utf-8")
    again = json.dumps(await _said(bot, TEACHER, FRIEND_QUESTION))
    assert (FROM_SECTION in again or UNSURE_SHOWN in again) and SHORT_ANSWER not in again


async def test_without_a_policy_there_is_nothing_to_review(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = await start_bot(no_policy=True)
    assert policy_review.NO_POLICY in json.dumps(await _said(bot, SAM, "review"))


# --- Teams ------------------------------------------------------------------------------------


async def test_the_network_manager_reviews_in_teams_with_the_forms_in_the_card(
    start_bot: BotFactory, fake_teams: FakeTeams, brookfield: Path
) -> None:
    bot = await start_bot(policy=brookfield)
    sam = TeamsUser(bot, fake_teams, TEAMS_SAM, "Sam Network")
    teacher = TeamsUser(bot, fake_teams, TEAMS_TEACHER, "Robin Teacher")
    await sam.install()
    await teacher.install()
    await teacher.say("policy review")
    assert "Only the IT Network Manager reviews" in texts_of(teacher.last_card()[1])

    await sam.say("policy review")
    sent, card = sam.last_card()
    assert "Policy review:" in texts_of(card) and "Proposed section" in texts_of(card)
    accept = action_titled(card, "Accept")
    version, _, first_topic = accept["data"][VALUE_KEY].partition(":")
    friend = {VALUE_KEY: f"{version}:{FRIEND_REQUEST}"}

    refused = await teacher.click(card, "Accept", friend, reply_to=sent)
    assert "Only the IT Network Manager reviews" in refused["value"]
    assert await bot.count(PolicyReview) == 0

    before = len(sam.messages)
    saved = await sam.click(card, "Accept", friend, reply_to=sent)
    assert f"Saved for {FRIEND_REQUEST}" in texts_of(saved["value"])
    await fake_teams.wait_for(lambda: len(sam.messages) > before, what="the next card")
    assert "Policy review:" in texts_of(sam.last_card()[1])
    await teacher.say(FRIEND_QUESTION)
    assert SHORT_ANSWER in texts_of(teacher.last_card()[1])

    # The forms come inside the card: a bad answer or section is refused, nothing stored.
    ids = {i["id"] for i in inputs_of(card)}
    answer_id = next(i for i in ids if i.endswith(f".{policy_review.ANSWER}"))
    section_id = next(i for i in ids if i.endswith(f".{policy_review.SECTION}"))
    empty = await sam.click(card, "Save the answer", {answer_id: "  "}, reply_to=sent)
    assert "write the short answer" in json.dumps(empty).lower()
    appendix = await sam.click(card, "Answer from it", {section_id: str(APPENDIX)}, reply_to=sent)
    assert "a section of the policy that has text" in json.dumps(appendix)
    assert await bot.count(PolicyReview) == 1
    ours = "Everyone who works here, however employed."
    await sam.click(card, "Save the answer", {answer_id: ours}, reply_to=sent)
    await sam.click(card, "Answer from it", {section_id: str(PERSONAL_ACCOUNTS)}, reply_to=sent)
    await sam.click(card, "Not covered", reply_to=sent)
    kinds = [(r.topic_key, r.kind, r.answer) for r in await bot.rows(PolicyReview)]
    assert kinds == [
        (FRIEND_REQUEST, "accept", None),
        (first_topic, "rewrite", ours),
        (first_topic, "reassign", None),
        (first_topic, "not_covered", None),
    ]


# --- the terminal chat ---------------------------------------------------------------------


async def test_the_network_manager_reviews_in_the_terminal_chat(
    monkeypatch: pytest.MonkeyPatch, database_url: str, brookfield: Path, tmp_path: Path
) -> None:
    school = tmp_path / "school.yaml"
    school.write_text(
        (FIXTURES / "school.yaml").read_text(encoding="utf-8")
        + "  - {name: Terry Teacher, slack: U0TERRY}\n"
    )
    for name in list(os.environ):
        if name.startswith(("SLACK_", "SOCIALDESK_", "MICROSOFT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(school))
    monkeypatch.setenv("SOCIALDESK_POLICY", str(brookfield))
    monkeypatch.setenv("LOG_LEVEL", "warning")
    lines = [
        "/as terry",
        "policy review",
        FRIEND_QUESTION,
        "/as sam",
        "policy review",
        "1",  # Accept, on the first topic's card
        "/as terry",
        "policy review of my post?",
    ]
    stdout = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
    monkeypatch.setattr(sys, "stdout", stdout)
    assert await asyncio.to_thread(main, ["chat"]) == 0
    out = stdout.getvalue()
    assert "Only the IT Network Manager reviews" in out
    assert FROM_SECTION in out or UNSURE_SHOWN in out
    sam = out.split("You are now Sam Network", 1)[1]
    assert "Policy review:" in sam and "[1] Accept" in sam and "[5] Skip" in sam
    assert "Saved for " in sam
    (stored,) = await _rows(database_url)
    assert stored["kind"] == "accept" and stored["decided_by"] == "sam"


async def _rows(database_url: str) -> list[dict[str, object]]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as db:
            result = await db.execute(select(POLICY_REVIEWS).order_by(POLICY_REVIEWS.c.id))
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()
