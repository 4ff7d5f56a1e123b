"""The outbox and its workers on a real database: each item is claimed by one worker only,
and several instances of the bot sharing a database deliver every message exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import SERVICES
from bot.core.clock import SystemClock
from bot.delivery import Backoff, DeliveryWorker, retry_after_seconds
from bot.slack.transport import SlackTransport
from bot.store import outbox as outbox_rows
from bot.store.db import make_engine, migrate
from bot.store.models import CARDS, OUTBOX, OutboxItem
from bot.store.outbox import CardPlace, Claimed, Done, Outbox
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack
from tests.harness import RunningBot, draft_payload, eventually, settings_for


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    migrated = make_engine(database_url)
    await migrate(migrated)
    yield migrated
    await migrated.dispose()


async def _queue_messages(
    engine: AsyncEngine, count: int, now: datetime, card_key: str | None = None
) -> None:
    async with engine.begin() as db:
        await outbox_rows.queue(
            db,
            [
                outbox_rows.message(
                    platform="slack",
                    recipient_key=f"k{n}",
                    address=f"U0STAFF{n:02d}",
                    card_key=card_key,
                    payload={"text": "t", "blocks": []},
                    now=now,
                    revision=1 if card_key else None,
                )
                for n in range(count)
            ],
        )


def _worker(engine: AsyncEngine, fake_slack: FakeSlack, **options: Any) -> DeliveryWorker:
    client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.base_url)
    return DeliveryWorker(
        Outbox(engine),
        {"slack": SlackTransport(client, fake_slack.base_url)},
        SystemClock(),
        Backoff(base=0.05, cap=0.2),
        **options,
    )


async def _claim(
    queue: Outbox, worker: str, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """A worker's cycle with nothing finished to report: a claim alone."""
    claimed, _ = await queue.cycle(worker, now, lease, (), limit)
    return claimed


async def test_concurrent_claims_never_share_an_item_nor_exceed_their_limit(
    engine: AsyncEngine,
) -> None:
    now = datetime.now(UTC)
    await _queue_messages(engine, 40, now)
    queue = Outbox(engine)
    claims = await asyncio.gather(
        *(_claim(queue, f"w{i}", now, timedelta(minutes=1), 3) for i in range(8))
    )
    assert all(len(claim) <= 3 for claim in claims)
    ids = [item.id for claim in claims for item in claim]
    assert len(ids) == len(set(ids)) == 24
    rest = await _claim(queue, "w-last", now, timedelta(minutes=1), 100)
    assert len(rest) == 16 and not {i.id for i in rest} & set(ids)
    # A lease still running keeps the item from everyone else.
    assert await _claim(queue, "late", now, timedelta(minutes=1), 100) == []
    # Once a lease runs out the item can be claimed again (its worker died mid-send).
    later = now + timedelta(minutes=2)
    assert len(await _claim(queue, "rescuer", later, timedelta(minutes=1), 100)) == 40


async def test_two_instances_deliver_every_message_exactly_once(
    start_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    fake_slack.delay = 0.01
    first, second = await start_bot(), await start_bot()
    submissions = [
        (first if n % 2 else second).submit(draft_payload(f"U0STAFF{n:02d}")) for n in range(10)
    ]
    replies = await asyncio.gather(*submissions)
    assert all(r.json()["response_action"] == "update" for r in replies)
    for bot in (first, second):
        bot.app[SERVICES].worker.wake()

    expected = 10 * 3  # two Network Managers and the submitter, per draft
    await fake_slack.wait_for(
        lambda: len(fake_slack.calls_to("chat.postMessage")) >= expected,
        timeout=20,
        what="every message",
    )

    async def settled() -> bool:
        return {i.status for i in await first.rows(OutboxItem)} == {"sent"}

    await eventually(settled, timeout=10, what="the outbox to settle")
    await asyncio.sleep(0.3)
    per_recipient = Counter(c.args["channel"] for c in fake_slack.calls_to("chat.postMessage"))
    assert per_recipient["DU0NETMGR"] == per_recipient["DU0NETDEP"] == 10
    assert all(per_recipient[f"DU0STAFF{n:02d}"] == 1 for n in range(10))
    assert len(fake_slack.calls_to("chat.postMessage")) == expected


async def test_a_slow_slack_never_lets_another_instance_send_an_item_again(
    engine: AsyncEngine, fake_slack: FakeSlack
) -> None:
    # Leases far shorter than a whole batch's worth of slow Slack calls: a worker that
    # claimed more than it could work on at once would see its leases run out and the other
    # worker send the same messages again.
    await _queue_messages(engine, 16, datetime.now(UTC))
    fake_slack.delay = 0.15

    def worker() -> DeliveryWorker:
        return _worker(
            engine,
            fake_slack,
            lease=timedelta(seconds=1.5),
            deadline=timedelta(seconds=1),
            concurrency=2,
            idle_poll=0.05,
        )

    workers = [worker(), worker()]
    running = [asyncio.create_task(w.run_forever()) for w in workers]
    try:
        await fake_slack.wait_for(
            lambda: len(fake_slack.calls_to("chat.postMessage")) >= 16, timeout=30
        )
        await asyncio.sleep(2)  # longer than a lease: any item taken over would be sent by now
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*running)
    per_channel = Counter(c.args["channel"] for c in fake_slack.calls_to("chat.postMessage"))
    assert sorted(per_channel.values()) == [1] * 16


