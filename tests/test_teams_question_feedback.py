"""Feedback on policy answers and the question report in Teams, over HTTP as the Bot Connector
would send it: the thumbs on the answer card (the reason for a thumbs down asked inside the
card), one vote per answer shown back in the card, refused to anyone else; `policy questions`
as a card for the IT Network Manager only, and an answer kept from it served next time."""

from __future__ import annotations

from bot.handlers import questions
from bot.store.models import PolicyQuestion
from tests.fakes.teams import FakeTeams, inputs_of
from tests.harness import RunningBot
from tests.teams_client import SAM, TEACHER, TeamsUser, action_titled, texts_of

OTHER = "7b2a0c55-0000-4000-8000-00000000beef"
CARD = "application/vnd.microsoft.card.adaptive"
NOTE = "application/vnd.microsoft.activity.message"
UP, DOWN = "\U0001f44d Helpful", "\U0001f44e Not helpful"
LUNCH = "what's for lunch today?"


async def only_question(bot: RunningBot) -> PolicyQuestion:
    (stored,) = await bot.rows(PolicyQuestion)
    return stored


def titles(card: dict[str, object]) -> list[str]:
    actions = card.get("actions")
    assert isinstance(actions, list)
    return [str(a["title"]) for a in actions]


async def test_thumbs_on_the_answer_card_one_vote_changed_in_place(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    other = TeamsUser(bot, fake_teams, OTHER, "Kim Colleague")
    await teacher.install()
    await other.install()
    await teacher.say("can I use my own phone for the trip photos?")
    sent, card = teacher.last_card()
    assert {UP, DOWN} <= set(titles(card))
    # The reason for a thumbs down is asked inside the card: no second message.
    (down,) = [a for a in card["actions"] if a["title"] == DOWN]
    assert down["type"] == "Action.ShowCard"
    reason_id = next(i["id"] for i in inputs_of(down["card"]))
    assert reason_id.endswith(questions.REASON)

    # Thumbs up: the card comes back as it was, with the vote on it.
    voted = await teacher.click(card, UP, reply_to=sent)
    assert voted["type"] == CARD
    assert f"{UP} (your vote)" in titles(voted["value"])
    assert "school cameras" in texts_of(voted["value"])
    assert "Thanks \u2014 noted." in texts_of(voted["value"])
    assert (await only_question(bot)).vote == "helpful"

    # A colleague with a copy of the card cannot vote, nor send a reason.
    refused = await other.click(card, UP)
    assert refused["type"] == NOTE and "Only the person who asked" in refused["value"]
    refused = await other.click(card, "Send", {reason_id: "Not mine to say"})
    assert "Only the person who asked" in refused["value"]
    assert (await only_question(bot)).vote == "helpful"

    # A reason too long is refused, and changes nothing.
    too_long = await teacher.click(card, "Send", {reason_id: "x" * 501}, reply_to=sent)
    assert too_long["type"] == NOTE and "500 characters or fewer" in too_long["value"]
    stored = await only_question(bot)
    assert stored.vote == "helpful" and stored.vote_reason is None

    # Thumbs down with a reason: the vote changes; still one vote, on one question.
    why = "It did not say what to do with photos already on my phone."
    voted = await teacher.click(card, "Send", {reason_id: why}, reply_to=sent)
    assert voted["type"] == CARD and f"{DOWN} (your vote)" in titles(voted["value"])
    assert f"{UP} (your vote)" not in titles(voted["value"])
    stored = await only_question(bot)
    assert stored.vote == "unhelpful" and stored.vote_reason == why

    # And back: a thumbs up clears the reason that went with the thumbs down.
    voted = await teacher.click(voted["value"], UP, reply_to=sent)
    stored = await only_question(bot)
    assert stored.vote == "helpful" and stored.vote_reason is None


async def test_the_report_card_in_teams_and_an_answer_kept_from_it(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await sam.install()
    await teacher.install()
    await teacher.say(LUNCH)
    sent, card = teacher.last_card()
    assert "does not look like a question" in texts_of(card)
    (down,) = [a for a in card["actions"] if a["title"] == DOWN]
    reason_id = next(i["id"] for i in inputs_of(down["card"]))
    await teacher.click(card, "Send", {reason_id: "I meant the trip's packed lunch"}, reply_to=sent)

    # Not for staff: refused, and not kept as a question.
    await teacher.say("policy questions")
    assert "Only the IT Network Manager can see the question report" in texts_of(
        teacher.last_card()[1]
    )
    await sam.say("policy questions")
    report_sent, report = sam.last_card()
    shown = texts_of(report)
    assert "Called off-topic (1)" in shown and "Thumbs down (1)" in shown
    assert "I meant the trip's packed lunch" in shown
    assert "Robin Teacher" not in shown and TEACHER not in shown
    stored = await only_question(bot)
    keep_title = f"Keep an answer for #{stored.id}"
    assert keep_title in titles(report)

    # A teacher with a copy of the report is refused at the click; Sam gets the form below.
    refused = await teacher.click(report, keep_title)
    assert "Only the IT Network Manager can keep an answer" in refused["value"]
    opened = await sam.click(report, keep_title, reply_to=report_sent)
    assert opened["type"] == NOTE and "below" in opened["value"]
    form_sent, form = sam.last_card()
    assert LUNCH in texts_of(form)
    answer_id = next(i["id"] for i in inputs_of(form) if i["id"] == questions.ANSWER_TEXT)
    answer = "Lunch menus are on the staff intranet."
    kept = await sam.click(form, "Keep answer", {answer_id: answer}, reply_to=form_sent)
    assert kept["type"] == CARD and f"Kept for question #{stored.id}" in texts_of(kept["value"])
    stored = await only_question(bot)
    assert stored.learned and stored.answer == answer and stored.asker_key is None
    assert action_titled(form, "Keep answer")["verb"] == "socialdesk.form"

    # Served to the next much the same question.
    await teacher.say("what is for lunch today")
    assert answer in texts_of(teacher.last_card()[1])


async def test_a_long_report_is_one_valid_card_in_teams(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await sam.install()
    await teacher.install()
    for number in range(1, 9):
        await teacher.say(f"what's for lunch on day {number}?")
    await sam.say("policy questions")
    _, report = sam.last_card()  # sent through the fake Bot Connector, which checks the schema
    assert "Called off-topic (8)" in texts_of(report)
    assert "and 3 more \u2014 run socialdesk questions" in texts_of(report)
    assert len([t for t in titles(report) if t.startswith("Keep an answer")]) == 5
