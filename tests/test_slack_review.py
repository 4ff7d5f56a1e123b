"""Deciding on drafts from Slack: approve, return, reject, revise, withdraw and mark as posted,
each exactly once, end to end over HTTP against the fake Slack Web API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.store.models import AuditEvent, HistoryRow, OutboxItem, Post, PostLink, PostVersion
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack, Fault
from tests.harness import (
    FIXTURES,
    RunningBot,
    SettableClock,
    draft_payload,
    eventually,
    sessions,
    view_payload,
)

TEACHER = "U0TEACH"
SAM, NIA = "U0NETMGR", "U0NETDEP"  # the two Network Managers
CO_HEADS = ("U0COHEAD1", "U0COHEAD2")


class Desk:
    """One running bot and the fake Slack, with the steps people take."""

    def __init__(self, bot: RunningBot, slack: FakeSlack) -> None:
        self.bot = bot
        self.slack = slack

    async def submit(self, user: str = TEACHER, **draft: Any) -> Post:
        before = len(await self.bot.rows(Post))
        reply = await self.bot.submit(draft_payload(user, **draft))
        assert reply.json()["response_action"] == "update", reply.text
        posts = await self.bot.rows(Post)
        assert len(posts) == before + 1
        return posts[-1]

    async def click(
        self, user: str, action: str, post: Post, version: int | None = None, **kwargs: Any
    ) -> int:
        """Click and return the HTTP status; the ack must come well inside Slack's 3 s."""
        value = f"{post.id}:{version or post.version}"
        reply = await self.bot.click(user, action, value, self.slack.response_url(user), **kwargs)
        assert reply.elapsed < 3.0
        return reply.status

    async def form(
        self, user: str, callback_id: str, metadata: str, values: Mapping[str, Any]
    ) -> Any:
        reply = await self.bot.submit(view_payload(user, callback_id, metadata, values))
        assert reply.status == 200
        return reply.json()

    async def post(self, post: Post) -> Post:
        async with sessions(self.bot.runtime.engine)() as session:
            found = await session.get(Post, post.id)
            assert found is not None
            return found

    async def history(self, post: Post) -> list[tuple[str | None, str, str, int | None]]:
        async with sessions(self.bot.runtime.engine)() as session:
            rows = await session.scalars(
                select(HistoryRow).where(HistoryRow.object_id == post.id).order_by(HistoryRow.id)
            )
            return [(r.from_state, r.to_state, r.actor_key, r.version) for r in rows]

    async def actions(self) -> list[str]:
        return [e.action for e in await self.bot.rows(AuditEvent)]

    async def settled(self) -> None:
        async def nothing_pending() -> bool:
            return all(i.status != "pending" for i in await self.bot.rows(OutboxItem))

        await eventually(nothing_pending, what="the outbox to empty")

    async def settled_but_timers(self) -> None:
        """Every message sent; timers not yet due may still wait."""

        async def nothing_pending() -> bool:
            return all(
                i.status != "pending" or i.kind == "timer" for i in await self.bot.rows(OutboxItem)
            )

        await eventually(nothing_pending, what="the outbox to empty")

    def card(self, user: str, post: Post, version: int = 1) -> dict[str, Any]:
        """The approval card of this draft's version, as this person sees it now."""
        marker = f"{post.reference} · version {version} ·"
        found = [
            shown
            for shown in self.slack.cards_of(user).values()
            if marker in json.dumps(shown["blocks"], ensure_ascii=False)
        ]
        assert len(found) == 1, f"{user} has {len(found)} cards for {marker}"
        return found[0]

    def last_view(self) -> dict[str, Any]:
        view = self.slack.calls_to("views.open")[-1].args["view"]
        return json.loads(view) if isinstance(view, str) else dict(view)

    def said_to(self, user: str) -> str:
        return json.dumps([c.args for c in self.slack.messages_to(user)])

    def told(self, user: str) -> str:
        """What the person was told privately in answer to their clicks."""
        return json.dumps(self.slack.responses_to(user))


