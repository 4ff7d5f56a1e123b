"""The Block Kit renderer: escaping, Slack's limits, and slack_sdk.models validation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bot.core.clock import SchoolTime
from bot.core.people import Directory, Identity, Person, Platform, Role
from bot.core.plaintext import render_form
from bot.core.plaintext import render_message as render_text
from bot.core.posts import CHECKLIST, Account, AttachmentRef, Draft
from bot.core.ui import Mention, Message, Paragraph, Quote
from bot.handlers import HandlerContext
from bot.handlers.posts import approval_card, draft_form
from bot.slack.blockkit import escape, render_message, render_modal
from tests.fakes.slack import validate_blocks, validate_view

TEACHER = Person("slack:U0TEACH", None, (Identity(Platform.SLACK, "U0TEACH"),))
TEAMS_ONLY = Person("t", "Tia <Teams>", (Identity(Platform.TEAMS, "0000"),))


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def _context() -> HandlerContext:
    manager = Person(
        "sam", "Sam", (Identity(Platform.SLACK, "U0NETMGR"),), frozenset({Role.NETWORK_MANAGER})
    )
    return HandlerContext(
        school_name="Oakgreen School",
        policy_contact=None,
        accounts=(Account.named("X"), Account.named("Facebook")),
        directory=Directory([manager]),
        clock=FixedClock(),
        school_time=SchoolTime(ZoneInfo("Europe/London")),
    )


def _draft(text: str, attachments: int = 0) -> Draft:
    return Draft(
        text=text,
        accounts=("X",),
        confirmed=tuple(item.name for item in CHECKLIST),
        wished_date=date(2026, 12, 1),
        attachments=tuple(
            AttachmentRef(Platform.SLACK, f"F{i}", f"photo {i}.jpg", "image/jpeg", 2_500_000, "u")
            for i in range(attachments)
        ),
    )


def test_escape_touches_only_the_three_characters_slack_reserves() -> None:
    assert escape("<!channel> & \"quotes\" 'too' *bold*") == (
        "&lt;!channel&gt; &amp; \"quotes\" 'too' *bold*"
    )


def test_the_approval_card_validates_and_shows_the_draft_safely() -> None:
    card = approval_card(
        _context(), "P-0042", 42, 3, TEACHER, _draft("Hi <!everyone>", 10), FixedClock().now()
    )
    rendered = render_message(card)
    validate_blocks(rendered["blocks"], 50)
    flat = str(rendered)
    assert "&lt;!everyone&gt;" in flat and "<!everyone>" not in flat
    assert "<@U0TEACH>" in flat
    assert "Wed 25 Nov 2026, 09:30 GMT" in flat
    assert "Tue 1 Dec 2026" in flat
    assert "photo 9.jpg (image/jpeg, 2.4 MB)" in flat
    assert "version 3" in flat
    assert rendered["blocks"][-2]["elements"][0]["value"] == "42:3"


def test_a_long_draft_full_of_escapes_is_split_within_slacks_limits() -> None:
    text = ("&<>" * 900 + "\n") * 3  # escapes to 14 characters per 3 typed
    rendered = render_message(Message("s", (Quote(text),)))
    validate_blocks(rendered["blocks"], 50)
    sections = [b["text"]["text"] for b in rendered["blocks"]]
    assert len(sections) > 1 and all(len(s) <= 3000 for s in sections)
    joined = "".join(sections)
    assert "&amp;&lt;&gt;" in joined
    for piece in sections:  # no entity is cut in two
        assert not piece.rstrip().endswith(("&", "&a", "&am", "&amp", "&l", "&lt", "&g", "&gt"))


def test_a_line_longer_than_a_section_is_cut_between_entities() -> None:
    rendered = render_message(Message("s", (Paragraph.of("&" * 2000),)))
    validate_blocks(rendered["blocks"], 50)
    for block in rendered["blocks"]:
        assert block["text"]["text"].replace("&amp;", "") == ""


def test_every_piece_of_a_long_quoted_line_stays_quoted() -> None:
    rendered = render_message(Message("s", (Quote("<b> " * 1500),)))  # one line, 6,000 typed
    validate_blocks(rendered["blocks"], 50)
    lines = [line for b in rendered["blocks"] for line in b["text"]["text"].split("\n")]
    assert len(lines) > 1 and all(line.startswith(">") for line in lines)
    assert "".join(line[1:] for line in lines) == "&lt;b&gt; " * 1500


def test_a_person_without_slack_is_named_not_mentioned() -> None:
    rendered = render_message(Message("s", (Paragraph.of("From ", Mention(TEAMS_ONLY)),)))
    assert rendered["blocks"][0]["text"]["text"] == "From Tia &lt;Teams&gt;"


def test_the_draft_form_is_a_valid_modal() -> None:
    view = render_modal(draft_form(_context()))
    validate_view(view)
    hint = next(b for b in view["blocks"] if b.get("block_id") == "text")["hint"]["text"]
    assert "X 280" in hint and "Facebook 63,206" in hint


def test_the_plain_text_renderer_shows_the_same_card() -> None:
    card = approval_card(
        _context(), "P-0042", 42, 1, TEACHER, _draft("Hi <!everyone>"), FixedClock().now()
    )
    shown = render_text(card)
    assert "Draft post P-0042 for approval" in shown
    assert "  | Hi <!everyone>" in shown
    assert "[Approve]  [Request changes]  [Reject]" in shown
    form = render_form(draft_form(_context()))
    assert form.count("[ ]") == len(CHECKLIST)
