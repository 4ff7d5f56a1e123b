"""The command line's delivery commands: what waits in the outbox, and who the bot can reach
in Teams."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.cli_database import existing_database
from bot.settings import Settings


async def show_outbox(settings: Settings, retry: bool) -> int:
    from bot.store.outbox import FAILED, HELD, PENDING, Outbox

    async with existing_database(settings) as engine:
        outbox = Outbox(engine)
        if retry:
            count = await outbox.requeue_failed(datetime.now(UTC))
            print(f"{count} failed item(s) queued again")
        lines = await outbox.lines([PENDING, HELD, FAILED])
    for line in lines:
        print(
            f"#{line.id} {line.kind} {line.status} {line.platform or '-'} "
            f"to={line.recipient_key or '-'} attempts={line.attempts} "
            f"next={line.next_attempt_at:%Y-%m-%d %H:%M:%S}Z {line.last_error or ''}".rstrip()
        )
    if not lines:
        print("nothing waiting")
    return 0


async def show_teams_reach(settings: Settings) -> int:
    from sqlalchemy import func, select

    from bot.config import load_config
    from bot.core.people import Platform
    from bot.store import teams as teams_store
    from bot.store.models import OUTBOX
    from bot.store.outbox import PENDING

    school = load_config(settings.config_path)
    configured = [
        (person, identity.external_id)
        for person in school.directory.people
        if (identity := person.identity_on(Platform.TEAMS)) is not None
    ]
    async with existing_database(settings) as engine, engine.connect() as db:
        reach = await teams_store.reach_of(db, (aad for _, aad in configured))
        counts = await db.execute(
            select(OUTBOX.c.address, func.count())
            .where(OUTBOX.c.platform == Platform.TEAMS.value, OUTBOX.c.status == PENDING)
            .group_by(OUTBOX.c.address)
        )
        waiting: dict[str, int] = {address: count for address, count in counts}
    if not configured:
        print("nobody in the configuration has a Teams id")
    for person, aad in configured:
        known = reach.get(aad)
        if known is None:
            state = "has not added socialdesk yet"
        elif known.unreachable_since is not None:
            state = (
                f"unreachable since {known.unreachable_since:%Y-%m-%d %H:%M}Z "
                f"({known.unreachable_reason or 'removed the app'})"
            )
        else:
            state = "reachable"
        roles = ", ".join(sorted(r.value for r in person.roles)) or "staff"
        print(f"{person.name} ({roles}) {aad}: {state}; {waiting.get(aad, 0)} message(s) waiting")
    return 0
