"""Answers for a spread of questions in staff words, section by section (the core, without
HTTP); bench/policy_accuracy.py measures accuracy on many more. Each is asked of the example
school's policy (Markdown and Word), and of the first school's when it is beside the project.
Sections are named as the knowledge names them (the first school's titles)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.policy import parse_policy, title_key
from bot.core.questions import AnswerKind, NextKind, PolicyIndex, answer_question
from bot.knowledge import load_knowledge
from tests.harness import EXAMPLE_POLICY, EXAMPLE_POLICY_DOCX, SHARED_POLICY_FILE, heading

SPREAD = [
    ("Will we get warned before the rules change?", "Introduction"),
    ("Is this policy actually part of my contract?", "Introduction"),
    ("What is this policy even for?", "Purpose of This Policy"),
    ("Do the rules apply to the peripatetic music teachers?", "Who is Covered by This Policy?"),
    ("Does it count if I post from home in the holidays?", "Scope and Purpose of This Policy"),
    (
        "Who runs social media at school from day to day?",
        "Personnel Responsible for Implementing This Policy",
    ),
    (
        "Can I give an ex-colleague a recommendation on LinkedIn?",
        "Compliance with Related Policies and Agreements",
    ),
    (
        "Someone set up a fake profile pretending to be a teacher, is that allowed?",
        "Compliance with Related Policies and Agreements",
    ),
    ("A kid from my tutor group followed me on TikTok", "Personal Use of Social Media"),
    ("Can I check Facebook on the school PC at lunch?", "Personal Use of Social Media"),
    ("Is the school allowed to monitor my work emails?", "Monitoring"),
    (
        "A journalist from the local paper called me, can I talk to her?",
        "Educational and Extra-Curricular Use of Social Media",
    ),
    ("Will the school look me up online when I apply for a job here?", "Recruitment"),
    (
        "Can I take photos of sports day on my personal phone?",
        "Photographs for use with social media",
    ),
    (
        "One girl's name is on her certificate in the picture, can we still post it?",
        "Staff protocol for use of social media",
    ),
    (
        "I want to moan about the new marking policy on Twitter",
        "Protecting our business reputation",
    ),
    ("Our drama club wants its own Instagram account", "Process for creating new accounts"),
    (
        "Can I use the school badge on my charity run page?",
        "Respecting intellectual property and confidential information",
    ),
    (
        "Can I post a photo of my colleague from the staff party?",
        "Respecting colleagues, pupils, parents, clients, service providers and stakeholders",
    ),
    ("Who approves changes to the social media policy?", "Monitoring and Review of This Policy"),
]


POLICIES = {"example": EXAMPLE_POLICY, "example-docx": EXAMPLE_POLICY_DOCX}
POLICIES["first-school"] = SHARED_POLICY_FILE
# A question each policy does not settle (the example says more about unsure posts).
UNSETTLED = {
    "example": "Can I livestream the summer fair on my own TikTok?",
    "example-docx": "Can I livestream the summer fair on my own TikTok?",
    "first-school": "Is it OK to use AI to write posts?",
}


@pytest.fixture(scope="module", params=list(POLICIES))
def policy(request: pytest.FixtureRequest) -> Path:
    path = POLICIES[request.param]
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared policy is not beside the project")
    return path


@pytest.fixture(scope="module")
def index(policy: Path) -> PolicyIndex:
    return PolicyIndex(parse_policy(policy.read_bytes(), policy.name), load_knowledge())


@pytest.mark.parametrize(("question", "section"), SPREAD)
def test_each_section_answers_questions_in_staff_words(
    index: PolicyIndex, policy: Path, question: str, section: str
) -> None:
    found = answer_question(index, question)
    assert title_key(found.ranked[0].section.title) == title_key(heading(section, policy))
    if found.confident:
        # The answer quotes the section's own words.
        assert found.quoted[0].section.short_title == found.ranked[0].section.short_title
        assert all(p.text in found.quoted[0].section.text for p in found.quoted[0].passages)


@pytest.mark.parametrize(
    ("question", "step"),
    [
        ("a Year 8 added me on Snapchat, what do I do?", NextKind.REPORT),
        ("can I put the school in my LinkedIn bio?", NextKind.CO_HEADS),
        ("can I speak to a reporter about our school", NextKind.CO_HEADS),
        ("can I use the school logo on my tutoring flyer?", NextKind.CO_HEADS),
        ("Who checks posts before they go on the school Facebook?", NextKind.DRAFT),
    ],
)
def test_the_next_step_is_offered_where_one_exists(
    index: PolicyIndex, question: str, step: NextKind
) -> None:
    found = answer_question(index, question)
    assert found.confident and found.topic is not None and found.topic.next is not None
    assert found.topic.next.kind is step


def test_not_confident_means_saying_so_and_showing_the_nearest_passages(
    index: PolicyIndex, request: pytest.FixtureRequest
) -> None:
    found = answer_question(index, UNSETTLED[request.node.callspec.params["policy"]])
    assert found.kind is AnswerKind.UNSURE and not found.confident
    assert "not sure" in found.text
    assert len(found.quoted) == len(found.ranked) == 3


def test_off_topic_questions_get_no_passage(index: PolicyIndex) -> None:
    for question in ("what's for lunch today", "when is parents evening", "where do I park"):
        found = answer_question(index, question)
        assert found.kind is AnswerKind.OFF_TOPIC and not found.quoted