def test_retry_after_is_read_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("30", now) == 30.0
    assert retry_after_seconds("Sat, 28 Nov 2026 12:01:30 GMT", now) == 90.0
    assert retry_after_seconds("Sat, 28 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


async def test_a_worker_waits_quietly_while_a_slow_send_is_in_hand(
    engine: AsyncEngine, fake_slack: FakeSlack
) -> None:
    # One message, and Slack takes a second to answer: the worker must sleep meanwhile, not
    # spin on the outbox looking for work that is already in its hands.
    await _queue_messages(engine, 1, datetime.now(UTC))
    fake_slack.delay = 1.0
    worker = _worker(engine, fake_slack, idle_poll=5.0)
    running = asyncio.create_task(worker.run_forever())
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("conversations.open")))
    cpu_before = time.process_time()
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("chat.postMessage")), timeout=5)
    cpu_spent = time.process_time() - cpu_before
    worker.stop()
    await running
    # About 1.5 s of waiting on Slack; a worker polling the outbox would burn most of it.
    assert cpu_spent < 0.5, f"{cpu_spent:.2f}s of CPU while waiting"


async def _queue_cards(engine: AsyncEngine, count: int, now: datetime) -> None:
    await _queue_messages(engine, count, now, card_key="post:1:v1:approval")


async def test_finished_items_are_recorded_with_the_next_claim_and_a_late_one_is_not(
    engine: AsyncEngine,
) -> None:
    now = datetime.now(UTC)
    await _queue_cards(engine, 3, now)
    queue = Outbox(engine)
    lease = timedelta(minutes=1)
    first, second, third = await _claim(queue, "w1", now, lease, 3)
    claimed, late = await queue.cycle(
        "w1", now, lease, [Done(first, "Dk0", "17000.1"), Done(second, "Dk1", "17000.2")], 5
    )
    assert claimed == [] and late == []
    # The third item's lease runs out and another worker takes it over before w1 reports it.
    (rescued,) = await _claim(queue, "w2", now + timedelta(minutes=2), lease, 5)
    assert rescued.id == third.id
    _, late = await queue.cycle("w1", now, lease, [Done(third, "Dk2", "17000.3")], 0)
    assert [d.item.id for d in late] == [third.id]
    await queue.cycle("w2", now, lease, [Done(rescued, "Dk2", "17000.9")], 0)
    # The same copy delivered twice (queued twice, say) is recorded once, not refused.
    await _queue_cards(engine, 1, now)
    (again,) = await _claim(queue, "w1", now, lease, 5)
    assert again.recipient_key == "k0"
    await queue.cycle("w1", now, lease, [Done(again, "Dk0", "17000.4")], 0)
    async with engine.connect() as db:
        statuses = {status for (status,) in await db.execute(select(OUTBOX.c.status))}
        cards = (await db.execute(select(CARDS.c.recipient_key, CARDS.c.message_id))).all()
    assert statuses == {"sent"}
    assert sorted(cards) == [("k0", "17000.1"), ("k1", "17000.2"), ("k2", "17000.9")]