def buttons(shown: Mapping[str, Any]) -> list[str]:
    return [
        e["action_id"] for b in shown["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]


def reason(text: str) -> dict[str, Any]:
    return {"reason": {"type": "plain_text_input", "value": text}}


def links(**by_input: str) -> dict[str, Any]:
    return {name: {"type": "url_text_input", "value": url} for name, url in by_input.items()}


@pytest.fixture
def desk(bot: RunningBot, fake_slack: FakeSlack) -> Desk:
    return Desk(bot, fake_slack)


async def test_approve_then_mark_as_posted_updates_every_card_and_tells_the_submitter(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    post = await desk.submit()
    await desk.settled()
    for manager in (SAM, NIA):
        assert buttons(desk.card(manager, post)) == [
            "post.approve",
            "post.request_changes",
            "post.reject",
        ]

    assert await desk.click(SAM, "post.approve", post) == 200
    assert (await desk.post(post)).state == "approved"
    await desk.settled()
    for manager in (SAM, NIA):
        card = desk.card(manager, post)
        assert card["updates"] == 1
        assert buttons(card) == ["post.mark_posted"]
        assert "Approved by <@U0NETMGR>" in json.dumps(card["blocks"])
    assert "P-0001 is approved" in desk.said_to(TEACHER)

    # Nia posts it: the form asks for the live link of each account.
    assert await desk.click(NIA, "post.mark_posted", post) == 200
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("views.open")))
    view = desk.last_view()
    assert view["callback_id"] == "post.links"
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert inputs == ["link_facebook", "link_x"]

    refused = await desk.form(
        NIA,
        "post.links",
        view["private_metadata"],
        links(link_facebook="javascript:alert(1)", link_x="x.com/oakgreen"),
    )
    assert refused["response_action"] == "errors"
    assert set(refused["errors"]) == {"link_facebook", "link_x"}
    assert (await desk.post(post)).state == "approved"

    done = await desk.form(
        NIA,
        "post.links",
        view["private_metadata"],
        links(
            link_facebook="https://www.facebook.com/oakgreen/posts/123",
            link_x="https://x.com/oakgreen/status/456",
        ),
    )
    assert done == {"response_action": "clear"}
    assert (await desk.post(post)).state == "posted"
    assert [(link.account, link.url) for link in await desk.bot.rows(PostLink)] == [
        ("Facebook", "https://www.facebook.com/oakgreen/posts/123"),
        ("X", "https://x.com/oakgreen/status/456"),
    ]
    await desk.settled()
    for manager in (SAM, NIA):
        card = desk.card(manager, post)
        assert buttons(card) == []
        assert "Posted by <@U0NETDEP>" in json.dumps(card["blocks"])
        assert "https://x.com/oakgreen/status/456" in json.dumps(card["blocks"])
    assert "P-0001 is live" in desk.said_to(TEACHER)
    assert "https://www.facebook.com/oakgreen/posts/123" in desk.said_to(TEACHER)

    assert await desk.history(post) == [
        (None, "awaiting_approval", "slack:U0TEACH", 1),
        ("awaiting_approval", "approved", "sam", 1),
        ("approved", "posted", "slack:U0NETDEP", 1),
    ]
    assert await desk.actions() == ["post.submitted", "post.approved", "post.posted"]
    assert fake_slack.invalid == []


async def test_request_changes_asks_why_and_the_revision_goes_back_as_a_new_version(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    photo = fake_slack.add_file("trip.png", b"\x89PNG trip")
    post = await desk.submit(
        files=[
            {
                "id": "F0TRIP",
                "name": "trip.png",
                "mimetype": "image/png",
                "size": 9,
                "url_private_download": photo,
            }
        ]
    )
    await desk.settled()

    await desk.click(SAM, "post.request_changes", post)
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("views.open")))
    view = desk.last_view()
    assert view["callback_id"] == "post.reason"
    assert (await desk.post(post)).state == "awaiting_approval"  # nothing yet

    empty = await desk.form(SAM, "post.reason", view["private_metadata"], reason("   "))
    assert empty["response_action"] == "errors" and "reason" in empty["errors"]
    assert (await desk.post(post)).state == "awaiting_approval"

    await desk.form(SAM, "post.reason", view["private_metadata"], reason("Crop <!channel> out"))
    assert (await desk.post(post)).state == "changes_requested"
    await desk.settled()
    told = desk.said_to(TEACHER)
    assert "P-0001 needs changes" in told and "Crop &lt;!channel&gt; out" in told
    assert "<!channel>" not in told
    assert "Returned for changes by <@U0NETMGR>" in json.dumps(desk.card(NIA, post)["blocks"])

    # The teacher revises from the button: the form comes back filled in.
    await desk.click(TEACHER, "post.revise", post)
    await fake_slack.wait_for(lambda: len(fake_slack.calls_to("views.open")) == 2)
    form = desk.last_view()
    assert form["callback_id"] == "post.revision"
    by_id = {b.get("block_id"): b for b in form["blocks"]}
    assert "county maths quiz" in by_id["text"]["element"]["initial_value"]

    revised = draft_payload(TEACHER, text="Year 4 won the county maths quiz (cropped).")
    revised["view"]["callback_id"] = "post.revision"
    revised["view"]["private_metadata"] = form["private_metadata"]
    revised["view"]["state"]["values"]["keep_attachments"] = {
        "keep_attachments": {"type": "checkboxes", "selected_options": [{"value": "keep"}]}
    }
    reply = await desk.bot.submit(revised)
    assert reply.json()["response_action"] == "update"
    current = await desk.post(post)
    assert (current.state, current.version) == ("awaiting_approval", 2)
    versions = await desk.bot.rows(PostVersion)
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].text and "cropped" not in versions[0].text  # history is kept
    assert versions[1].attachment_ids == versions[0].attachment_ids  # the photo is kept

    await desk.settled()
    for manager in (SAM, NIA):
        assert buttons(desk.card(manager, post, version=2)) == [
            "post.approve",
            "post.request_changes",
            "post.reject",
        ]
        old = desk.card(manager, post, version=1)
        assert buttons(old) == [] and "Replaced by version 2" in json.dumps(old["blocks"])
        # The kept photo follows the new card as well.
        assert [content for _, content in fake_slack.shared_files(manager)] == [
            b"\x89PNG trip",
            b"\x89PNG trip",
        ]

    # A click on the old card decides nothing.
    await desk.click(NIA, "post.approve", post, version=1)
    assert (await desk.post(post)).state == "awaiting_approval"
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to(NIA)))
    assert "version 2 replaced this one" in desk.told(NIA)

    await desk.click(NIA, "post.approve", post, version=2)
    assert (await desk.post(post)).state == "approved"
    assert [h[1] for h in await desk.history(post)] == [
        "awaiting_approval",
        "changes_requested",
        "awaiting_approval",
        "approved",
    ]
    assert fake_slack.invalid == []


