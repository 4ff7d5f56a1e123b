"""Every kind of card the bot shows in Teams passes our checks of Adaptive Cards 1.5
(tests/structure.py) and, when it is beside the project, the published schema; input ids are
unique within a card, and user text is never read as markdown."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot.config import load_config
from bot.core.clock import SchoolTime, SystemClock
from bot.core.people import Identity, Platform
from bot.core.posts import CHECKLIST, Decision, KeptAttachment, LiveLink, PostRecord
from bot.core.reports import EventKind, ReportEvent, ReportState
from bot.core.states import PostState
from bot.core.ui import FormErrors, Message
from bot.handlers import HandlerContext, posts, reports
from bot.handlers import help as help_handler
from bot.handlers import post_cards as cards
from bot.teams.cards import CardRenderer
from tests.fakes import teams as fake
from tests.harness import FIXTURES
from tests.report_samples import sample_report
from tests.teams_client import texts_of


def _ctx() -> HandlerContext:
    school = load_config(FIXTURES / "school.yaml")
    return HandlerContext(
        school.name,
        school.policy_contact,
        school.accounts,
        school.directory,
        SystemClock(),
        SchoolTime(school.timezone),
    )


def _post(state: PostState = PostState.AWAITING_APPROVAL, version: int = 1) -> PostRecord:
    return PostRecord(
        id=7,
        reference="P-0007",
        submitter_key="teams:t1",
        state=state,
        version=version,
        step=3,
        wished_date=date(2026, 12, 1),
        text="Line one with [a link](https://evil.example)\n\n<at>Sam</at> **bold** _x_",
        accounts=("Facebook", "School website"),
        confirmed=tuple(item.name for item in CHECKLIST),
        attachments=(KeptAttachment(1, "sports day.jpg", "image/jpeg", 2_400_000),),
        version_submitted_at=datetime(2026, 11, 28, 10, 0, tzinfo=UTC),
        approved_version=None,
    )


def _messages() -> list[Message]:
    ctx = _ctx()
    submitter = ctx.directory.resolve(Identity(Platform.TEAMS, "t1"))
    sam = ctx.directory.by_key("sam")
    assert sam is not None
    now = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    approved = cards.Status(PostState.APPROVED, sam, now)
    posted = cards.Status(
        PostState.POSTED, sam, now, links=(LiveLink("Facebook", "https://facebook.com/x/1"),)
    )
    returned = cards.Status(PostState.CHANGES_REQUESTED, sam, now, reason="Use first names")
    post = _post()
    return [
        cards.approval_card(ctx, post, submitter),
        cards.approval_card(ctx, _post(PostState.APPROVED), submitter, approved),
        cards.approval_card(ctx, _post(PostState.POSTED), submitter, posted),
        cards.submitted_receipt(post, (sam,), submitter),
        cards.decision_message(ctx, _post(PostState.CHANGES_REQUESTED), returned),
        cards.decision_message(ctx, _post(PostState.APPROVED), approved, posts_it=True),
        cards.ready_to_post(ctx, _post(PostState.APPROVED), approved),
        cards.publish_reminder(ctx, _post(PostState.APPROVED)),
        help_handler.welcome_message(ctx, Platform.TEAMS),
        reports.start_menu(ctx, Platform.TEAMS),
        *(
            reports.report_card(ctx, sample_report(state, anonymous, events=40))
            for state in ReportState
            for anonymous in (False, True)
        ),
        cards.refusal("Nothing was changed."),
    ]


def test_every_message_card_passes_the_checks() -> None:
    renderer = CardRenderer()
    for message in _messages():
        activity = renderer.activity(message)
        (card,) = fake.cards_in(activity)
        fake.validate_card(card)


def _forms() -> list[Any]:
    ctx = _ctx()
    post = _post(PostState.APPROVED)
    forms = [
        posts.draft_form(ctx),
        cards.draft_form(ctx, revising=post),
        cards.reason_form(post, Decision.REJECT),
        cards.links_form(post),
        reports.report_form(ctx, "pupil_request", Platform.TEAMS),
        reports.receipt_form(),
        reports.close_form(sample_report()),
        reports.reply_form(sample_report(), "receipt:abc"),
    ]
    return forms


def _form_cards() -> list[dict[str, Any]]:
    renderer = CardRenderer()
    values: dict[str, Any] = {"text": "x" * 10, "accounts": "Facebook", "wished_date": "2026-12-01"}
    cards_: list[dict[str, Any]] = []
    for form in _forms():
        errors = FormErrors({form.inputs[0].name: "Needed.", "": "Check the form."})
        cards_.append(
            renderer.form_card(form, values=values, errors=errors, files=["a.jpg"], form_key="k1")
        )
    return cards_


def test_every_form_passes_the_checks_with_values_errors_and_files() -> None:
    for card in _form_cards():
        fake.validate_card(card)


def test_every_card_passes_the_published_adaptive_cards_schema(shared_dir: Path) -> None:
    assert fake.card_schema_available(), "the Adaptive Cards 1.5 schema is missing from shared"
    renderer = CardRenderer()
    for message in _messages():
        (card,) = fake.cards_in(renderer.activity(message))
        fake.validate_card_against_schema(card)
    for card in _form_cards():
        fake.validate_card_against_schema(card)


def test_user_text_is_never_markdown() -> None:
    renderer = CardRenderer()
    card = renderer.card(_messages()[0])

    def blocks(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [str(node.get("type"))] if "text" in node and "type" in node else []
            return found + [t for v in node.values() for t in blocks(v)]
        if isinstance(node, list):
            return [t for v in node for t in blocks(v)]
        return []

    # Text is carried only by TextRuns (never markdown) and input labels.
    assert set(blocks(card)) <= {"TextRun"}
    assert "[a link](https://evil.example)" in texts_of(card)
    assert "entities" not in str(card)


def test_report_forms_open_in_a_dialog_and_pass_the_checks() -> None:
    ctx = _ctx()
    renderer = CardRenderer()
    for form in (reports.report_form(ctx, None, Platform.TEAMS), reports.receipt_form()):
        card = renderer.form_card(form, form_key="k1", dialog=True)
        fake.validate_card(card)
        (submit,) = card["actions"]
        # A dialog's card submits with Action.Submit: Teams sends it as task/submit.
        assert submit["type"] == "Action.Submit"
        assert submit["data"]["sd_form"] == form.form_id
    # The report form in Teams takes no files (a card cannot), and names the people it may.
    shown = str(renderer.form_card(reports.report_form(ctx, None, Platform.TEAMS), dialog=True))
    assert "Evidence files" not in shown and "Dana Safe" in shown


def test_the_largest_report_anyone_can_make_fits_a_teams_message() -> None:
    # Teams takes about 28 KB a message; an emoji is four bytes of UTF-8, a quote mark two of
    # JSON. Every field at its limit, in the costliest characters.
    base = sample_report(events=2)
    for costly in ("\U0001f600", '"', "\u0627"):
        worst = replace(
            base,
            where=costly * 100,
            links=tuple("https://x.org/?" + costly * 1985 for _ in range(10)),
            details=costly * 3000,
            involved_text=costly * 500,
            events=base.events
            + tuple(
                ReportEvent(base.created_at, EventKind.NOTE, "sam", costly * 2000)
                for _ in range(40)
            ),
        )
        activity = CardRenderer().activity(reports.report_card(_ctx(), worst))
        fake.validate_card(activity["attachments"][0]["content"])
        # Room to spare for the envelope the Bot Connector adds.
        assert len(json.dumps(activity, ensure_ascii=False).encode()) < 25_000
