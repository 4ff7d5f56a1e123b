"""Reading the school's policy document: sections from its own headings, in plain text, Markdown
and Word; a new version read without a restart; what the bot knows flagged when its section
changes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.core.policy import PolicyDocument, PolicyError, parse_policy
from bot.core.policy_map import Basis
from bot.core.questions import HELD, UNSURE, PolicyIndex, answer_question
from bot.knowledge import load_knowledge
from bot.policy_source import PolicySource
from tests.documents import word_document
from tests.harness import EXAMPLE_POLICY, FIXTURES, SHARED_POLICY_FILE, heading
from tests.processes import errors, free_port

# DESIGN.md, "The sections of the policy document": the first school's.
SECTIONS = [
    "Introduction",
    "Purpose of This Policy",
    "Who is Covered by This Policy?",
    "Scope and Purpose of This Policy",
    "Personnel Responsible for Implementing This Policy",
    "Compliance with Related Policies and Agreements",
    "Personal Use of Social Media",
    "Monitoring",
    "Educational and Extra-Curricular Use of Social Media",
    "Recruitment",
    "Responsible Use of Social Media",
    "Photographs for use with social media:",
    "Staff protocol for use of social media:",
    "Protecting our business reputation:",
    "Process for creating new accounts",
    "Respecting intellectual property and confidential information:",
    "Respecting colleagues, pupils, parents, clients, service providers and stakeholders:",
    "Monitoring and Review of This Policy",
]


# The example school's (examples/policy), in Markdown.
EXAMPLE_SECTIONS = [
    "About this policy",
    "Why we have this policy",
    "Who this policy applies to",
    "What counts as social media",
    "Roles and responsibilities",
    "Other school policies that apply online",
    "Your personal accounts",
    "Monitoring of school systems",
    "Learning, clubs, trips and the press",
    "Recruitment checks",
    "Photographs, video and consent",
    "Posting on the school's accounts",
    "Protecting the school's reputation",
    "Setting up a new school account",
    "Logos, copyright and confidential information",
    "Respect for colleagues, pupils and families",
    "Reviewing this policy",
    "Who to ask",
]
POLICIES = {"example": EXAMPLE_POLICY, "first-school": SHARED_POLICY_FILE}
# Per policy: a sentence of the section on personal use, and the recruitment section's heading
# line, for the tests that change them.
LOGGED = {"example": "so that it can be logged.", "first-school": "so that these may be logged."}
RECRUITMENT = {"example": "## Recruitment checks\n", "first-school": "Recruitment\n"}


def _present(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared policy is not beside the project")
    return path


@pytest.fixture
def first_school_text() -> str:
    return _present(SHARED_POLICY_FILE).read_text("utf-8")


@pytest.fixture(params=list(POLICIES))
def school(request: pytest.FixtureRequest) -> str:
    _present(POLICIES[request.param])
    return str(request.param)


@pytest.fixture
def policy_text(school: str) -> str:
    return POLICIES[school].read_text("utf-8")


def test_the_example_policy_splits_into_the_sections_its_headings_name() -> None:
    document = parse_policy(EXAMPLE_POLICY.read_bytes(), EXAMPLE_POLICY.name)
    assert document.title == "Oakgreen School Staff Social Media Policy"
    assert [s.title for s in document.sections] == EXAMPLE_SECTIONS
    # A sentence ending in a colon leads into its list and is quoted with each item.
    online = document.section("Other school policies that apply online")
    assert online is not None
    first = online.passages[0]
    assert first.lead is not None and first.lead.endswith("staff must not use social media to:")
    assert first.quoted.startswith(first.lead) and first.text.startswith("- bully")
    # The staff protocol's steps keep their numbers, which the bot's messages cite.
    protocol = document.section("Posting on the school's accounts")
    assert protocol is not None
    steps = [p.text.split(".")[0] for p in protocol.passages if p.lead]
    assert steps == ["1", "2", "3", "4", "5", "6"]


def test_the_schools_policy_splits_into_the_sections_its_headings_name(
    first_school_text: str,
) -> None:
    document = parse_policy(first_school_text.encode(), "social-media-policy.txt")
    assert document.title == "Social Media/Networking Policy"
    assert [s.title for s in document.sections] == SECTIONS
    # A heading over others has no text of its own and is never quoted.
    assert not document.section("Responsible Use of Social Media").passages  # type: ignore[union-attr]
    # "...statements about:" leads into its list; it is not a heading.
    reputation = document.section("Protecting our business reputation")
    assert reputation is not None
    first = reputation.passages[0]
    assert first.lead == "Staff must not post disparaging or defamatory statements about:"
    assert first.quoted.startswith(first.lead)
    assert reputation.short_title == "Protecting our business reputation"


def test_markdown_headings_are_the_sections() -> None:
    document = parse_policy(
        b"# Staff Policy\n\n## Using phones\n\nPhones stay in lockers.\n\n"
        b"## Photos\n\n**Only** school cameras.\n\n- Delete copies.\n",
        "policy.md",
    )
    assert document.title == "Staff Policy"
    assert [s.title for s in document.sections] == ["Using phones", "Photos"]
    assert document.sections[1].text == "Only school cameras.\n- Delete copies."


def test_a_word_document_is_read_by_its_heading_styles(policy_text: str, school: str) -> None:
    name = POLICIES[school].name
    txt = parse_policy(policy_text.encode(), name)
    sections = [s.title for s in txt.sections]
    assert sections == {"example": EXAMPLE_SECTIONS, "first-school": SECTIONS}[school]
    paragraphs: list[tuple[str, str | None]] = [(txt.title or "", "Titel")]
    for section in txt.sections:
        # Localised style ids: the style's name says it is a heading.
        paragraphs.append((section.title, "berschrift1"))
        lead = None
        for passage in section.passages:
            if passage.lead and passage.lead != lead:
                paragraphs.append((passage.lead, None))
            lead = passage.lead
            paragraphs.append((passage.text, None))
    document = parse_policy(word_document(paragraphs), "policy.docx")
    assert [s.title for s in document.sections] == sections
    assert document.digest == txt.digest  # the same words are the same version
    # Without heading styles, the headings are found by their shape, as in plain text.
    plain = parse_policy(word_document([(t, None) for t, _ in paragraphs], styles=False), "p.docx")
    assert [s.title for s in plain.sections] == sections


def test_numbered_headings_and_lists_in_word_and_plain_text() -> None:
    word = word_document(
        [
            ("Staff Social Media Policy", "Titel"),
            ("Introduction", "berschrift1"),
            ("This policy applies to everyone.", None),
            ("Photographs", "berschrift1"),
            ("Before posting:", None),
            ("Ask the parents.", None),
            ("Use a school camera", None),
        ],
        numbered=frozenset(
            {"Introduction", "Photographs", "Ask the parents.", "Use a school camera"}
        ),
    )
    document = parse_policy(word, "policy.docx")
    assert [s.title for s in document.sections] == ["Introduction", "Photographs"]
    items = document.sections[1].passages
    assert [p.text for p in items] == ["- Ask the parents.", "- Use a school camera"]
    assert items[0].lead == "Before posting:"

    text = parse_policy(
        b"Staff Policy\n\n1. Introduction\n\nThis applies to all.\n\n2. Photos\n\n"
        b"Steps:\n\n1. Ask the parents first\n2. Use a school camera\n\n"
        b"3.1 Contact\n\nWrite to us.\n\nOr phone:\n",
        "policy.txt",
    )
    assert [s.title for s in text.sections] == ["1. Introduction", "2. Photos", "3.1 Contact"]
    photos = text.section("Photos")
    assert photos is not None and len(photos.passages) == 2  # list items, not headings
    # A sentence ending in a colon with no list after it is kept, not lost.
    contact = text.section("contact")
    assert contact is not None and [p.text for p in contact.passages][-1] == "Or phone:"


def test_markdown_keeps_the_words_as_written() -> None:
    document = parse_policy(
        b"# Policy\n\n## Contact\n\nWrite to my_school_account@example.org, _soon_.\n",
        "policy.md",
    )
    assert document.sections[0].text == "Write to my_school_account@example.org, soon."


def test_unreadable_documents_are_refused_with_a_reason() -> None:
    with pytest.raises(PolicyError, match="not a readable Word document"):
        parse_policy(b"not a zip", "policy.docx")
    with pytest.raises(PolicyError, match="no headings"):
        parse_policy(b"just one paragraph of text.", "policy.txt")
    with pytest.raises(PolicyError, match="not UTF-8"):
        parse_policy(b"\xff\xfe\x00bad", "policy.txt")


def test_a_changed_section_holds_its_answers_back_for_review(
    policy_text: str, school: str, tmp_path: Path
) -> None:
    knowledge = load_knowledge()
    name = POLICIES[school].name

    def waiting(document: PolicyDocument) -> set[str]:
        return {
            p.topic.key
            for p in PolicyIndex(document, knowledge).placements.values()
            if p.topic.answer and p.basis is not Basis.WORD_FOR_WORD
        }

    # The first school's policy says nothing of its own about whom safeguarding worries go to.
    unvouched = {"example": set(), "first-school": {"safeguarding-concerns"}}[school]
    assert waiting(parse_policy(policy_text.encode(), name)) == unvouched
    logged = LOGGED[school]
    changed = policy_text.replace(logged, logged[:-1] + " and kept for a year.").replace(
        RECRUITMENT[school], RECRUITMENT[school].replace("Recruitment", "Hiring")
    )
    document = parse_policy(changed.encode(), name)
    # The topics whose short answers rest on the reworded passage's section wait; a renamed
    # heading changes nothing.
    personal = {
        "pupil-friend-request",
        "parent-friends",
        "personal-use-at-work",
        "work-email-signup",
        "mention-employment",
        "school-content-personal",
    }
    assert waiting(document) == personal | unvouched
    # The section is still found and quoted, but its short answer is not served.
    # Its question gets the document's new words, never a neighbour's short answer.
    found = answer_question(PolicyIndex(document, knowledge), "a Year 8 added me on Snapchat")
    assert found.text in (HELD, UNSURE) and found.topic is None
    assert "kept for a year" in found.quoted[0].passages[0].text

    # The running bot reads the new version when the file changes, without a restart.
    path = tmp_path / name
    path.write_text(policy_text, "utf-8")
    source = PolicySource(path, knowledge)
    first = source.load()
    assert first is not None
    assert {k for k, p in first.placements.items() if p.topic.rests_on} - unvouched == {
        k
        for k, p in first.placements.items()
        if p.basis is Basis.WORD_FOR_WORD and p.topic.rests_on
    }
    path.write_text(changed, "utf-8")
    now = source.current()
    assert now is not None and now.document.digest == document.digest
    # A broken new version keeps the last good one.
    path.write_bytes(b"\xff\xfe")
    assert source.current() is now


def test_ask_prints_json_for_one_question_or_one_per_line(
    school: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = POLICIES[school]
    monkeypatch.setenv("SOCIALDESK_POLICY", str(policy))
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(tmp_path / "absent.yaml"))
    assert main(["ask", "can I put the school in my LinkedIn bio?", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert set(answer) == {"answer", "confident", "sections", "next_step"}
    assert answer["confident"] is True and "LinkedIn" in answer["answer"]
    best, *others = answer["sections"]
    assert best["title"] == heading("Personal Use of Social Media", policy)
    scores = [s["score"] for s in answer["sections"]]
    assert scores == sorted(scores, reverse=True)
    # The passage the chat answer quotes, word for word from the document; a confident answer
    # quotes its best section only.
    flat = " ".join(policy.read_text("utf-8").split())
    assert best["quoted"] and all(" ".join(q.split()) in flat for q in best["quoted"])
    assert any("LinkedIn" in q for q in best["quoted"])
    assert [s["quoted"] for s in others] == [[] for _ in others]
    assert "Co-Headteachers" in answer["next_step"]

    # Blank lines between questions are skipped, not answered as empty questions.
    questions = "Can I use my own phone for trip photos?\n\n   \nthanks\nwhat's for lunch?\n\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(questions))
    assert main(["ask", "-", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    photographs = heading("Photographs for use with social media", policy)
    assert lines[0]["sections"][0]["title"] == photographs
    assert lines[1]["sections"] == [] and lines[2]["confident"] is False


def test_ask_labels_its_scores_says_how_sure_it_is_and_shows_the_next_step(
    school: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOCIALDESK_POLICY", str(POLICIES[school]))
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(FIXTURES / "absent.yaml"))
    assert main(["ask", "a Year 8 added me on Snapchat"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[1].startswith("  > ") and "friend" in shown[1]
    (confident,) = [line for line in shown if line.startswith("confident: ")]
    assert confident.startswith("confident: yes (the best section's match score is ")
    assert (
        "confident needs 50 with a 70% lead or 60 with a 45% lead or 70 with a 35% lead"
        in confident
    )
    (step,) = [line for line in shown if line.startswith("next step (in chat): ")]
    assert "DSL" in step and "/report in Slack (report in Teams)" in step
    assert "{report}" not in step
    assert (
        "also (in chat): this question can be sent on to the IT Network Manager "
        "(Ask the IT Network Manager)" in shown
    )
    ranked = shown.index("sections by match score (higher is a closer match; not a percentage):")
    first_score, title = shown[ranked + 1].split(maxsplit=1)
    assert float(first_score) >= 20 and title == heading(
        "Personal Use of Social Media", POLICIES[school]
    )

    assert main(["ask", "is it ok to like a post"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert any(line.startswith("confident: no (") for line in shown)
    assert (
        "next step (in chat): not sure: this question can be sent on to the IT Network Manager "
        "(Ask the IT Network Manager)" in shown
    )

    # Off the policy, or small talk: the chat's answer alone, nothing ranked.
    monkeypatch.setattr("sys.stdin", io.StringIO("what's for lunch?\n\nthanks\n"))
    assert main(["ask", "-"]) == 0
    off_topic, gap, thanks = capsys.readouterr().out.splitlines()
    assert "does not look like a question about" in off_topic and gap == "" and thanks

    assert main(["ask", "  "]) == 2
    assert "the question is empty" in capsys.readouterr().err


def test_ask_without_a_policy_says_so_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SOCIALDESK_POLICY", raising=False)
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(tmp_path / "absent.yaml"))
    assert main(["ask", "can I use my phone?", "--json"]) == 2
    assert "no policy document configured" in capsys.readouterr().err


def test_a_policy_that_cannot_be_read_stops_start_up_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOCIALDESK_POLICY", str(tmp_path / "missing.docx"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv(
        "SOCIALDESK_CONFIG", str(Path(__file__).with_name("fixtures") / "school.yaml")
    )
    monkeypatch.setenv("PORT", str(free_port()))
    assert main(["serve"]) == 2
    assert "SOCIALDESK_POLICY" in capsys.readouterr().err


# A PDF whose text is plain ASCII, as many are: it decodes as UTF-8, so only its content tells.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nIntroduction\n\nSome text here.\n%%EOF\n"


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("policy.pdf", PDF, "policy.pdf is a PDF, which socialdesk cannot read"),
        ("policy.txt", PDF, "policy.txt is a PDF"),
        ("policy.docx", PDF, "policy.docx is a PDF"),
        ("policy.md", b"# Title\n\x00\x01\x02", "policy.md is not a text file"),
        ("policy.txt", "Introduction\n\nCaf\u00e9".encode("latin-1"), "is not UTF-8 text"),
    ],
)
def test_a_document_that_is_not_word_markdown_or_text_is_refused(
    name: str, data: bytes, why: str
) -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy(data, name)
    assert why in str(refused.value)
    assert "save the policy as Word (.docx), Markdown (.md) or plain text" in str(refused.value)


def test_a_pdf_policy_is_refused_in_one_line_naming_the_setting_that_named_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "handbook.pdf").write_bytes(PDF)
    config = tmp_path / "school.yaml"
    config.write_text(
        (FIXTURES / "school.yaml").read_text(encoding="utf-8") + "policy: handbook.pdf\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("PORT", str(free_port()))
    monkeypatch.delenv("SOCIALDESK_POLICY", raising=False)
    for command in (["ask", "can I use my phone?"], ["policy"], ["serve"]):
        assert main(command) == 2, command
        (line,) = errors(capsys.readouterr().err)
        assert f"{config}: policy: handbook.pdf is a PDF" in line, command

    monkeypatch.setenv("SOCIALDESK_POLICY", str(tmp_path / "handbook.pdf"))
    assert main(["ask", "can I use my phone?"]) == 2
    (line,) = errors(capsys.readouterr().err)
    assert "SOCIALDESK_POLICY: handbook.pdf is a PDF" in line
    assert not (tmp_path / "db.sqlite").exists()


def test_the_policy_command_shows_sections_and_what_waits_for_review(
    policy_text: str,
    school: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / POLICIES[school].name
    hiring = RECRUITMENT[school].replace("Recruitment", "Hiring")
    path.write_text(policy_text.replace(RECRUITMENT[school], hiring), "utf-8")
    monkeypatch.setenv("SOCIALDESK_POLICY", str(path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(tmp_path / "absent.yaml"))
    assert main(["policy"]) == 0
    out = capsys.readouterr().out
    assert "18 sections" in out and "Hiring" in out
    # A renamed heading holds nothing back: the topics are found by their passages.
    assert "short answers found word for word" in out
    assert "answered from 'Hiring'" not in out
