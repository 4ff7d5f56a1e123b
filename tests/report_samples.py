"""A report in each state, as the store returns it, for rendering tests; and the report
form's state as Slack sends it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.reports import (
    ANONYMOUS,
    SYSTEM,
    EventKind,
    ReportEvent,
    ReportKind,
    ReportOutcome,
    ReportRecord,
    ReportState,
)

AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
HOSTILE = "<!channel> [click](https://evil.example) **bold** <at>Sam</at> & more"


def sample_report(
    state: ReportState = ReportState.OPEN,
    anonymous: bool = False,
    events: int = 3,
    kind: ReportKind = ReportKind.PUPIL_REQUEST,
) -> ReportRecord:
    history = [
        ReportEvent(AT, EventKind.SUBMITTED, ANONYMOUS if anonymous else "slack:U0TEACHER"),
        ReportEvent(AT, EventKind.SENT, SYSTEM, "sent to 3"),
    ]
    for number in range(max(0, events - 2)):
        history.append(ReportEvent(AT + timedelta(minutes=number), EventKind.NOTE, "sam", HOSTILE))
    if state is not ReportState.OPEN:
        history.append(ReportEvent(AT, EventKind.ACKNOWLEDGED, "sam"))
    if state is ReportState.CLOSED:
        history.append(ReportEvent(AT, EventKind.CLOSED, "sam", "Logged; nothing more needed."))
    return ReportRecord(
        id=3,
        reference="R-0003",
        kind=kind,
        state=state,
        reporter_key=None if anonymous else "slack:U0TEACHER",
        where="Instagram " + HOSTILE,
        links=("https://instagram.com/p/abc", "https://example.org/<x>"),
        seen_at=AT - timedelta(hours=20),
        details=HOSTILE + "\n" + "A long line. " * 200,
        involved=("sam",),
        involved_text="Year 9 pupil, initials " + HOSTILE,
        recipients=("slack:U0DSL", "teams-dsl"),
        held=False,
        escalated=False,
        created_at=AT,
        due_at=AT + timedelta(hours=1),
        step=len(history),
        outcome=ReportOutcome.LOGGED if state is ReportState.CLOSED else None,
        attachments=(11, 12),
        events=tuple(history),
    )


def report_values(
    kind: str | None = "pupil_request",
    details: str = "A Year 9 pupil sent me a follow request on Instagram last night.",
    links: str = "https://instagram.com/someone",
    involved: tuple[str, ...] = (),
    anonymous: bool = False,
    files: list[dict[str, Any]] | None = None,
    seen_on: str | None = None,
    seen_at: str | None = None,
) -> dict[str, Any]:
    return {
        "kind": {
            "type": "radio_buttons",
            "selected_option": {"value": kind} if kind else None,
        },
        "where": {"type": "plain_text_input", "value": "Instagram"},
        "links": {"type": "plain_text_input", "value": links},
        "seen_on": {"type": "datepicker", "selected_date": seen_on},
        "seen_at": {"type": "timepicker", "selected_time": seen_at},
        "details": {"type": "plain_text_input", "value": details},
        "involved": {"type": "multi_users_select", "selected_users": list(involved)},
        "involved_text": {"type": "plain_text_input", "value": None},
        "evidence": {"type": "file_input", "files": files or []},
        "anonymously": {
            "type": "checkboxes",
            "selected_options": [{"value": "anonymously"}] if anonymous else [],
        },
    }
