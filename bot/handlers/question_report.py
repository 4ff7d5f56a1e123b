"""The question report as a card, for the IT Network Manager who types `/policy questions`
(`policy questions` in a chat): the same report `socialdesk questions` prints, cut to what one
message can hold, each listed question with a button to keep an answer for it.

Slack takes at most 50 blocks in a message and 3000 characters in a section: the card stays
within both on every platform, and says how many it left out and where to see them all.
"""

from __future__ import annotations

from bot.core.clock import SchoolTime
from bot.core.question_report import Asked, QuestionList, QuestionReport, VersionReport
from bot.core.ui import (
    Block,
    BulletList,
    Button,
    Buttons,
    Divider,
    Heading,
    Message,
    Note,
    Paragraph,
)
from bot.handlers import HandlerContext

# A listed question's button: keep an answer for it (or, for one its asker sent on and still
# waiting, answer it, which tells them).
KEEP = "policy.keep"

CARD_BLOCKS = 50  # Slack's most for one message
ITEMS_PER_LIST = 5
SUBJECTS_SHOWN = 10
# Cut short on the card, so that a section stays under Slack's 3000 characters even with
# every character escaped (& is five).
QUESTION_SHOWN = 200
REASON_SHOWN = 200
SUBJECT_SHOWN = 100
WHOLE_REPORT = "run socialdesk questions"


def _cut(text: str, most: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1] + "\u2026"


def item_line(item: Asked, *, reason: bool = False) -> str:
    """One listed question, as the card and the command line show it: its number, the day it
    was asked, the question, and what became of it."""
    parts = [f"#{item.id}", f"{item.day:%-d %b %Y}"]
    if item.reference:
        parts.append(item.reference)
    line = " \u00b7 ".join(parts) + f": \u201c{_cut(item.question, QUESTION_SHOWN)}\u201d"
    if reason:
        line += (
            f" \u2014 why: \u201c{_cut(item.reason, REASON_SHOWN)}\u201d"
            if item.reason
            else " \u2014 no reason given"
        )
    if item.reference:
        line += " \u2014 " + (
            "answered, and kept as socialdesk's answer"
            if item.kept
            else "answered"
            if item.answered
            else "waiting for an answer"
        )
    elif item.kept:
        line += " \u2014 an answer is kept for it"
    return line


def keep_button(item: Asked) -> Button | None:
    if not item.may_keep:
        return None
    if item.reference:
        # Sent on: answering it tells whoever asked, and the answer can be kept too.
        return Button(f"Answer {item.reference}", KEEP, str(item.id))
    return Button(f"Keep an answer for #{item.id}", KEEP, str(item.id))


def version_heading(school_time: SchoolTime, version: VersionReport) -> str:
    first, last = (school_time.show_date(d) for d in (version.first_day, version.last_day))
    when = f"asked on {first}" if first == last else f"asked from {first} to {last}"
    counted = "1 question" if version.asked == 1 else f"{version.asked} questions"
    return (
        f"Policy version {version.short}: {counted} {when} \u00b7 "
        f"\U0001f44d {version.helpful} \u00b7 \U0001f44e {version.unhelpful}"
    )


def report_card(ctx: HandlerContext, report: QuestionReport) -> Message:
    school_time = ctx.school_time
    blocks: list[Block] = [
        Heading("Policy questions"),
        Note(
            "What staff asked socialdesk, newest policy version first. Times are to the day; "
            "who asked is never kept or shown."
        ),
    ]
    if not report.versions:
        blocks.append(Paragraph.of("No policy questions have been asked yet."))
        return Message(summary="Policy questions: none yet", blocks=tuple(blocks))
    closing = 1  # the note that ends the card
    versions_left = 0
    complete = True
    for version in report.versions:
        head: list[Block] = [Divider(), Paragraph.of(version_heading(school_time, version))]
        if version.subjects:
            head.append(
                BulletList(
                    "Most asked",
                    tuple(
                        f"{s.count} \u00d7 {'topic' if s.topic else 'section'} "
                        f"{_cut(s.label, SUBJECT_SHOWN)}"
                        for s in version.subjects[:SUBJECTS_SHOWN]
                    ),
                )
            )
        if len(blocks) + len(head) + closing > CARD_BLOCKS:
            versions_left += 1
            continue
        blocks.extend(head)
        for listed in version.lists:
            complete = _add_list(blocks, listed, closing) and complete
    if versions_left:
        older = "1 older policy version" if versions_left == 1 else f"{versions_left} older ones"
        ending = f"{older[0].upper()}{older[1:]} did not fit here: {WHOLE_REPORT}."
    elif not complete:
        ending = f"Not every question fits on a card: {WHOLE_REPORT} for the whole report."
    else:
        ending = f"The same report, on the command line: {WHOLE_REPORT}."
    blocks.append(Note(ending))
    return Message(summary=f"Policy questions: {report.asked} asked", blocks=tuple(blocks))


def _add_list(blocks: list[Block], listed: QuestionList, closing: int) -> bool:
    """A list's title, as many of its questions as fit (each with its button), and how many
    were left out; False if any were."""
    items = listed.items
    if not items:
        return True
    # The title, and the note saying how many more, besides the questions themselves.
    room = CARD_BLOCKS - closing - len(blocks) - 2
    if room < 1:
        return False
    blocks.append(Paragraph.of(f"{listed.title} ({len(items)}):"))
    shown = 0
    for item in items[:ITEMS_PER_LIST]:
        button = keep_button(item)
        needed = 2 if button else 1
        if needed > room:
            break
        blocks.append(Paragraph.of(item_line(item, reason=listed.reasons)))
        if button is not None:
            blocks.append(Buttons((button,)))
        room -= needed
        shown += 1
    if shown < len(items):
        blocks.append(Note(f"and {len(items) - shown} more \u2014 {WHOLE_REPORT}"))
    return True