async def test_a_rejection_is_final_and_says_why(desk: Desk, fake_slack: FakeSlack) -> None:
    post = await desk.submit()
    await desk.click(NIA, "post.reject", post)
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("views.open")))
    view = desk.last_view()
    await desk.form(NIA, "post.reason", view["private_metadata"], reason("A pupil's name shows."))
    assert (await desk.post(post)).state == "rejected"
    await desk.settled()
    assert "A pupil's name shows." in desk.said_to(TEACHER)

    await desk.click(TEACHER, "post.revise", post)
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to(TEACHER)))
    assert "can no longer change" in desk.told(TEACHER)
    assert len(fake_slack.calls_to("views.open")) == 1  # no revision form
    await desk.click(SAM, "post.approve", post)
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to(SAM)))
    assert "already rejected" in desk.told(SAM) and "<@U0NETDEP>" in desk.told(SAM)
    assert (await desk.post(post)).state == "rejected"


async def test_only_an_approver_decides_and_nobody_decides_on_their_own_draft(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    post = await desk.submit()
    for outsider in (TEACHER, "U0DSL", CO_HEADS[0]):
        for action in ("post.approve", "post.reject", "post.mark_posted"):
            assert await desk.click(outsider, action, post) == 200
    await fake_slack.wait_for(lambda: len(fake_slack.responses_to(CO_HEADS[0])) == 3)
    assert "own draft" in desk.told(TEACHER)
    assert "Only the IT Network Manager" in desk.told("U0DSL")
    assert "Only the IT Network Manager" in desk.told(CO_HEADS[0])
    assert fake_slack.calls_to("views.open") == []  # no reason form for them
    assert (await desk.post(post)).state == "awaiting_approval"
    assert await desk.actions() == ["post.submitted"]

    # A Network Manager's own draft goes to the Co-Headteachers; they decide, not Nia.
    own = await desk.submit(SAM)
    await desk.click(SAM, "post.approve", own)
    await desk.click(NIA, "post.approve", own)
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to(NIA)))
    assert "own draft" in desk.told(SAM) and "Only the Co-Headteachers" in desk.told(NIA)
    assert (await desk.post(own)).state == "awaiting_approval"
    await desk.click(CO_HEADS[1], "post.approve", own)
    assert (await desk.post(own)).state == "approved"
    assert fake_slack.invalid == []


