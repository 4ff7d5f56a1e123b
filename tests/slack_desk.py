"""The governed test school (a chair of governors, working time that never stops) and its
people in Slack, and a desk that fills in their forms, clicks their buttons and reads back
what each of them was sent."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.store.models import OutboxItem, Report
from tests.fakes.slack import FakeSlack
from tests.harness import FIXTURES, RunningBot, eventually, validate_reply, view_payload
from tests.report_samples import report_values

GOVERNED = FIXTURES / "school-governed.yaml"
TEACHER = "U0TEACH"
SAM, NIA = "U0NETMGR", "U0NETDEP"
HEADS = ("U0COHEAD1", "U0COHEAD2")
DSL = "U0DSL"
CHAIR = "U0CHAIR"
PAT = "U0PAT"
EVERYONE = (SAM, NIA, *HEADS, DSL, CHAIR, PAT, TEACHER)


class Desk:
    def __init__(self, bot: RunningBot, slack: FakeSlack) -> None:
        self.bot = bot
        self.slack = slack

    async def form(
        self, user: str, callback_id: str, metadata: str, values: Mapping[str, Any]
    ) -> Any:
        reply = await self.bot.submit(view_payload(user, callback_id, metadata, values))
        assert reply.status == 200 and reply.elapsed < 3.0
        validate_reply(reply)
        return reply.json()

    async def report(self, user: str = TEACHER, **values: Any) -> tuple[Report, str]:
        """Make a report; the report and what the result modal says."""
        answer = await self.form(user, "report.form", "", report_values(**values))
        assert answer["response_action"] == "update", answer
        # The newest: an anonymous report's id is no sign of when it was made.
        newest = max(await self.bot.rows(Report), key=lambda r: r.created_at)
        return newest, json.dumps(answer["view"])

    async def click(self, user: str, action: str, value: str) -> None:
        reply = await self.bot.click(user, action, value, self.slack.response_url(user))
        assert reply.status == 200 and reply.elapsed < 3.0

    async def settled(self) -> None:
        async def nothing_pending() -> bool:
            return all(
                i.status != "pending" or i.kind == "timer" for i in await self.bot.rows(OutboxItem)
            )

        await eventually(nothing_pending, what="the outbox to empty")

    def said_to(self, user: str) -> str:
        return json.dumps([c.args for c in self.slack.messages_to(user)])

    def told(self, user: str) -> str:
        return json.dumps(self.slack.responses_to(user))

    def receivers(self, reference: str) -> set[str]:
        return {u for u in EVERYONE if reference in self.said_to(u) and u != TEACHER}

    def card(self, user: str, reference: str) -> dict[str, Any]:
        found = [
            shown
            for shown in self.slack.cards_of(user).values()
            if f"· {reference}" in json.dumps(shown["blocks"], ensure_ascii=False)
        ]
        assert len(found) == 1, f"{user} has {len(found)} cards for {reference}"
        return found[0]

    def last_view(self) -> dict[str, Any]:
        view = self.slack.calls_to("views.open")[-1].args["view"]
        return json.loads(view) if isinstance(view, str) else dict(view)
