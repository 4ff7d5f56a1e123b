"""The command line's policy commands: answer a question as the bot would, and show the policy
as loaded with what is held back for review."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from bot.cli_database import existing_database
from bot.settings import Settings, SettingsError

if TYPE_CHECKING:
    from bot.core.questions import PolicyIndex


def _policy_index(settings: Settings) -> PolicyIndex | None:
    from bot.config import load_config
    from bot.policy_source import open_policy, policy_setting

    path = settings.policy_path
    if path is None and settings.config_path.exists():
        path = load_config(settings.config_path).policy_path
    return open_policy(path, policy_setting(settings.policy_path, settings.config_path)).current()


def ask(settings: Settings, question: str, as_json: bool) -> int:
    from bot.core.questions import answer_question, smalltalk_in
    from bot.handlers.questions import QUESTION_MAX

    index = _policy_index(settings)
    if index is None:
        raise SettingsError(
            "SOCIALDESK_POLICY: no policy document configured (or policy: in the YAML), so "
            "there is nothing to answer from"
        )
    # One line in, one answer out, at once: a program may send a question and wait for it.
    lines = sys.stdin if question == "-" else [question]
    for line in lines:
        text = " ".join(line.split())
        sections: list[dict[str, object]] = []
        confident = False
        quoted: list[str] = []
        talk = smalltalk_in(index.knowledge, text) if text else None
        if not text:
            answer = "Ask a question about the policy."
        elif talk is not None:
            answer = talk.reply
        elif len(text) > QUESTION_MAX:
            answer = f"Please ask in fewer than {QUESTION_MAX} characters."
        else:
            found = answer_question(index, text)
            answer, confident = found.text, found.confident
            sections = [
                {"title": s.section.short_title, "score": round(s.score, 3)} for s in found.ranked
            ]
            quoted = [
                f"{q.section.short_title}: {p.quoted}" for q in found.quoted for p in q.passages
            ]
        if as_json:
            print(
                json.dumps({"answer": answer, "confident": confident, "sections": sections}),
                flush=True,
            )
            continue
        print(answer, flush=not quoted and not sections)
        for passage in quoted:
            print(f"  > {passage}")
        for section in sections:
            print(f"  {section['score']:>7} {section['title']}", flush=True)
    return 0


async def show_policy(settings: Settings) -> int:
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
    for review in index.reviews:
        now = f"now {review.current}" if review.current else "no longer in the document"
        print(
            f"held back for review: answers for {review.title!r} were checked against "
            f"{review.reviewed}, {now}"
        )
    for title, count in index.orphan_phrasings.items():
        print(f"held back for review: {count} staff phrasings name {title!r}, not in the document")
    if settings.database_url:
        try:
            async with existing_database(settings) as engine, engine.connect() as db:
                learned = await SqlQuestions(db).learned()
        except SettingsError as error:
            print(f"kept answers not checked: {error}")
            return 0
        for entry in learned:
            if not entry.still_fits(document):
                # By reference only: the question is the asker's, not the console's.
                print(
                    f"held back for review: the IT Network Manager's kept answer to "
                    f"{entry.reference}; the policy it was given for has changed"
                )
    return 0
