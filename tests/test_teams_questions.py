"""Policy questions in Teams: any words that are not a command are a question; the answer card,
the question sent on to the IT Network Manager, answered inside their card and told back in the
asker's chat, all over HTTP as the Bot Connector would."""

from __future__ import annotations

from bot.handlers import questions
from bot.store.models import Card, PolicyQuestion
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import FakeTeams, inputs_of
from tests.harness import RunningBot, eventually, heading
from tests.teams_client import SAM, TEACHER, TeamsUser, action_titled, card_for, texts_of

NIA_SLACK = "U0NETDEP"

# Answers come from the example school's policy (examples/policy), which ships with the project.
PHOTOGRAPHS = heading("Photographs for use with social media")


async def test_any_other_words_are_a_question_answered_from_the_policy(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.install()
    await teacher.say("can I use my own phone for the trip photos?")
    _, card = teacher.last_card()
    shown = texts_of(card)
    assert "school cameras" in shown
    assert PHOTOGRAPHS in shown
    assert {a["title"] for a in card["actions"]} >= {"Start a draft", "Ask the IT Network Manager"}

    # `policy` in front reads the same; small talk and empty questions are short.
    await teacher.say("policy a Year 8 added me on Snapchat, what do I do?")
    assert heading("Personal Use of Social Media") in texts_of(teacher.last_card()[1])
    # Teams has no slash commands: the next step names the word to type.
    _, answer = teacher.last_card()
    shown = texts_of(answer)
    assert "or report." in shown and "/report" not in shown
    # Report it opens the report form, in a dialog, with the kind already chosen.
    (report_it,) = [a for a in answer["actions"] if a["title"] == "Report it"]
    assert report_it["type"] == "Action.Submit"
    assert report_it["data"]["msteams"] == {"type": "task/fetch"}
    assert report_it["data"]["sd_value"] == "pupil_request"
    await teacher.say("thanks")
    assert "welcome" in texts_of(teacher.last_card()[1]).lower()
    # A greeting in front of a question does not hide it, nor "post" in front of one.
    await teacher.say("hi can I tag a colleague in my photos from the staff party?")
    respecting = heading(
        "Respecting colleagues, pupils, parents, clients, service providers and stakeholders"
    )
    assert respecting in texts_of(teacher.last_card()[1])
    await teacher.say("post photos of my class on my own Instagram?")
    assert PHOTOGRAPHS in texts_of(teacher.last_card()[1])
    await teacher.say("policy")
    assert "post - draft a post" in texts_of(teacher.last_card()[1])


async def test_start_a_draft_sends_the_form_and_keeps_the_answer(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.install()
    await teacher.say("Can I use my own phone to take trip photos for the school page?")
    sent, card = teacher.last_card()
    answer = await teacher.click(card, "Start a draft", reply_to=sent)
    assert answer["type"] == "application/vnd.microsoft.activity.message"
    _, form = teacher.last_card()
    assert "text" in {i["id"] for i in inputs_of(form)}


async def test_a_question_goes_to_the_network_manager_in_teams_and_the_answer_comes_back(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await sam.install()
    await teacher.install()
    asked = "Can I livestream the summer fair on my own TikTok?"
    await teacher.say(asked)
    sent, card = teacher.last_card()
    told = await teacher.click(card, "Ask the IT Network Manager", reply_to=sent)
    assert "Sent to the IT Network Manager as Q-0001" in told["value"]

    # Sam gets the card in Teams (and Nia, who is only in Slack, in Slack).
    question_sent, question_card = await card_for(sam, fake_teams, asked)
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(NIA_SLACK)))
    # The answer is written in the card (Action.ShowCard): no second round trip.
    assert any(
        a.get("title") == "Answer" and a["type"] == "Action.ShowCard"
        for a in question_card["actions"]
    )
    assert action_titled(question_card, "Send answer")["verb"] == "socialdesk.form"
    ids = {i["id"] for i in inputs_of(question_card)}
    answer_id = next(i for i in ids if i.endswith(questions.ANSWER_TEXT))
    learn_id = next(i for i in ids if i.endswith(f".{questions.LEARN}"))

    # The teacher cannot answer from a copy of the card: checked at the click.
    refused = await teacher.click(
        question_card, "Send answer", {answer_id: "Yes!"}, reply_to=question_sent
    )
    assert "Only the IT Network Manager" in refused["value"]

    # The bot records where each copy went once the Bot Connector has taken it; on a busy
    # machine that can lag the card's arrival, and a click on a copy not yet recorded is
    # answered with a note instead of the card as it now is.
    async def copies_recorded() -> bool:
        return len(await bot.rows(Card)) >= 2

    await eventually(copies_recorded, what="both copies of the question's card recorded")
    answered = await sam.click(
        question_card,
        "Send answer",
        {answer_id: "Not on a personal account, sorry.", learn_id: questions.LEARN},
        reply_to=question_sent,
    )
    assert "Answered by Sam Network" in texts_of(answered["value"])
    _, reply = await card_for(teacher, fake_teams, "Not on a personal account, sorry.")
    assert asked in texts_of(reply)
    (stored,) = await bot.rows(PolicyQuestion)
    assert stored.answered_by == "sam" and stored.learned
    # Kept: the next teacher asking much the same sees it beside the policy's answer.
    await teacher.say("is it ok to livestream the summer fair on my own tiktok")
    shown = texts_of(teacher.last_card()[1])
    assert "Not on a personal account, sorry." in shown and asked not in shown
