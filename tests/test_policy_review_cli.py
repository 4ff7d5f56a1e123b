"""`socialdesk policy review` (and `policy`, `ask`) on another school's policy: the list, the
decisions given as flags, refused with one line and nothing saved when they cannot be made, and
the walk through the topics on a terminal."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.core.policy import parse_policy
from bot.core.policy_index import PolicyIndex
from bot.core.policy_review import REVIEW_ANSWER_MAX, Proposal, proposals
from bot.knowledge import load_knowledge
from bot.store.db import make_engine
from bot.store.models import POLICY_REVIEWS
from tests.harness import FIXTURES
from tests.processes import errors
from tests.review_school import (
    APPENDIX,
    BROOKFIELD,
    FRIEND_QUESTION,
    FRIEND_REQUEST,
    PERSONAL_ACCOUNTS,
    SHORT_ANSWER,
    write_policy,
)

Run = Callable[..., tuple[int, str, str]]


class Terminal(io.StringIO):
    """Standard input as a person at a terminal types it."""

    def isatty(self) -> bool:
        return True


def _waiting() -> list[Proposal]:
    """The topics of the Brookfield policy that wait for review, in the order they are asked."""
    index = PolicyIndex(parse_policy(BROOKFIELD.encode(), "conduct-code.md"), load_knowledge())
    return [p for p in proposals(index) if p.needs_review]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'socialdesk.db'}")
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(FIXTURES / "school.yaml"))
    monkeypatch.setenv("SOCIALDESK_POLICY", str(write_policy(tmp_path)))
    monkeypatch.setenv("LOG_LEVEL", "warning")

    def socialdesk(*args: str, typed: str | None = None) -> tuple[int, str, str]:
        if typed is not None:
            monkeypatch.setattr(sys, "stdin", Terminal(typed))
        else:
            monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return socialdesk


def _count(tmp_path: Path) -> int:
    import asyncio

    async def count() -> int:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'socialdesk.db'}")
        try:
            async with engine.connect() as db:
                return int((await db.execute(select(func.count(POLICY_REVIEWS.c.id)))).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_the_list_and_the_decisions_given_as_flags(run: Run, tmp_path: Path) -> None:
    # Before the database exists, a review says how to make one.
    status, _, err = run("policy", "review", "--list")
    assert status == 2 and "socialdesk migrate" in err
    assert run("migrate")[0] == 0

    status, out, _ = run("policy", "review", "--list")
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == len(load_knowledge().topics)
    assert lines[0].startswith("needs review ") and "found by what the section says" in out
    assert any(line.startswith("not covered ") for line in lines)
    # Not on a terminal, without flags: the same list, nothing asked.
    assert run("policy", "review")[1] == out

    status, out, _ = run("policy", "review", "--json")
    listed = json.loads(out)
    topics = {t["topic"]: t for t in listed["topics"]}
    assert topics[FRIEND_REQUEST]["status"] == "needs review"
    assert topics[FRIEND_REQUEST]["section_number"] == 2
    assert topics[FRIEND_REQUEST]["short_answer"].startswith(SHORT_ANSWER)

    # Two Network Managers are configured: say which.
    status, _, err = run("policy", "review", "--accept", FRIEND_REQUEST)
    assert status == 2
    (line,) = errors(err)
    assert "2 IT Network Managers are configured (Sam Network, Nia Deputy)" in line
    status, _, err = run("policy", "review", "--accept", FRIEND_REQUEST, "--as", "Chris")
    assert status == 2 and "not an IT Network Manager" in err

    status, out, _ = run("policy", "review", "--accept", FRIEND_REQUEST, "--as", "Sam")
    assert status == 0
    assert out.strip() == (
        f"saved: {FRIEND_REQUEST} (2. Contact with pupils online): the short answer holds "
        "for this section"
    )
    status, out, _ = run("ask", FRIEND_QUESTION)
    assert out.startswith(SHORT_ANSWER)

    refusals = [
        (("--accept", "no-such-topic"), "there is no topic 'no-such-topic'"),
        (("--reassign", "own-device-photos", "--section", str(APPENDIX)), "that has text"),
        (("--reassign", "own-device-photos", "--section", "Staffroom rules"), "no section called"),
        (("--reassign", "own-device-photos", "--section", "42"), "there is no section 42"),
        (("--reassign", "own-device-photos"), "--reassign needs --section"),
        (("--rewrite", FRIEND_REQUEST, "--answer", " "), "write the short answer"),
        (
            ("--rewrite", FRIEND_REQUEST, "--answer", "x" * (REVIEW_ANSWER_MAX + 1)),
            f"keep the short answer to {REVIEW_ANSWER_MAX} characters",
        ),
        (("--accept", FRIEND_REQUEST, "--not-covered", "training"), "one decision at a time"),
    ]
    for flags, said in refusals:
        status, _, err = run("policy", "review", *flags, "--as", "Sam")
        assert status == 2, flags
        (line,) = errors(err)
        assert said in line, (flags, line)
    assert _count(tmp_path) == 1

    status, out, _ = run(
        "policy",
        "review",
        "--reassign",
        "own-device-photos",
        "--section",
        "5. Personal accounts",
        "--as",
        "Nia",
    )
    assert status == 0 and "answered from this section in its own words" in out
    status, out, _ = run(
        "policy",
        "review",
        "--reassign",
        "consent-and-wishes",
        "--section",
        str(PERSONAL_ACCOUNTS),
        "--as",
        "Sam",
    )
    assert status == 0
    assert run("policy", "review", "--not-covered", "training", "--as", "Sam")[0] == 0
    ours = "Say no, do not reply, and tell the DSL."
    assert (
        run("policy", "review", "--rewrite", FRIEND_REQUEST, "--answer", ours, "--as", "Sam")[0]
        == 0
    )
    assert run("ask", FRIEND_QUESTION)[1].startswith(ours)
    listed = json.loads(run("policy", "review", "--json")[1])
    statuses = {t["topic"]: t["status"] for t in listed["topics"]}
    assert statuses[FRIEND_REQUEST] == statuses["training"] == "decided"
    assert _count(tmp_path) == 5

    # `policy` shows the policy as loaded, where the topics were found, and what waits.
    status, out, _ = run("policy")
    assert status == 0
    assert "  [6] Appendix (heading only)" in out
    assert "topics: 0 of " in out and "short answers found word for word; 3 placed" in out
    assert f"needs review: {FRIEND_REQUEST}" not in out
    first = _waiting()[0]
    assert f"needs review: {first.topic_key} -> " in out


def test_the_walk_on_a_terminal_saves_each_decision_at_once(run: Run, tmp_path: Path) -> None:
    assert run("migrate")[0] == 0
    typed = "\n".join(
        [
            "x",  # not a choice: asked again
            "s",  # the first topic skipped
            "r",
            str(APPENDIX),  # a heading with no text: refused, asked again
            "r",
            str(PERSONAL_ACCOUNTS),
            "w",
            "Only the people this code names.",
            "n",
            "a",
            "q",
        ]
    )
    status, out, _ = run("policy", "review", "--as", "Sam", typed=typed)
    assert status == 0, out
    waiting = _waiting()
    total = len(load_knowledge().topics)
    assert (
        f"{len(waiting)} of {total} topics need review" in out and "as made by Sam Network" in out
    )
    assert f"[1/{len(waiting)}] {waiting[0].topic_key}: needs review" in out
    assert f"short answer: {waiting[0].short_answer[:40]}" in out
    assert "Type a, r, w, n, s or q." in out
    third = f"[3/{len(waiting)}]"
    assert "  [5] 5. Personal accounts" in out and "[6] Appendix" not in out.split(third)[0]
    assert "Not saved: choose a section of the policy that has text." in out
    assert out.count("saved: ") - out.count("Not saved: ") == 4
    assert "Stopped. What was decided is saved." in out
    assert _count(tmp_path) == 4
    listed = json.loads(run("policy", "review", "--json")[1])
    assert sum(t["status"] == "decided" for t in listed["topics"]) == 4


def test_a_section_number_that_could_mean_two_sections_is_refused() -> None:
    """Word documents number their own headings: with a heading inserted as "7a", the eighth
    section is not the one numbered 8, and "--section 8" must not guess."""
    from bot.cli_policy import _section_named
    from bot.settings import UsageError

    text = "# Code\n\n" + "".join(f"## {n}. Part {n}\n\nText of part {n}.\n\n" for n in range(1, 8))
    text += "## 7a. Contacts\n\nThe office.\n\n## 8. Breaches\n\nBreaking it is misconduct.\n"
    index = PolicyIndex(parse_policy(text.encode(), "code.md"), load_knowledge())
    with pytest.raises(UsageError, match=r"could be section \[8\] \('7a. Contacts'\)"):
        _section_named(index, "8")
    assert _section_named(index, "[8]").short_title == "7a. Contacts"
    assert _section_named(index, "8. Breaches").short_title == "8. Breaches"
    assert _section_named(index, "3").short_title == "3. Part 3"
