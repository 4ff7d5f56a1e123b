"""The Block Kit renderer: escaping, Slack's limits, and slack_sdk.models validation."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bot.core.clock import SchoolTime
from bot.core.people import Directory, Identity, Person, Platform, Role
from bot.core.plaintext import render_form
from bot.core.plaintext import render_message as render_text
from bot.core.posts import CHECKLIST, Account, Decision, KeptAttachment, LiveLink, PostRecord
from bot.core.reports import EventKind, ReportEvent, ReportState
from bot.core.states import PostState
from bot.core.ui import Mention, Message, Paragraph, Quote
from bot.handlers import HandlerContext, reports
from bot.handlers.post_cards import (
    Status,
    approval_card,
    decision_message,
    draft_form,
    links_form,
    parse_target,
    reason_form,
    submitted_receipt,
)
from bot.slack import blockkit
from bot.slack.blockkit import escape, render_message, render_modal
from tests.fakes.slack import MESSAGE_BLOCKS_MAX, validate_blocks, validate_view
from tests.report_samples import sample_report

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


def _post(text: str, attachments: int = 0, version: int = 1) -> PostRecord:
    return PostRecord(
        id=42,
        reference="P-0042",
        submitter_key=TEACHER.key,
        state=PostState.AWAITING_APPROVAL,
        version=version,
        step=version,
        wished_date=date(2026, 12, 1),
        text=text,
        accounts=("X", "Facebook"),
        confirmed=tuple(item.name for item in CHECKLIST),
        attachments=tuple(
            KeptAttachment(i, f"photo {i}.jpg", "image/jpeg", 2_500_000) for i in range(attachments)
        ),
        version_submitted_at=FixedClock().now(),
        approved_version=None,
    )


def test_escape_touches_only_the_three_characters_slack_reserves() -> None:
    assert escape("<!channel> & \"quotes\" 'too' *bold*") == (
        "&lt;!channel&gt; &amp; \"quotes\" 'too' *bold*"
    )


def test_the_approval_card_validates_and_shows_the_draft_safely() -> None:
    card = approval_card(_context(), _post("Hi <!everyone>", 10, version=3), TEACHER)
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
    card = approval_card(_context(), _post("Hi <!everyone>"), TEACHER)
    shown = render_text(card)
    assert "Draft post P-0042 for approval" in shown
    assert "  | Hi <!everyone>" in shown
    assert "[Approve]  [Request changes]  [Reject]" in shown
    form = render_form(draft_form(_context()))
    assert form.count("[ ]") == len(CHECKLIST)


MANAGER = Person("sam", "Sam <admin>", (Identity(Platform.SLACK, "U0NETMGR"),))
STATUSES = (
    Status(PostState.APPROVED, MANAGER, FixedClock().now()),
    Status(PostState.CHANGES_REQUESTED, MANAGER, FixedClock().now(), reason="Crop <!here> out"),
    Status(PostState.REJECTED, MANAGER, FixedClock().now(), reason="Not <https://x.y|ours>"),
    Status(PostState.WITHDRAWN, TEACHER, FixedClock().now()),
    Status(
        PostState.POSTED,
        MANAGER,
        FixedClock().now(),
        links=(LiveLink("X", "https://x.com/oakgreen/status/1?a=<b>&c"),),
    ),
    Status(PostState.APPROVED, TEACHER, FixedClock().now(), newer_version=2),
)


def test_every_state_of_the_card_and_the_submitters_message_validates() -> None:
    for status in STATUSES:
        for message in (
            approval_card(_context(), _post("Hi <!everyone>", 2), TEACHER, status),
            decision_message(_context(), _post("Hi <!everyone>"), status),
        ):
            rendered = render_message(message)
            validate_blocks(rendered["blocks"], 50)
            flat = str(rendered)
            assert "<!here>" not in flat and "<https://x.y|ours>" not in flat
            assert "<!everyone>" not in flat and "<b>" not in flat
            assert "Wed 25 Nov 2026, 09:30 GMT" in flat


def test_only_a_waiting_card_has_decision_buttons_and_only_an_approved_one_mark_as_posted() -> None:
    def actions(message: Message) -> list[str]:
        blocks = render_message(message)["blocks"]
        return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]

    assert actions(approval_card(_context(), _post("t"), TEACHER)) == [
        "post.approve",
        "post.request_changes",
        "post.reject",
    ]
    by_state = {s: actions(approval_card(_context(), _post("t"), TEACHER, s)) for s in STATUSES}
    assert by_state[STATUSES[0]] == ["post.mark_posted"]
    assert all(found == [] for status, found in by_state.items() if status is not STATUSES[0])


def test_withdraw_asks_for_confirmation_and_validates() -> None:
    receipt = render_message(submitted_receipt(_post("t"), (MANAGER,), TEACHER))
    validate_blocks(receipt["blocks"], 50)
    (withdraw,) = [
        e
        for b in receipt["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "post.withdraw"
    ]
    assert withdraw["confirm"]["confirm"]["text"] == "Withdraw"


def test_the_reason_links_and_revision_forms_are_valid_modals() -> None:
    post = _post("Hi <!everyone>", 3)
    for form in (
        reason_form(post, Decision.REQUEST_CHANGES),
        reason_form(post, Decision.REJECT),
        links_form(post),
        draft_form(_context(), revising=post),
    ):
        validate_view(render_modal(form))
    links = render_modal(links_form(post))
    assert [b["element"]["type"] for b in links["blocks"] if b["type"] == "input"] == [
        "url_text_input",
        "url_text_input",
    ]
    revision = render_modal(draft_form(_context(), revising=post))
    by_id = {b.get("block_id"): b for b in revision["blocks"]}
    assert by_id["text"]["element"]["initial_value"] == "Hi <!everyone>"
    assert by_id["wished_date"]["element"]["initial_date"] == "2026-12-01"
    assert [o["value"] for o in by_id["accounts"]["element"]["initial_options"]] == [
        "X",
        "Facebook",
    ]
    assert "initial_options" in by_id["keep_attachments"]["element"]
    assert revision["private_metadata"] == "42:1"


def test_mrkdwn_is_verbatim_so_slack_links_nothing_a_person_typed() -> None:
    card = render_message(
        approval_card(_context(), _post("See www.evil.example #general"), TEACHER)
    )
    texts = [
        t
        for b in card["blocks"]
        for t in ([b["text"]] if "text" in b else []) + b.get("fields", []) + b.get("elements", [])
        if isinstance(t, dict) and t.get("type") == "mrkdwn"
    ]
    assert texts and all(t["verbatim"] is True for t in texts)


def test_a_button_value_is_ascii_digits_or_nothing() -> None:
    assert parse_target("42:3") == (42, 3)
    for forged in ("1:²", "4\uff12:1", "-1:1", "1", "a:b", ""):
        assert parse_target(forged) is None


def test_every_report_card_and_form_validates_and_escapes_what_people_typed() -> None:
    ctx = _context()
    for state in ReportState:
        for anonymous in (False, True):
            rendered = blockkit.render_message(
                reports.report_card(ctx, sample_report(state, anonymous, events=40))
            )
            validate_blocks(rendered["blocks"], MESSAGE_BLOCKS_MAX)
            text = json.dumps(rendered)
            assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    open_card = json.dumps(blockkit.render_message(reports.report_card(ctx, sample_report())))
    assert all(a in open_card for a in ("report.acknowledge", "report.note", "report.close"))
    closed = json.dumps(
        blockkit.render_message(reports.report_card(ctx, sample_report(ReportState.CLOSED)))
    )
    assert '"actions"' not in closed
    for form in (
        reports.report_form(ctx, "safeguarding"),
        reports.receipt_form(),
        reports.note_form(sample_report()),
        reports.ask_form(sample_report()),
        reports.close_form(sample_report()),
        reports.reply_form(sample_report(), "3"),
    ):
        validate_view(blockkit.render_modal(form))
    modal = blockkit.render_modal(reports.report_form(ctx, "safeguarding"))
    kinds = next(b for b in modal["blocks"] if b.get("block_id") == "kind")
    assert kinds["element"]["initial_option"]["value"] == "safeguarding"
    # The warning comes before the file input, and Slack's own user picker names people.
    ids = [b.get("block_id") for b in modal["blocks"]]
    assert "indecent image" in json.dumps(modal["blocks"][: ids.index("evidence")])
    involved = next(b for b in modal["blocks"] if b.get("block_id") == "involved")
    assert involved["element"]["type"] == "multi_users_select"


def test_the_largest_report_anyone_can_make_still_fits_a_card() -> None:
    # Escaping makes "&" five characters; every field at its limit, all of it escaped.
    worst = replace(
        sample_report(events=2),
        where="&" * 100,
        links=tuple("https://x.org/?" + "&" * 1985 for _ in range(10)),
        details="&" * 3000,
        involved_text="&" * 500,
        events=sample_report(events=2).events
        + tuple(
            ReportEvent(sample_report().created_at, EventKind.REPLY, "anonymous", "&" * 2000)
            for _ in range(40)
        ),
    )
    rendered = blockkit.render_message(reports.report_card(_context(), worst))
    validate_blocks(rendered["blocks"], MESSAGE_BLOCKS_MAX)
