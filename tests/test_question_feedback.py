"""Feedback on policy answers, and the question report for the IT Network Manager, in Slack and
on the command line, over HTTP: a thumbs up or down (with a reason) under every answer, one
vote per answer that a second click changes, refused to anyone but the asker; the report as a
card for the IT Network Manager only, and as text and JSON from `socialdesk questions`; an
answer kept from either, served to the next much the same question; and never, anywhere in
the report, who asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.handlers import question_report, questions
from bot.store.models import AuditEvent, PolicyQuestion
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack
from tests.harness import FIXTURES, POLICY_FILE, RunningBot, view_payload
from tests.processes import ROOT, clean_env, cli, run_cli

TEACHER, OTHER_TEACHER = "U0TEACH", "U0TEACH2"
TEACHER_NAME = "Robin Teacher"
SAM = "U0NETMGR"
THANKS = "Thanks \u2014 noted."
PHONE = "can I use my own phone for the trip photos?"
LUNCH = "what's for lunch today?"


def said(message: Any) -> str:
    """What a message or view says, as a person would read it (not \\u escapes)."""
    return json.dumps(message, ensure_ascii=False)


def buttons_of(message: dict[str, Any]) -> dict[str, str]:
    """Each button in a message, by action id, with its value (the last of an action's)."""
    return {
        element["action_id"]: element.get("value", "")
        for block in message.get("blocks", [])
        if block.get("type") == "actions"
        for element in block["elements"]
    }


def labels_of(message: dict[str, Any]) -> list[str]:
    return [
        element["text"]["text"]
        for block in message.get("blocks", [])
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


async def ask(bot: RunningBot, text: str, user: str = TEACHER) -> dict[str, Any]:
    reply = await bot.command("/policy", user, text)
    assert reply.status == 200 and reply.elapsed < 3.0
    answer: dict[str, Any] = reply.json()
    assert answer["response_type"] == "ephemeral"
    return answer


async def click(
    bot: RunningBot, slack: FakeSlack, user: str, action: str, value: str, key: str
) -> dict[str, Any]:
    """Click a button; what the bot then posted to the click's response_url."""
    before = len(slack.responses_to(key))
    reply = await bot.click(user, action, value, slack.response_url(key))
    assert reply.status == 200 and reply.elapsed < 3.0
    await slack.wait_for(lambda: len(slack.responses_to(key)) > before)
    return slack.responses_to(key)[-1]


async def reason(
    bot: RunningBot, user: str, value: str, text: str, form: str = questions.REASON_FORM
) -> dict[str, Any]:
    field = questions.REASON if form == questions.REASON_FORM else questions.ANSWER_TEXT
    payload = view_payload(user, form, value, {field: {"type": "plain_text_input", "value": text}})
    reply = await bot.submit(payload)
    assert reply.status == 200
    answer: dict[str, Any] = reply.json()
    return answer


async def only_question(bot: RunningBot) -> PolicyQuestion:
    (stored,) = await bot.rows(PolicyQuestion)
    return stored


async def test_every_answer_offers_thumbs_and_one_vote_per_answer_is_kept(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    answer = await ask(bot, PHONE)
    assert {"\U0001f44d Helpful", "\U0001f44e Not helpful"} <= set(labels_of(answer))
    value = buttons_of(answer)[questions.HELPFUL]
    assert buttons_of(answer)[questions.UNHELPFUL] == value

    # Thumbs up: stored on the question, and the answer shown again in place with the vote.
    shown = await click(bot, fake_slack, TEACHER, questions.HELPFUL, value, "up")
    assert shown["replace_original"] is True
    assert "\U0001f44d Helpful (your vote)" in labels_of(shown) and THANKS in said(shown)
    assert "school cameras" in said(shown)  # the same answer, not a note instead of it
    stored = await only_question(bot)
    assert stored.vote == "helpful" and stored.vote_reason is None

    # Someone else, shown the same buttons (a screenshot, a forwarded message), cannot vote.
    for action in (questions.HELPFUL, questions.UNHELPFUL):
        refused = await click(bot, fake_slack, OTHER_TEACHER, action, value, f"other-{action}")
        assert refused["replace_original"] is False
        assert "Only the person who asked" in said(refused)
    refused_form = await reason(bot, OTHER_TEACHER, value, "I was not asked")
    assert refused_form["response_action"] == "errors"
    assert "Only the person who asked" in refused_form["errors"][questions.REASON]
    assert (await only_question(bot)).vote == "helpful"

    # Thumbs down: the vote changes at the click, and the form for a reason opens.
    shown = await click(bot, fake_slack, TEACHER, questions.UNHELPFUL, value, "down")
    assert "\U0001f44e Not helpful (your vote)" in labels_of(shown)
    assert "\U0001f44d Helpful" in labels_of(shown)  # no longer marked
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("views.open")))
    view = fake_slack.calls_to("views.open")[-1].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == questions.REASON_FORM and view["private_metadata"] == value
    assert (await only_question(bot)).vote == "unhelpful"

    # A reason too long is refused on its field, and changes nothing.
    too_long = await reason(bot, TEACHER, value, "x" * (questions.REASON_MAX + 1))
    assert too_long["response_action"] == "errors"
    assert "500 characters or fewer" in too_long["errors"][questions.REASON]
    assert (await only_question(bot)).vote_reason is None
    why = "It did not say what to do with photos I took already."
    sent = await reason(bot, TEACHER, value, why)
    assert sent["response_action"] == "update" and THANKS in said(sent["view"])
    stored = await only_question(bot)
    assert stored.vote == "unhelpful" and stored.vote_reason == why

    # Changed back: still one vote (and the reason goes with the thumbs down), one question.
    shown = await click(bot, fake_slack, TEACHER, questions.HELPFUL, value, "again")
    assert "\U0001f44d Helpful (your vote)" in labels_of(shown)
    stored = await only_question(bot)
    assert stored.vote == "helpful" and stored.vote_reason is None
    # A vote names nobody: it is not in the audit log, which would say who voted.
    assert await bot.rows(AuditEvent) == []


async def test_an_off_topic_answer_takes_a_thumbs_down_too(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    answer = await ask(bot, LUNCH)
    assert "does not look like a question about" in said(answer)
    value = buttons_of(answer)[questions.UNHELPFUL]
    shown = await click(bot, fake_slack, TEACHER, questions.UNHELPFUL, value, "t")
    assert "does not look like a question about" in said(shown)
    assert "\U0001f44e Not helpful (your vote)" in labels_of(shown)
    assert (await only_question(bot)).vote == "unhelpful"


def _report_card(reply: dict[str, Any]) -> str:
    assert len(reply["blocks"]) <= question_report.CARD_BLOCKS
    return said(reply)


async def test_the_report_card_is_the_network_managers_and_an_answer_kept_from_it_is_served(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    fake_slack.members[TEACHER] = (TEACHER_NAME, "robin")
    asked = await ask(bot, LUNCH)
    down = buttons_of(asked)[questions.UNHELPFUL]
    await click(bot, fake_slack, TEACHER, questions.UNHELPFUL, down, "down")
    await reason(bot, TEACHER, down, "I meant the school trip's packed lunch photos")
    # One sent on to the IT Network Manager: only then does a question keep who asked.
    sent_on = buttons_of(await ask(bot, "Can I livestream the summer fair on my own TikTok?"))
    await click(bot, fake_slack, TEACHER, questions.ESCALATE, sent_on[questions.ESCALATE], "e")
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(SAM)))

    # Anyone else typing it is refused, and it is not taken for a question.
    refused = await ask(bot, "questions", OTHER_TEACHER)
    assert "Only the IT Network Manager can see the question report" in said(refused)
    assert len(await bot.rows(PolicyQuestion)) == 2

    card = await ask(bot, "questions", SAM)
    shown = _report_card(card)
    assert "Policy questions" in shown
    assert "Called off-topic (1)" in shown and LUNCH.replace("'", "'") in shown
    assert "Thumbs down (1)" in shown and "the school trip's packed lunch photos" in shown
    assert "Sent on to the IT Network Manager (1)" in shown and "Q-0001" in shown
    assert "waiting for an answer" in shown
    # Never who asked: not their Slack id, their key, nor the name Slack gave the bot.
    for who in (TEACHER, f"slack:{TEACHER}", TEACHER_NAME, "robin"):
        assert who not in shown
    lunch = next(q for q in await bot.rows(PolicyQuestion) if q.question == LUNCH)
    keep = buttons_of(card)[question_report.KEEP]
    assert f"Keep an answer for #{lunch.id}" in labels_of(card)
    assert "Answer Q-0001" in labels_of(card)

    # The role is checked at the click: a teacher with the card's value is refused.
    refused = await click(bot, fake_slack, TEACHER, question_report.KEEP, str(lunch.id), "tk")
    assert "Only the IT Network Manager can keep an answer" in said(refused)
    opened = len(fake_slack.calls_to("views.open"))
    await bot.click(SAM, question_report.KEEP, str(lunch.id), fake_slack.response_url("sam"))
    await fake_slack.wait_for(lambda: len(fake_slack.calls_to("views.open")) > opened)
    view = fake_slack.calls_to("views.open")[-1].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == questions.KEEP_FORM
    # The sent-on question's button opens the answer form (its asker hears), kept ticked.
    await bot.click(SAM, question_report.KEEP, keep, fake_slack.response_url("sam2"))
    await fake_slack.wait_for(lambda: len(fake_slack.calls_to("views.open")) > opened + 1)
    view = fake_slack.calls_to("views.open")[-1].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == questions.ANSWER_FORM
    (learn,) = [b for b in view["blocks"] if b.get("block_id") == questions.LEARN]
    assert learn["element"]["initial_options"][0]["value"] == questions.LEARN

    # A teacher cannot submit it; a blank or too long answer is refused; nothing is kept.
    kept_form = questions.KEEP_FORM
    teacher = await reason(bot, TEACHER, str(lunch.id), "Yes.", kept_form)
    assert teacher["response_action"] == "errors"
    too_long = await reason(bot, SAM, str(lunch.id), "x" * (questions.ANSWER_MAX + 1), kept_form)
    assert too_long["response_action"] == "errors"
    assert not any(q.learned for q in await bot.rows(PolicyQuestion))

    answer = "Lunch menus are on the staff intranet; photos of trip lunches are school photos."
    kept = await reason(bot, SAM, str(lunch.id), answer, kept_form)
    assert kept["response_action"] == "update" and answer in said(kept["view"])
    stored = next(q for q in await bot.rows(PolicyQuestion) if q.id == lunch.id)
    assert stored.learned and stored.answer == answer and stored.answered_by == "sam"
    assert stored.asker_key is None  # keeping it learnt nothing of who asked
    (audit,) = [e for e in await bot.rows(AuditEvent) if e.action == "question.kept"]
    assert audit.actor_key == "sam" and audit.object_id == str(lunch.id)
    again = await reason(bot, SAM, str(lunch.id), "Another answer.", kept_form)
    assert "already has an answer" in said(again)

    # Next time much the same is asked, the kept answer is served.
    served = said(await ask(bot, "what is for lunch today", OTHER_TEACHER))
    assert answer in served and "has answered a question like yours" in served
    shown = _report_card(await ask(bot, "questions", SAM))
    assert "an answer is kept for it" in shown


async def test_a_long_report_fits_one_slack_message(bot: RunningBot, fake_slack: FakeSlack) -> None:
    for number in range(1, 27):
        await ask(bot, f"what's for lunch on day {number}?")
    # What staff typed, at its longest and escaped at its longest (& is five characters).
    marks = await ask(bot, "&" * (questions.QUESTION_MAX - 1))
    down = buttons_of(marks)[questions.UNHELPFUL]
    await click(bot, fake_slack, TEACHER, questions.UNHELPFUL, down, "t")
    await reason(bot, TEACHER, down, "<&>" * (questions.REASON_MAX // 3))
    card = await ask(bot, "questions", SAM)
    shown = _report_card(card)  # under 50 blocks, and Block Kit valid (the harness checks)
    assert "Called off-topic (27)" in shown and "Thumbs down (1)" in shown
    more = 27 - question_report.ITEMS_PER_LIST
    assert f"and {more} more \u2014 run socialdesk questions" in shown
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in card["blocks"])
    assert "&amp;&amp;" in shown and "&lt;&amp;&gt;" in shown  # escaped, never markup


def _cli_env(database_url: str, policy: Path = POLICY_FILE) -> dict[str, str]:
    return clean_env(
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
        SOCIALDESK_CONFIG=str(FIXTURES / "school.yaml"),
        SOCIALDESK_POLICY=str(policy),
        LOG_LEVEL="warning",
    )


async def test_socialdesk_questions_per_version_and_an_answer_kept_from_the_command_line(
    start_bot: BotFactory, fake_slack: FakeSlack, database_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / POLICY_FILE.name
    policy.write_text(POLICY_FILE.read_text("utf-8"), "utf-8")
    bot = await start_bot(policy=policy)
    fake_slack.members[TEACHER] = (TEACHER_NAME, "robin")
    first = await ask(bot, PHONE)
    up = buttons_of(first)[questions.HELPFUL]
    await click(bot, fake_slack, TEACHER, questions.HELPFUL, up, "1")
    sent_on = buttons_of(await ask(bot, "Can I livestream the summer fair on my own TikTok?"))
    await click(bot, fake_slack, TEACHER, questions.ESCALATE, sent_on[questions.ESCALATE], "e")
    # A new version of the policy: later questions are answered from it. A vote on an earlier
    # answer still counts, but that answer cannot be shown again as it was: a note says thanks.
    policy.write_text(policy.read_text("utf-8") + "\n\nA closing line.\n", "utf-8")
    late = await click(bot, fake_slack, TEACHER, questions.HELPFUL, up, "late")
    assert late["replace_original"] is False and THANKS in said(late)
    lunch = await ask(bot, LUNCH)
    down = buttons_of(lunch)[questions.UNHELPFUL]
    await click(bot, fake_slack, TEACHER, questions.UNHELPFUL, down, "2")
    await reason(bot, TEACHER, down, "I asked about a trip's packed lunch")
    stored = {q.question: q for q in await bot.rows(PolicyQuestion)}
    old_version, new_version = stored[PHONE].policy_hash, stored[LUNCH].policy_hash
    assert old_version != new_version

    env = _cli_env(database_url, policy)
    text = await run_cli(env, "questions")
    # Newest version first, each with its digest shown short and the days it answered.
    assert text.index(f"Policy version {new_version[:8]}") < text.index(
        f"Policy version {old_version[:8]}"
    )
    assert "votes on the answers: 1 helpful, 0 not helpful" in text
    assert "topic own-device-photos" in text
    assert "Thumbs down (1):" in text and "I asked about a trip's packed lunch" in text
    assert "Sent on to the IT Network Manager (1):" in text and "Q-0001" in text
    assert f"socialdesk questions keep {stored[LUNCH].id} --answer TEXT" in text
    report = json.loads(await run_cli(env, "questions", "--json"))
    newest, older = report["versions"]
    assert newest["policy_version"] == new_version and older["policy_version"] == old_version
    assert newest["short"] == new_version[:8] and newest["questions"] == 1
    assert older["helpful"] == 1 and older["sent_on"][0]["reference"] == "Q-0001"
    assert older["sent_on"][0]["answered"] is False
    assert {"topic": "own-device-photos", "section": None, "count": 1} in older["most_asked"]
    (down_item,) = newest["thumbs_down"]
    assert down_item["reason"] == "I asked about a trip's packed lunch"
    assert down_item["asked_on"] == stored[LUNCH].asked_at.date().isoformat()
    assert (await run_cli(env, "questions", "--since", "2999-01-01")).strip() == (
        "no policy questions since 2999-01-01"
    )
    # Never who asked, in either form.
    for shown in (text, said(report)):
        for who in (TEACHER, f"slack:{TEACHER}", TEACHER_NAME, "robin", "asker"):
            assert who not in shown

    # Kept from the command line, in a Network Manager's name; refused for anyone else, for
    # the question sent on (its asker must hear), and for a number no question has.
    refused = await cli(
        env, "questions", "keep", str(stored[LUNCH].id), "--answer", "x", "--as", "Chris Head"
    )
    assert refused.returncode == 2 and "not an IT Network Manager" in refused.stderr
    (escalated,) = [q for q in stored.values() if q.reference == "Q-0001"]
    sent = await cli(env, "questions", "keep", str(escalated.id), "--answer", "No.")
    assert sent.returncode == 1 and "so that they hear the answer" in sent.stderr
    missing = await cli(env, "questions", "keep", "9999", "--answer", "No.")
    assert missing.returncode == 1 and "not in socialdesk's records" in missing.stderr
    answer = "Packed lunches on trips are fine to photograph on a school device."
    kept = await run_cli(env, "questions", "keep", f"#{stored[LUNCH].id}", "--answer", answer)
    assert f"kept an answer for question #{stored[LUNCH].id}, as Sam Network" in kept
    served = said(await ask(bot, "what is for lunch today", OTHER_TEACHER))
    assert answer in served
    audit = await run_cli(env, "audit")
    assert f"sam  question.kept  question {stored[LUNCH].id}" in audit
