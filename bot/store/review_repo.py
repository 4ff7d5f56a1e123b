"""The school's review decisions (bot.core.policy_review): appended, never changed, so the
history of who decided what for which version of the policy stays."""

from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.policy_review import Decision, DecisionKind
from bot.store.models import POLICY_REVIEWS
from bot.store.signing import Signer, signed_values, unsigned


class SqlReviews:
    def __init__(self, db: AsyncConnection, sign: Signer = unsigned) -> None:
        self._db = db
        self._sign = sign

    async def add(self, decision: Decision) -> int:
        inserted = await self._db.execute(
            insert(POLICY_REVIEWS)
            .values(
                policy_version=decision.policy_version,
                topic_key=decision.topic_key,
                kind=decision.kind.value,
                passages=sorted(decision.passages),
                answer=decision.answer,
                decided_by=decision.decided_by,
                **signed_values("decided_by", self._sign(decision.decided_by)),
                decided_at=decision.decided_at,
            )
            .returning(POLICY_REVIEWS.c.id)
        )
        return int(inserted.scalar_one())

    async def all(self) -> list[Decision]:
        rows = await self._db.execute(select(POLICY_REVIEWS).order_by(POLICY_REVIEWS.c.id))
        found: list[Decision] = []
        for row in rows:
            try:
                kind = DecisionKind(row.kind)
            except ValueError:
                continue  # a kind a later version wrote: not this version's to apply
            found.append(
                Decision(
                    topic_key=row.topic_key,
                    kind=kind,
                    passages=frozenset(str(p) for p in row.passages or ()),
                    answer=row.answer,
                    policy_version=row.policy_version,
                    decided_by=row.decided_by,
                    decided_at=row.decided_at,
                )
            )
        return found

    async def stamp(self) -> tuple[int, int]:
        """How many decisions there are and the latest one's id: what a cached reviewed index
        is checked against, in one small query."""
        row = (
            await self._db.execute(
                select(func.count(POLICY_REVIEWS.c.id), func.max(POLICY_REVIEWS.c.id))
            )
        ).one()
        return int(row[0] or 0), int(row[1] or 0)