async def test_an_update_is_claimed_with_where_its_card_went_and_only_the_newest_goes(
    engine: AsyncEngine,
) -> None:
    now = datetime.now(UTC)
    await _queue_cards(engine, 1, now)
    queue = Outbox(engine)
    lease = timedelta(minutes=1)
    (card,) = await _claim(queue, "w", now, lease, 1)
    await queue.cycle("w", now, lease, [Done(card, "Dk0", "17000.1")], limit=0)
    copy = outbox_rows.CardCopy("slack", "k0", "U0STAFF00")
    key = "post:1:v1:approval"
    async with engine.begin() as db:
        # Approved, then posted: both waiting (a rate limit, say) and claimed together.
        await outbox_rows.queue(
            db,
            [
                outbox_rows.card_update(copy, key, {"text": "approved"}, 2, now),
                outbox_rows.card_update(copy, key, {"text": "posted"}, 3, now),
            ],
        )
    (newest,) = await _claim(queue, "w", now, lease, 5)
    assert (newest.payload["text"], newest.card) == ("posted", CardPlace("Dk0", "17000.1", 1))
    async with engine.connect() as db:
        older = (
            await db.execute(
                select(OUTBOX.c.status, OUTBOX.c.last_error).where(OUTBOX.c.revision == 2)
            )
        ).one()
    assert tuple(older) == ("sent", "superseded by a newer update")

    # While that one is in hand, a newer update for the same copy waits its turn, and an
    # older one is done with.
    async with engine.begin() as db:
        await outbox_rows.queue(
            db,
            [
                outbox_rows.card_update(copy, key, {"text": "older"}, 2, now),
                outbox_rows.card_update(copy, "post:1:v1:approval", {"text": "newer"}, 4, now),
            ],
        )
    assert await _claim(queue, "other", now, lease, 5) == []
    await queue.cycle("w", now, lease, [Done(newest)], limit=0)
    (waited,) = await _claim(queue, "other", now + timedelta(seconds=2), lease, 5)
    assert waited.payload["text"] == "newer" and waited.card == CardPlace("Dk0", "17000.1", 3)


async def test_an_update_claimed_before_its_card_was_recorded_still_lands(
    engine: AsyncEngine, fake_slack: FakeSlack
) -> None:
    now = datetime.now(UTC)
    await _queue_cards(engine, 1, now)
    queue = Outbox(engine)
    lease = timedelta(minutes=1)
    (card,) = await _claim(queue, "sender", now, lease, 1)  # the card is on its way, stale
    async with engine.begin() as db:
        await outbox_rows.queue(
            db,
            [
                outbox_rows.card_update(
                    outbox_rows.CardCopy("slack", "k0", "U0STAFF00"),
                    "post:1:v1:approval",
                    {"text": "approved", "blocks": []},
                    2,
                    now,
                )
            ],
        )
    worker = _worker(engine, fake_slack)
    (update,) = await _claim(queue, worker.worker_id, now, lease, 5)
    assert update.card is None  # not recorded yet when the update was claimed
    await queue.cycle("sender", now, lease, [Done(card, "DU0STAFF00", "17000.1")], limit=0)
    running = asyncio.create_task(worker.run_forever())
    try:
        await worker._handle(update)
        await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("chat.update")))
    finally:
        worker.stop()
        await running
    (call,) = fake_slack.calls_to("chat.update")
    assert (call.args["channel"], call.args["ts"], call.args["text"]) == (
        "DU0STAFF00",
        "17000.1",
        "approved",
    )
    async with engine.connect() as db:
        assert await db.scalar(select(CARDS.c.revision)) == 2


async def test_the_lease_an_instance_takes_is_the_one_configured(
    database_url: str, fake_slack: FakeSlack
) -> None:
    """An instance killed while it holds messages delays them by its lease: an operator who
    wants a killed instance's messages to go sooner says so (SOCIALDESK_DELIVERY_LEASE_SECONDS),
    and the items it claims are held for that long, no longer."""
    settings = replace(settings_for(database_url, fake_slack), delivery_lease_seconds=6)
    fake_slack.delay = 1.0  # each message stays in hand for a second
    bot = await RunningBot(settings).start()
    try:
        await bot.submit(draft_payload("U0STAFF01"))

        async def held() -> list[OutboxItem]:
            return [i for i in await bot.rows(OutboxItem) if i.claimed_until is not None]

        await eventually(lambda: _nonempty(held()), what="a message in hand")
        for item in await held():
            assert item.claimed_until is not None
            held_for = item.claimed_until - item.created_at
            assert timedelta(seconds=5) < held_for < timedelta(seconds=8), held_for
    finally:
        await bot.stop()


async def _nonempty(items: Awaitable[list[Any]]) -> bool:
    return bool(await items)
