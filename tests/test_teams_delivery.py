"""Nothing is lost when Teams fails or cannot reach someone: 5xx, 429, network errors, a
person who has not added the bot yet, and one who blocked or removed it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.store.models import OutboxItem, TeamsConversation
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import FakeTeams, Fault, cards_in, install
from tests.harness import FIXTURES, RunningBot, draft_payload, eventually, sessions
from tests.teams_client import SAM, TEACHER, TeamsUser, draft_inputs, texts_of

NIA_TEAMS = "00000000-0000-0000-0000-0000000ae001"


def _nia_in_teams_only(folder: Path) -> Path:
    """The school with its deputy Network Manager in Teams only."""
    config = folder / "school.yaml"
    config.write_text(
        (FIXTURES / "school.yaml").read_text().replace("slack: U0NETDEP}", f"teams: {NIA_TEAMS}}}")
    )
    return config


def _approval_cards(user: TeamsUser) -> list[str]:
    return [
        texts_of(c)
        for c in user.fake.cards_to(user.aad)
        if "waiting for your approval" in c.get("fallbackText", "")
    ]


async def test_a_connector_outage_delays_the_card_and_loses_nothing(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    await sam.install()
    fake_teams.faults = [Fault(503), Fault(429, retry_after="0"), Fault(502)]
    await bot.submit(draft_payload("U0TEACH"))
    await fake_teams.wait_for(lambda: len(_approval_cards(sam)) == 1, what="the card")
    assert fake_teams.faults == []
    await eventually(lambda: _all_sent(bot), what="every outbox item sent once")
    assert len(_approval_cards(sam)) == 1


async def _all_sent(bot: RunningBot) -> bool:
    rows = await bot.rows(OutboxItem)
    return all(r.status == "sent" for r in rows)


async def test_an_answer_teams_could_not_take_is_sent_when_it_can(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    fake_teams.faults = [Fault(503)]
    reply = await teacher.say("post")
    assert reply.status == 200
    await fake_teams.wait_for(lambda: bool(teacher.messages), what="the form, from the outbox")
    assert "Send for approval" in str(teacher.last_card()[1]["actions"])


async def test_a_network_error_waits_and_a_new_service_url_is_used(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    # Teams first speaks from an address that then goes away (nothing listens on port 9);
    # the welcome waits, and goes to the address Teams uses next.
    gone = install(fake_teams, TEACHER, "Robin Teacher")
    gone["serviceUrl"] = "http://127.0.0.1:9/emea/"
    assert (await bot.teams(gone)).status == 200
    await eventually(lambda: _attempted(bot), what="a failed attempt")
    assert fake_teams.sent == []
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.say("help")
    await fake_teams.wait_for(
        lambda: any("Welcome" in (s.activity.get("summary") or "") for s in teacher.messages),
        what="the welcome",
    )


async def _attempted(bot: RunningBot) -> bool:
    return any(r.attempts > 0 for r in await bot.rows(OutboxItem))


async def test_a_card_for_someone_who_has_not_added_the_bot_waits_until_they_do(
    start_bot: BotFactory, fake_teams: FakeTeams, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    config = _nia_in_teams_only(tmp_path)
    bot = await start_bot(config_path=config)
    await bot.submit(draft_payload("U0TEACH"))
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to("U0NETMGR")), what="Sam")
    await eventually(lambda: _waiting_for(bot, NIA_TEAMS), what="Nia's card waiting")

    nia = TeamsUser(bot, fake_teams, NIA_TEAMS, "Nia Deputy")
    await nia.install()
    await fake_teams.wait_for(lambda: len(_approval_cards(nia)) == 1, what="Nia's card")


async def _waiting_for(bot: RunningBot, aad: str) -> bool:
    rows = await bot.rows(OutboxItem)
    return any(
        r.address == aad
        and r.status == "pending"
        and "not added socialdesk" in (r.last_error or "")
        for r in rows
    )


async def test_a_person_who_blocked_the_bot_gets_the_card_once_they_are_back(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    await sam.install()
    fake_teams.blocked.add(fake_teams.conversation_of(SAM))
    await bot.submit(draft_payload("U0TEACH"))
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to("U0NETMGR")), what="Slack card")

    async def marked() -> bool:
        async with sessions(bot.runtime.engine)() as session:
            row = await session.scalar(select(TeamsConversation))
            return row is not None and row.unreachable_since is not None

    await eventually(marked, what="Sam marked unreachable in Teams")
    assert _approval_cards(sam) == []

    fake_teams.blocked.clear()
    await sam.install()  # unblocking or adding the app again: Teams tells the bot
    await fake_teams.wait_for(lambda: len(_approval_cards(sam)) == 1, what="the waiting card")


async def test_after_removing_the_app_new_cards_go_where_the_person_still_has_the_bot(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    await sam.install()
    await bot.teams(install(fake_teams, SAM, "Sam Network", action="remove"))
    await bot.submit(draft_payload("U0TEACH"))
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to("U0NETMGR")), what="Slack card")
    rows = await bot.rows(OutboxItem)
    assert not any(
        r.platform == "teams" and r.address == SAM and r.kind == "message" and r.card_key
        for r in rows
    )
    assert not [c for s in sam.messages for c in cards_in(s.activity)][1:]


async def test_with_slack_off_a_person_in_both_gets_their_card_in_teams_only(
    start_bot: BotFactory, fake_teams: FakeTeams
) -> None:
    bot = await start_bot(slack=False)
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await sam.install()
    await teacher.install()
    await teacher.say("post")
    sent, form = teacher.last_card()
    await teacher.click(form, "Send for approval", draft_inputs(), reply_to=sent)
    await fake_teams.wait_for(lambda: len(_approval_cards(sam)) == 1, what="Sam's card")
    rows = await bot.rows(OutboxItem)
    assert not [r for r in rows if r.recipient_key == "sam" and r.platform == "slack"]


async def test_a_card_update_for_someone_who_blocked_the_bot_waits_for_them(
    bot: RunningBot, fake_teams: FakeTeams, fake_slack: FakeSlack
) -> None:
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    await sam.install()
    await bot.submit(draft_payload("U0TEACH"))
    await fake_teams.wait_for(lambda: len(_approval_cards(sam)) == 1, what="Sam's card")
    fake_teams.blocked.add(fake_teams.conversation_of(SAM))
    await bot.click("U0NETDEP", "post.approve", "1:1", fake_slack.response_url("nia"))

    async def update_waits() -> bool:
        rows = await bot.rows(OutboxItem)
        return any(
            r.kind == "update"
            and r.platform == "teams"
            and r.status == "pending"
            and r.attempts > 0
            for r in rows
        )

    await eventually(update_waits, what="the update waiting")
    fake_teams.blocked.clear()
    await sam.install()
    await fake_teams.wait_for(
        lambda: any("Approved by Nia Deputy" in texts_of(c) for c in fake_teams.cards_to(SAM)),
        what="Sam's card updated",
    )


async def test_with_slack_off_a_person_yet_to_add_the_app_waits_in_teams_only(
    start_bot: BotFactory, fake_teams: FakeTeams
) -> None:
    bot = await start_bot(slack=False)
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.say("post")
    sent, form = teacher.last_card()
    await teacher.click(form, "Send for approval", draft_inputs(), reply_to=sent)
    rows = await bot.rows(OutboxItem)
    assert [r.platform for r in rows if r.recipient_key == "sam"] == ["teams"]
    sam = TeamsUser(bot, fake_teams, SAM, "Sam Network")
    await sam.install()
    await fake_teams.wait_for(lambda: len(_approval_cards(sam)) == 1, what="Sam's card")


async def test_an_install_seen_by_one_instance_releases_what_another_holds(
    start_bot: BotFactory, fake_teams: FakeTeams, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    config = _nia_in_teams_only(tmp_path)
    first = await start_bot(config_path=config)
    second = await start_bot(config_path=config)
    # The first instance routes Nia's card, learning she cannot be reached yet.
    await first.submit(draft_payload("U0TEACH"))
    await eventually(lambda: _waiting_for(first, NIA_TEAMS), what="Nia's card waiting")
    # She adds the app; the second instance hears it.
    nia = TeamsUser(second, fake_teams, NIA_TEAMS, "Nia Deputy")
    await nia.install()
    await fake_teams.wait_for(lambda: len(_approval_cards(nia)) == 1, what="Nia's card")
