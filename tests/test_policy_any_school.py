"""Policy questions for any school's policy: what the bot knows is tied to meaning, not to
heading text. Renamed, reordered or merged sections give the same answers; another school's
document gets its own words, never a short answer written for someone else's; a topic the
document does not cover is not answered; the school's review holds while its passages do."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.policy import PolicyDocument, parse_policy
from bot.core.policy_map import Basis
from bot.core.policy_review import DecisionKind, ReviewError, decide, proposals, reviewed
from bot.core.questions import (
    FROM_SECTION,
    HELD,
    UNSURE,
    AnswerKind,
    PolicyIndex,
    answer_question,
)
from bot.knowledge import load_knowledge
from bot.policy_source import open_policy
from tests.harness import EXAMPLE_POLICY, ROOT

OTHER_SCHOOLS = sorted((ROOT / "bench" / "policies").glob("*.*"))
NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)


def _renamed(text: str) -> str:
    """Every `##` heading of the example reworded, its body untouched."""
    return re.sub(
        r"^## (.+)$", lambda m: f"## Part about {m.group(1)[::-1].lower()}", text, flags=re.M
    )


def _document(text: str, name: str = "policy.md") -> PolicyDocument:
    return parse_policy(text.encode(), name)


QUESTIONS = (
    "a Year 8 added me on Snapchat, what do I do?",
    "can I use my own phone for the trip photos?",
    "who approves posts for the school Facebook?",
    "can I put that I work here on my LinkedIn?",
)


def test_renamed_headings_give_the_same_answers() -> None:
    knowledge = load_knowledge()
    text = EXAMPLE_POLICY.read_text("utf-8")
    before = PolicyIndex(_document(text), knowledge)
    after = PolicyIndex(_document(_renamed(text)), knowledge)
    # Every short answer is found by its passages, whatever the headings say.
    assert {k: p.basis for k, p in after.placements.items() if p.topic.rests_on} == {
        k: p.basis for k, p in before.placements.items() if p.topic.rests_on
    }
    for question in QUESTIONS:
        one, two = answer_question(before, question), answer_question(after, question)
        assert one.confident and one.topic is not None, question
        assert (two.text, two.topic) == (one.text, one.topic), question
        assert two.quoted[0].passages == one.quoted[0].passages


def test_reordered_and_merged_sections_are_found() -> None:
    knowledge = load_knowledge()
    text = EXAMPLE_POLICY.read_text("utf-8")
    parts = re.split(r"(?m)^(?=## )", text)
    head, sections = parts[0], parts[1:]
    # The last section first, and two sections merged under one heading.
    sections = [sections[-1], *sections[:-1]]
    merged = "\n".join(sections).replace("## Your personal accounts\n", "", 1)
    index = PolicyIndex(_document(head + merged), knowledge)
    assert {p.basis for p in index.placements.values() if p.topic.rests_on} == {Basis.WORD_FOR_WORD}
    found = answer_question(index, "a Year 8 added me on Snapchat, what do I do?")
    assert found.confident and found.topic is not None
    assert found.topic.key == "pupil-friend-request"


@pytest.mark.parametrize("policy", OTHER_SCHOOLS, ids=[p.stem for p in OTHER_SCHOOLS])
def test_another_schools_policy_gets_its_own_words_never_anothers_short_answer(
    policy: Path,
) -> None:
    knowledge = load_knowledge()
    document = parse_policy(policy.read_bytes(), policy.name)
    index = PolicyIndex(document, knowledge)
    assert not any(p.basis is Basis.WORD_FOR_WORD for p in index.placements.values())
    shown = {s.short_title for s in document.sections}
    questions = (ROOT / "bench" / "questions" / f"{policy.stem}.tsv").read_text("utf-8")
    for line in questions.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        answer = answer_question(index, line.partition("\t")[0])
        assert answer.text in (FROM_SECTION, HELD, UNSURE) or answer.kind is AnswerKind.OFF_TOPIC
        assert answer.topic is None
        for quoted in answer.quoted:
            assert quoted.section.short_title in shown
            for passage in quoted.passages:
                # The document's own words, cut to the sentences that matter.
                for part in passage.text.split(" … "):
                    assert part.strip(" …") in quoted.section.text


def test_a_topic_the_document_does_not_cover_is_not_answered() -> None:
    document = _document(
        "# Staff policy\n\n## Using phones\n\nStaff keep personal phones in lockers during "
        "lessons.\n\n## Contact with pupils\n\nStaff must not accept friend requests or follow "
        "requests from pupils on any social network, and tell the safeguarding lead.\n"
    )
    index = PolicyIndex(document, load_knowledge())
    placed = {k: p for k, p in index.placements.items() if p.basis is not Basis.NOT_COVERED}
    assert "pupil-friend-request" in placed
    assert "new-school-account" not in placed and "logos" not in placed
    found = answer_question(index, "a Year 8 added me on Snapchat, what do I do?")
    assert found.quoted[0].section.short_title == "Contact with pupils"
    assert found.topic is None  # placed by content: the document's words, not a short answer


@pytest.mark.parametrize(
    "question",
    ["can I friend a parent", "whatsapp group with parents ok?", "can I follow a mum on insta"],
)
def test_everyday_phrasing_is_a_policy_question(question: str) -> None:
    index = PolicyIndex(EXAMPLE_POLICY_DOCUMENT(), load_knowledge())
    assert answer_question(index, question).kind is not AnswerKind.OFF_TOPIC


def EXAMPLE_POLICY_DOCUMENT() -> PolicyDocument:
    return parse_policy(EXAMPLE_POLICY.read_bytes(), EXAMPLE_POLICY.name)


def test_the_schools_review_holds_while_its_passages_read_the_same() -> None:
    knowledge = load_knowledge()
    policy = OTHER_SCHOOLS[0]
    text = policy.read_text("utf-8")
    index = PolicyIndex(parse_policy(text.encode(), policy.name), knowledge)
    waiting = [p for p in proposals(index) if p.needs_review]
    assert waiting and all(p.placement.answer is None for p in waiting)
    first = waiting[0]
    assert first.section is not None and first.passages

    rewrite = decide(
        index,
        first.topic_key,
        DecisionKind.REWRITE,
        "slack:U0NETMGR",
        NOW,
        answer="Ask the School Business Manager before you post anything.",
    )
    done = reviewed(index, [rewrite])
    placed = done.placements[first.topic_key]
    assert placed.basis is Basis.DECIDED and placed.answer == rewrite.answer
    assert not any(
        p.topic_key == first.topic_key and p.needs_review for p in proposals(index, [rewrite])
    )

    # Headings renamed, passages unchanged: the decision still holds.
    renamed = re.sub(r"(?m)^(\d+(?:\.\d+)?\.?) (.+)$", r"\1 Heading \1", text)
    again = PolicyIndex(parse_policy(renamed.encode(), policy.name), knowledge)
    assert reviewed(again, [rewrite]).placements[first.topic_key].answer == rewrite.answer
    # A passage it rests on reworded: it asks again.
    passage = first.passages[0].text
    reworded = text.replace(passage, passage.replace(" ", "  ", 1) + " This changed.")
    later = PolicyIndex(parse_policy(reworded.encode(), policy.name), knowledge)
    assert reviewed(later, [rewrite]).placements[first.topic_key].basis is not Basis.DECIDED

    # Bad decisions are refused with a reason and change nothing.
    with pytest.raises(ReviewError, match="write the short answer"):
        decide(index, first.topic_key, DecisionKind.REWRITE, "slack:U0NETMGR", NOW, answer=" ")
    with pytest.raises(ReviewError, match="no topic"):
        decide(index, "no-such-topic", DecisionKind.ACCEPT, "slack:U0NETMGR", NOW)
    with pytest.raises(ReviewError, match="600"):
        decide(index, first.topic_key, DecisionKind.REWRITE, "x", NOW, answer="word " * 200)


def test_start_up_says_in_one_line_where_the_knowledge_was_found(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.policy_source")
    open_policy(OTHER_SCHOOLS[0])
    said = [r for r in caplog.records if r.name == "bot.policy_source"]
    assert not [r for r in said if r.levelno >= logging.WARNING]
    summary = [r.getMessage() for r in said if "found word for word" in r.getMessage()]
    assert len(summary) == 1
    assert "0 of" in summary[0] and "until reviewed" in summary[0]


def test_no_confident_wrong_answer_on_any_schools_questions() -> None:
    """The issue's bar, on every set the repository holds (the first school's only where
    ../shared is present): of the answers given as the answer, at least 98% come from an
    acceptable section."""
    from bench.policy_accuracy import measure, sets

    knowledge = load_knowledge()
    for name, found in sets().items():
        if isinstance(found, str):
            continue
        document, rows = found
        score = measure(PolicyIndex(document, knowledge), rows, [])
        assert score.confident, name
        assert score.confident_right >= 0.98 * score.confident, (name, score.line())


def test_one_sentence_kept_from_another_policy_brings_none_of_its_short_answers() -> None:
    """A school that kept one sentence of the example's (an outsider's try) gets its own words:
    a short answer rests on every passage of the section it was checked against."""
    knowledge = load_knowledge()
    example = EXAMPLE_POLICY_DOCUMENT()
    kept = next(s for s in example.answerable if len(s.passages) > 1).passages[0].text
    document = _document(
        "# Staff code\n\n## 8. Our rules\n\nThis policy forms part of every employee's contract "
        f"of employment.\n\n{kept}\n"
    )
    index = PolicyIndex(document, knowledge)
    assert not any(p.basis is Basis.WORD_FOR_WORD for p in index.placements.values())


def test_a_rewritten_answer_drops_the_next_step_written_for_the_topics_own() -> None:
    index = PolicyIndex(EXAMPLE_POLICY_DOCUMENT(), load_knowledge())
    question = "a Year 8 added me on Snapchat, what do I do?"
    before = answer_question(index, question)
    assert before.topic is not None and before.topic.next is not None
    rewrite = decide(
        index, before.topic.key, DecisionKind.REWRITE, "sam", NOW, answer="Tell the DSL today."
    )
    after = answer_question(reviewed(index, [rewrite]), question)
    assert after.text == "Tell the DSL today." and after.topic is not None
    assert after.topic.next is None