async def test_the_role_is_checked_when_the_button_is_clicked(
    start_bot: BotFactory, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    first = await start_bot()
    desk = Desk(first, fake_slack)
    post = await desk.submit()
    await desk.settled()
    assert desk.card(NIA, post)  # Nia has the card with its buttons
    await first.stop()

    # Nia leaves the role; the card she was sent still has its buttons.
    config = (FIXTURES / "school.yaml").read_text()
    moved = tmp_path / "school.yaml"
    moved.write_text(
        config.replace(
            "{name: Nia Deputy, roles: [network_manager], slack: U0NETDEP}",
            "{name: Nia Deputy, roles: [], slack: U0NETDEP}",
        )
    )
    later = Desk(await start_bot(config_path=moved), fake_slack)
    await later.click(NIA, "post.approve", post)
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to(NIA)))
    assert "Only the IT Network Manager" in later.told(NIA)
    assert (await later.post(post)).state == "awaiting_approval"


async def test_a_double_click_and_a_slack_retry_make_one_decision(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    post = await desk.submit()
    await desk.click(SAM, "post.approve", post)
    await desk.click(SAM, "post.approve", post)
    await desk.click(SAM, "post.approve", post, extra_headers={"X-Slack-Retry-Num": "1"})
    assert [h[1] for h in await desk.history(post)] == ["awaiting_approval", "approved"]
    assert await desk.actions() == ["post.submitted", "post.approved"]
    await desk.settled()
    # The second click is told it was already done; the retry's first delivery had answered.
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to(SAM)))
    await asyncio.sleep(0.1)
    (answer,) = fake_slack.responses_to(SAM)
    assert "already approved" in json.dumps(answer) and answer["response_type"] == "ephemeral"
    assert "P-0001 is approved" in desk.said_to(TEACHER)
    assert len(fake_slack.messages_to(TEACHER)) == 2, desk.said_to(TEACHER)  # receipt, decision


