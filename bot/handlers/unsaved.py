"""What a person is told when the database could not save what they sent (it stalled, or
another process held its lock). Each says what was lost, so a report is never called a draft;
every edge answers from here, whatever stopped the save."""

from __future__ import annotations

from bot.handlers import post_cards, reports

DRAFT_FAILED = "Sorry, your draft could not be saved just now. Nothing was sent; please try again."
REPORT_FAILED = (
    "Sorry, your report could not be saved just now. Nothing was sent; please try again. If a "
    "child is at immediate risk, phone the DSL now."
)
SAVE_FAILED = "Sorry, that could not be saved just now. Nothing was changed; please try again."
DONE_FAILED = "Sorry, that could not be done just now. Nothing was changed; please try again."
QUESTION_FAILED = "Sorry, I could not answer just now. Nothing was kept; please ask again."

_DRAFT_FORMS = frozenset({post_cards.DRAFT_FORM, post_cards.REVISION_FORM})


def unsaved(form_id: str) -> str:
    """The apology for the form `form_id` when nothing of it could be saved."""
    if form_id in _DRAFT_FORMS:
        return DRAFT_FAILED
    if form_id == reports.REPORT_FORM:
        return REPORT_FAILED
    return SAVE_FAILED
