"""Deciding on drafts in Teams: reasons asked in the card, revisions, withdrawal, posting,
refusals at click time, one decision under concurrent clicks, and escaping."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.store.models import Post
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import FakeTeams, inputs_of
from tests.harness import RunningBot, eventually
from tests.teams_client import (
    SAM,
    TEACHER,
    TeamsUser,
    action_titled,
    card_for,
    draft_inputs,
    texts_of,
)

CHRIS_SLACK = "U0COHEAD1"


async def _desk(bot: RunningBot, fake_teams: FakeTeams) -> tuple[TeamsUser, TeamsUser]:
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await sam.install()
    await teacher.install()
    return sam, teacher


async def _submit(teacher: TeamsUser, **inputs: Any) -> None:
    await teacher.say("post")
    sent, form = teacher.last_card()
    answer = await teacher.click(form, "Send for approval", draft_inputs(**inputs), reply_to=sent)
    assert "sent for approval" in texts_of(answer["value"]), texts_of(answer["value"])


def _input_id(card: dict[str, Any], suffix: str) -> str:
    (found,) = [i["id"] for i in inputs_of(card) if i["id"].endswith(suffix)]
    return str(found)


async def test_changes_are_asked_for_in_the_card_and_the_revision_goes_back(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    sam, teacher = await _desk(bot, fake_teams)
    await _submit(teacher)
    sent, card = await card_for(sam, fake_teams, "Draft post P-0001 for approval")

    # The reason is asked inside the card (Action.ShowCard): no second round trip.
    send_back = action_titled(card, "Send it back")
    reason_id = _input_id(card, "request_changes.reason")
    answer = await sam.click(
        card, "Send it back", {reason_id: "Please use first names only."}, reply_to=sent
    )
    assert send_back["verb"] == "socialdesk.form"
    assert "Returned for changes by Sam Network" in texts_of(answer["value"])

    told_sent, told = await card_for(teacher, fake_teams, "Please use first names only.")
    revision_form = await teacher.click(told, "Revise", reply_to=told_sent)
    form = revision_form["value"]
    (text_input,) = [i for i in inputs_of(form) if i["id"] == "text"]
    assert text_input["value"].startswith("Year 4 won")
    # A refused revision is told in a note; the form, with what was typed, stays.
    refused = await teacher.click(
        form,
        "Send for approval",
        draft_inputs(text="Year 4 won!", confirmed=()),
        reply_to=told_sent,
    )
    assert refused["type"] == "application/vnd.microsoft.activity.message"
    assert "parent or carer" in refused["value"]
    (post,) = await bot.rows(Post)
    assert post.state == "changes_requested"
    revised = await teacher.click(
        form,
        "Send for approval",
        draft_inputs(text="Year 4 (Amy and Ben) won the quiz!"),
        reply_to=told_sent,
    )
    assert "Version 2 of P-0001" in texts_of(revised["value"])
    await eventually(
        lambda: _shows(sam, "replaced by version 2"), what="the old card marked replaced"
    )
    _, newer = await card_for(sam, fake_teams, "Version: 2")
    assert "Approve" in [a["title"] for a in newer["actions"]]


async def _shows_async(user: TeamsUser, text: str) -> bool:
    return any(text in texts_of(c) for c in user.fake.cards_to(user.aad))


def _shows(user: TeamsUser, text: str) -> Any:
    return _shows_async(user, text)


async def test_reject_withdraw_and_mark_as_posted(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    sam, teacher = await _desk(bot, fake_teams)
    await _submit(teacher, text="First draft")
    sent, card = await card_for(sam, fake_teams, "First draft")
    reason_id = _input_id(card, "post.reject.reason")
    rejected = await sam.click(
        card, "Reject", {reason_id: "Not for the school page."}, reply_to=sent
    )
    assert "Rejected by Sam Network" in texts_of(rejected["value"])

    await _submit(teacher, text="Second draft")
    receipt_sent, receipt = await card_for(teacher, fake_teams, "Second draft")
    # Withdrawing asks first, inside the card; the confirming button withdraws.
    assert action_titled(receipt, "Withdraw")["verb"] == "post.withdraw"
    withdrawn = await teacher.click(receipt, "Withdraw", reply_to=receipt_sent)
    assert "withdrawn" in texts_of(withdrawn["value"]).lower()
    await eventually(lambda: _shows(sam, "Withdrawn by Robin Teacher"), what="card withdrawn")

    await _submit(teacher, text="Third draft", accounts="Facebook,School website")
    sent, card = await card_for(sam, fake_teams, "Third draft")
    approved = await sam.click(card, "Approve", reply_to=sent)
    posted_card = approved["value"]
    facebook = _input_id(posted_card, "link_facebook")
    website = _input_id(posted_card, "link_school_website")
    refused = await sam.click(
        posted_card, "Mark as posted", {facebook: "javascript:alert(1)", website: ""}
    )
    assert refused["type"] == "application/vnd.microsoft.activity.message"
    assert "http" in refused["value"]
    done = await sam.click(
        posted_card,
        "Mark as posted",
        {
            facebook: "https://facebook.com/oakgreen/posts/1",
            website: "https://oakgreen.example.sch.uk/news/quiz",
        },
        reply_to=sent,
    )
    assert "Posted by Sam Network" in texts_of(done["value"])
    await eventually(
        lambda: _shows(teacher, "https://facebook.com/oakgreen/posts/1"),
        what="teacher told the live link",
    )


async def test_only_an_approver_decides_checked_at_the_click(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    sam, teacher = await _desk(bot, fake_teams)
    await _submit(teacher)
    _sent, card = await card_for(sam, fake_teams, "Draft post P-0001 for approval")
    # Another teacher and the submitter forge Sam's card's clicks: each is refused in a note
    # only they see, and the card stays as it was.
    colleague = TeamsUser(bot, fake_teams, "7b2a0c55-0000-4000-8000-00000000beef", "Jo Other")
    answer = await colleague.click(card, "Approve")
    assert answer["type"] == "application/vnd.microsoft.activity.message"
    assert "Network Manager" in answer["value"]
    answer = await teacher.click(card, "Approve")
    assert "your own draft" in answer["value"]
    reason_id = _input_id(card, "post.reject.reason")
    answer = await colleague.click(card, "Reject", {reason_id: "I changed my mind"})
    assert answer["type"] == "application/vnd.microsoft.activity.message"
    (post,) = await bot.rows(Post)
    assert post.state == "awaiting_approval"


async def test_no_self_approval_across_platforms(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    # Sam drafts in Teams: it goes to the Co-Headteachers, and his Slack self is refused.
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    await sam.install()
    await _submit(sam)
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(CHRIS_SLACK)), what="co-head")
    # Sam has the bot in both places, so his receipt reaches both; no card asks him to decide.
    assert "post.approve" not in str([c.args for c in fake_slack.messages_to("U0NETMGR")])
    reply = await bot.click("U0NETMGR", "post.approve", "1:1", fake_slack.response_url("sam"))
    assert reply.status == 200
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to("sam")), what="refusal")
    assert "own draft" in str(fake_slack.responses_to("sam")[0])
    (post,) = await bot.rows(Post)
    assert post.state == "awaiting_approval"


async def test_two_approvers_at_once_make_one_decision(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    sam, teacher = await _desk(bot, fake_teams)
    await _submit(teacher)
    sent, card = await card_for(sam, fake_teams, "Draft post P-0001 for approval")
    reason_id = _input_id(card, "post.reject.reason")
    in_teams, _in_slack = await asyncio.gather(
        sam.click(card, "Reject", {reason_id: "No."}, reply_to=sent),
        bot.click("U0NETDEP", "post.approve", "1:1", fake_slack.response_url("nia")),
    )
    (post,) = await bot.rows(Post)
    assert post.state in ("approved", "rejected")
    if post.state == "approved":
        # Sam lost: only he is told who decided first, and the card stays for the update.
        assert in_teams["type"] == "application/vnd.microsoft.activity.message"
        assert "already approved: Nia Deputy" in in_teams["value"]
    else:
        await fake_slack.wait_for(lambda: bool(fake_slack.responses_to("nia")), what="nia told")
        assert "already rejected: <@U0NETMGR>" in str(fake_slack.responses_to("nia")[0])


async def test_a_smuggled_link_or_mention_is_shown_as_text(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    sam, teacher = await _desk(bot, fake_teams)
    sneaky = "Well done! [Click here](https://evil.example) <at>Sam Network</at> **now**"
    await _submit(teacher, text=sneaky, accounts="Facebook")
    _, card = await card_for(sam, fake_teams, "Click here")
    # Only TextRuns carry text, and they are never read as markdown; no mention entities.
    blocks = [b for b in card["body"] if b["type"] == "TextBlock"]
    assert blocks == []
    assert "entities" not in str(card.get("msteams"))
    assert sneaky in texts_of(card)


async def test_a_network_manager_marks_their_own_approved_draft_as_posted_from_teams(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    await sam.install()
    await _submit(sam, text="Sam's own news", accounts="Facebook")
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to(CHRIS_SLACK)), what="co-head")
    await bot.click(CHRIS_SLACK, "post.approve", "1:1", fake_slack.response_url("chris"))
    await fake_teams.wait_for(
        lambda: "approved" in str(sam.messages[-1].activity.get("summary")), what="told"
    )
    sent, told = sam.last_card()
    link = _input_id(told, "link_facebook")
    answer = await sam.click(
        told, "Mark as posted", {link: "https://facebook.com/oakgreen/posts/9"}, reply_to=sent
    )
    # His message now shows where the draft stands, not a silent card with a live button.
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Posted by Sam Network" in texts_of(answer["value"])