async def test_a_storm_of_clicks_makes_one_decision_and_every_ack_is_quick(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    post = await desk.submit()
    clickers = [SAM, NIA] * 15
    actions = ["post.approve"] * 20 + ["post.request_changes", "post.reject"] * 5
    statuses = await asyncio.gather(
        *(desk.click(user, action, post) for user, action in zip(clickers, actions, strict=True))
    )
    assert set(statuses) == {200}  # and each inside 3 s (Desk.click)
    decisions = [h for h in await desk.history(post) if h[0] is not None]
    assert len(decisions) == 1 and decisions[0][1] == "approved"
    assert (await desk.actions()).count("post.approved") == 1
    await desk.settled()
    winner = decisions[0][2]
    for manager in (SAM, NIA):
        assert "Approved by" in json.dumps(desk.card(manager, post)["blocks"])
    # Every losing approve click was told who decided, and when.
    winner_id = SAM if winner == "sam" else NIA
    answers = fake_slack.responses_to(SAM)
    assert answers and all(f"<@{winner_id}>" in json.dumps(r) for r in answers), answers


@pytest.mark.postgres_only
async def test_two_approvers_clicking_at_the_same_moment_on_postgresql(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    for _ in range(8):
        post = await desk.submit()
        await asyncio.gather(
            desk.click(SAM, "post.approve", post), desk.click(NIA, "post.approve", post)
        )
        decisions = [h for h in await desk.history(post) if h[0] is not None]
        assert len(decisions) == 1, decisions
    assert (await desk.actions()).count("post.approved") == 8


async def test_the_submitter_can_withdraw_until_it_is_posted(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    waiting = await desk.submit()
    await desk.click(SAM, "post.withdraw", waiting)  # not Sam's to withdraw
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to(SAM)))
    assert "Only the person who sent" in desk.told(SAM)
    await desk.click(TEACHER, "post.withdraw", waiting)
    assert (await desk.post(waiting)).state == "withdrawn"
    await desk.settled()
    assert "Withdrawn by <@U0TEACH>" in json.dumps(desk.card(NIA, waiting)["blocks"])
    assert buttons(desk.card(NIA, waiting)) == []
    await desk.click(NIA, "post.approve", waiting)
    assert (await desk.post(waiting)).state == "withdrawn"

    # Withdrawn after approval: whoever posts is told not to, beyond the card.
    approved = await desk.submit()
    await desk.click(SAM, "post.approve", approved)
    await desk.click(TEACHER, "post.withdraw", approved)
    assert (await desk.post(approved)).state == "withdrawn"
    await desk.settled()
    for manager in (SAM, NIA):
        assert "P-0002 was withdrawn: do not post it" in desk.said_to(manager)

    posted = await desk.submit(accounts=("X",))
    await desk.click(SAM, "post.approve", posted)
    await desk.form(
        SAM, "post.links", f"{posted.id}:1", links(link_x="https://x.com/oakgreen/status/1")
    )
    await desk.click(TEACHER, "post.withdraw", posted)
    assert (await desk.post(posted)).state == "posted"


async def test_a_card_not_yet_delivered_goes_out_showing_the_decision(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    # Nia's card cannot be delivered for a while; Sam decides meanwhile.
    fake_slack.fail_next("conversations.open", *[Fault(status=503, only_when={"users": NIA})] * 3)
    post = await desk.submit()
    await desk.click(SAM, "post.approve", post)
    await desk.settled()
    card = desk.card(NIA, post)
    assert buttons(card) == ["post.mark_posted"]
    assert "Approved by <@U0NETMGR>" in json.dumps(card["blocks"])
    assert fake_slack.invalid == []


async def test_a_failed_card_update_is_retried_until_it_lands(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    post = await desk.submit()
    await desk.settled()
    fake_slack.fail_next(
        "chat.update", Fault(status=500), Fault(status=429, headers={"Retry-After": "0"})
    )
    await desk.click(SAM, "post.approve", post)
    await desk.settled()
    for manager in (SAM, NIA):
        assert buttons(desk.card(manager, post)) == ["post.mark_posted"]
    assert len(fake_slack.failed) == 2


async def test_the_publishing_day_brings_a_reminder_if_it_is_not_posted(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    clock = SettableClock()
    desk = Desk(await start_bot(clock=clock), fake_slack)
    day = (clock.now() + timedelta(days=3)).date().isoformat()
    reminded = await desk.submit(wished_date=day)
    on_time = await desk.submit(wished_date=day)
    await desk.click(SAM, "post.approve", reminded)
    await desk.click(SAM, "post.approve", on_time)
    await desk.form(
        SAM,
        "post.links",
        f"{on_time.id}:1",
        links(link_facebook="https://facebook.com/p/1", link_x="https://x.com/s/1"),
    )
    timers = [i for i in await desk.bot.rows(OutboxItem) if i.kind == "timer"]
    assert len(timers) == 2 and all(t.status == "pending" for t in timers)

    clock.advance(timedelta(days=4))
    desk.bot.runtime.wake_delivery()
    await fake_slack.wait_for(
        lambda: all("meant to go out today" in desk.said_to(m) for m in (SAM, NIA)),
        what="the reminders",
    )
    for manager in (SAM, NIA):
        reminders = [
            c for c in fake_slack.messages_to(manager) if "meant to go out" in c.args["text"]
        ]
        assert [c.args["text"] for c in reminders] == ["P-0001 was meant to go out today"]

    async def timers_done() -> bool:
        return all(i.status == "sent" for i in await desk.bot.rows(OutboxItem) if i.kind == "timer")

    await eventually(timers_done, what="both timers to finish")
    assert (await desk.actions()).count("post.reminded") == 1


async def test_a_reason_sent_after_someone_else_decided_changes_nothing(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    post = await desk.submit()
    await desk.click(NIA, "post.reject", post)
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("views.open")))
    metadata = desk.last_view()["private_metadata"]
    await desk.click(SAM, "post.approve", post)  # while Nia is still writing her reason
    answer = await desk.form(NIA, "post.reason", metadata, reason("Not this one"))
    assert answer["response_action"] == "update"
    assert "already approved" in json.dumps(answer["view"])
    assert (await desk.post(post)).state == "approved"
    assert "Not this one" not in json.dumps([h for h in await desk.history(post)])

    # A forged form for a draft that does not exist, or from someone without the role.
    missing = await desk.form(NIA, "post.reason", "999:1:reject", reason("x"))
    assert "no longer exists" in json.dumps(missing)
    outsider = await desk.form("U0DSL", "post.reason", f"{post.id}:1:reject", reason("x"))
    assert "Only the IT Network Manager" in json.dumps(outsider)
    garbled = await desk.form(NIA, "post.reason", "nonsense", reason("x"))
    assert garbled["response_action"] == "errors"
    assert (await desk.post(post)).state == "approved"


async def test_a_network_managers_own_approved_draft_reaches_whoever_posts_it(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    own = await desk.submit(SAM)
    await desk.click(CO_HEADS[0], "post.approve", own)
    await desk.settled()
    # Sam posts his own draft once the Co-Headteachers approved it; Nia may post it too.
    (sam_told,) = [c for c in fake_slack.messages_to(SAM) if c.args["text"] == "P-0001: approved"]
    assert "post.mark_posted" in json.dumps(sam_told.args)
    (nia_told,) = fake_slack.messages_to(NIA)
    assert "ready to post" in nia_told.args["text"]
    await desk.click(NIA, "post.mark_posted", own)
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("views.open")))
    assert desk.last_view()["callback_id"] == "post.links"


async def test_revising_an_approved_draft_tells_whoever_posts_it(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    post = await desk.submit()
    await desk.click(SAM, "post.approve", post)
    revised = draft_payload(TEACHER, text="Year 4 won the county maths quiz!!")
    revised["view"]["callback_id"] = "post.revision"
    revised["view"]["private_metadata"] = f"{post.id}:1"
    assert (await desk.bot.submit(revised)).json()["response_action"] == "update"
    await desk.settled()
    for manager in (SAM, NIA):
        assert "changed after approval: do not post version 1" in desk.said_to(manager)
        assert buttons(desk.card(manager, post, version=1)) == []  # no Mark as posted
    await desk.click(SAM, "post.mark_posted", post, version=1)
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to(SAM)))
    assert "version 2 replaced this one" in desk.told(SAM)


async def test_a_returned_draft_reminds_its_submitter_once_even_if_the_date_moves_back(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    clock = SettableClock()
    desk = Desk(await start_bot(clock=clock), fake_slack)
    day = (clock.now() + timedelta(days=3)).date().isoformat()
    other_day = (clock.now() + timedelta(days=5)).date().isoformat()
    post = await desk.submit(wished_date=day)
    for wished in (other_day, day):  # revised to another day, then back
        revised = draft_payload(TEACHER, wished_date=wished)
        revised["view"]["callback_id"] = "post.revision"
        revised["view"]["private_metadata"] = f"{post.id}:{(await desk.post(post)).version}"
        assert (await desk.bot.submit(revised)).json()["response_action"] == "update"
    current = await desk.post(post)
    await desk.click(SAM, "post.request_changes", post, version=current.version)
    await desk.form(
        SAM, "post.reason", f"{post.id}:{current.version}:request_changes", reason("Crop it")
    )
    clock.advance(timedelta(days=4))
    desk.bot.runtime.wake_delivery()

    async def timers_done() -> bool:
        due = [i for i in await desk.bot.rows(OutboxItem) if i.kind == "timer"]
        return sum(i.status == "sent" for i in due) == 2  # the two for `day`; not yet the other

    await eventually(timers_done, what="the reminders for the day")
    await desk.settled_but_timers()
    reminders = [c for c in fake_slack.messages_to(TEACHER) if "meant to go out" in c.args["text"]]
    assert len(reminders) == 1
    assert "post.revise" in json.dumps(reminders[0].args)
    for manager in (SAM, NIA):
        assert "meant to go out" not in desk.said_to(manager)
