"""The command line's policy commands: answer a question as the bot would, and show the policy
as loaded with what is held back for review."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.cli_database import existing_database
from bot.core.questions import CONFIDENT, CONFIDENT_BY_CONTENT, trusted_placement
from bot.settings import Settings, SettingsError, UsageError

if TYPE_CHECKING:
    from bot.core.questions import PolicyIndex


def _policy_index(settings: Settings) -> PolicyIndex | None:
    from bot.config import load_config
    from bot.policy_source import open_policy, policy_setting

    path = settings.policy_path
    if path is None and settings.config_path.exists():
        path = load_config(settings.config_path).policy_path
    return open_policy(path, policy_setting(settings.policy_path, settings.config_path)).current()


@dataclass
class _Asked:
    """One question's answer as the console shows it: the chat answer's text, the sections
    ranked with their match scores and the passages quoted from them, and what the chat answer
    would offer next."""

    answer: str
    confident: bool = False
    sections: list[dict[str, Any]] = field(default_factory=list)
    next_step: str | None = None
    also: str | None = None
    lead: float | None = None  # how far the best section leads the next, as a share of its score
    thresholds: tuple[tuple[float, float], ...] = CONFIDENT

    def as_json(self) -> str:
        return json.dumps(
            {
                "answer": self.answer,
                "confident": self.confident,
                "sections": self.sections,
                "next_step": self.next_step,
            }
        )

    def as_text(self) -> str:
        lines = [self.answer]
        for section in self.sections:
            for passage in section["quoted"]:
                quoted = passage.replace("\n", "\n    ")
                lines.append(f"  > {section['title']}: {quoted}")
        if not self.sections:
            return "\n".join(lines)
        best = self.sections[0]["score"]
        ahead = f", {self.lead:.0%} ahead of the next" if self.lead is not None else ""
        lines.append(
            f"confident: {'yes' if self.confident else 'no'} (the best section's match score is "
            f"{best:g}{ahead}; {_confident_when(self.thresholds)})"
        )
        if self.next_step:
            lines.append(f"next step (in chat): {self.next_step}")
        if self.also:
            lines.append(f"also (in chat): {self.also}")
        lines.append("sections by match score (higher is a closer match; not a percentage):")
        lines.extend(f"  {s['score']:>8.3f}  {s['title']}" for s in self.sections)
        return "\n".join(lines)


# Read from the thresholds themselves, so what the console says stays what the bot does.
def _confident_when(thresholds: tuple[tuple[float, float], ...]) -> str:
    return "confident needs " + " or ".join(
        f"{score:g} with a {share:.0%} lead" for score, share in thresholds
    )


_SEND_ON = "this question can be sent on to the IT Network Manager (Ask the IT Network Manager)"


def _answered(index: PolicyIndex, text: str) -> _Asked:
    from bot.core.questions import AnswerKind, answer_question

    found = answer_question(index, text)
    if found.kind is AnswerKind.OFF_TOPIC:
        return _Asked(found.text)
    quoted = {q.section.short_title: [p.quoted for p in q.passages] for q in found.quoted}
    sections = [
        {
            "title": s.section.short_title,
            "score": round(s.score, 3),
            "quoted": quoted.get(s.section.short_title, []),
        }
        for s in found.ranked
    ]
    best = found.ranked[0].score
    runner_up = found.ranked[1].score if len(found.ranked) > 1 else 0.0
    asked = _Asked(found.text, found.confident, sections, lead=(best - runner_up) / best)
    if not trusted_placement(found.ranked[0]):
        asked.thresholds = CONFIDENT_BY_CONTENT
    step = found.topic.next if found.topic and found.confident else None
    if step is not None:
        # The chat answer names the command as each platform has it.
        report = "/report in Slack (report in Teams)"
        asked.next_step = step.text.replace("{report}", report)
        asked.also = _SEND_ON
    else:
        asked.next_step = _SEND_ON if found.confident else f"not sure: {_SEND_ON}"
    return asked


def ask(settings: Settings, question: str, as_json: bool) -> int:
    from bot.core.questions import smalltalk_in
    from bot.handlers.questions import QUESTION_MAX

    if question != "-" and not question.strip():
        raise UsageError("the question is empty: give one, or - to read one a line from stdin")
    index = _policy_index(settings)
    if index is None:
        raise SettingsError(
            "SOCIALDESK_POLICY: no policy document configured (or policy: in the YAML), so "
            "there is nothing to answer from"
        )
    # One line in, one answer out, at once: a program may send a question and wait for it.
    lines = sys.stdin if question == "-" else [question]
    answered = 0
    for line in lines:
        text = " ".join(line.split())
        if not text:
            continue  # a blank line between questions is not a question
        if answered and not as_json:
            print()  # each answer takes several lines of text
        answered += 1
        talk = smalltalk_in(index.knowledge, text)
        if talk is not None:
            asked = _Asked(talk.reply)
        elif len(text) > QUESTION_MAX:
            asked = _Asked(f"Please ask in fewer than {QUESTION_MAX} characters.")
        else:
            asked = _answered(index, text)
        print(asked.as_json() if as_json else asked.as_text(), flush=True)
    return 0


async def show_policy(settings: Settings) -> int:
    from bot.core.policy_review import proposals
    from bot.policy_source import placement_summary
    from bot.store.question_repo import SqlQuestions

    index = _policy_index(settings)
    if index is None:
        print("no policy document configured (SOCIALDESK_POLICY, or policy: in the YAML)")
        return 0
    document = index.document
    print(f"{document.source}: version {document.digest[:12]}, {len(document.sections)} sections")
    for section in document.sections:
        count = len(section.passages)
        kind = f"{count} passage{'' if count == 1 else 's'}" if count else "heading only"
        print(f"  {section.digest[:12]}  {section.short_title} ({kind})")
    print(placement_summary(index))
    for proposal in proposals(index):
        if proposal.needs_review and proposal.section is not None:
            print(
                f"waits for review: {proposal.topic_key}, answered from "
                f"{proposal.section.short_title!r} in its own words: {proposal.why}"
            )
    if settings.database_url:
        try:
            async with existing_database(settings) as engine, engine.connect() as db:
                learned = await SqlQuestions(db).learned()
        except SettingsError as error:
            print(f"kept answers not checked: {error}")
            return 0
        for entry in learned:
            if not entry.still_fits(document):
                # By reference (or, for one kept from the question report and never sent on,
                # its number) only: the question is the asker's, not the console's.
                which = entry.reference or f"question #{entry.question_id}"
                print(
                    f"held back for review: the IT Network Manager's kept answer to "
                    f"{which}; the policy it was given for has changed"
                )
    return 0
