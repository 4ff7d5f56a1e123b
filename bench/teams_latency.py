"""How fast socialdesk answers Teams: latency of `post` in the chat, a draft submitted from
its card, an Approve click and a policy question, on POST /api/messages.

Runs the real `socialdesk serve` in its own process with a registered app id, so every
request's token is verified (RS256, keys from a local issuer), against a local fake Bot
Connector. Requests leave at a steady rate whatever the answers do (open loop). `post` is
answered in the same request by a message sent to the connector; a submission's answer (the
invoke response) includes its database write; an Approve click's includes the decision and
the updated card for the clicker. A policy question (taken in turn from
bench/questions/held-out.tsv) is answered in the same request, like `post`.

    .venv/bin/python -m bench.teams_latency [--rate 50] [--seconds 10]

PostgreSQL is measured too when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.ack_latency import (
    ROOT,
    WARM_UP,
    Request,
    Server,
    _free_port,
    arguments,
    database,
    measured,
    serving,
)
from bench.policy_latency import QUESTIONS
from tests.fakes.teams import APP_ID, APP_PASSWORD, TENANT, FakeTeams, card_action, install, message
from tests.harness import POLICY_FILE
from tests.teams_client import SAM, draft_inputs

Activity = dict[str, Any]
NIA = "00000000-0000-0000-0000-0000000ae001"
# A school on Teams alone: everyone who decides is reached there.
SCHOOL = f"""
school: {{name: Oakgreen School, timezone: Europe/London}}
accounts: [Facebook, Instagram, X, LinkedIn, {{name: School website, max_chars: 5000}}]
people:
  - {{name: Sam Network, roles: [network_manager], teams: {SAM}}}
  - {{name: Nia Deputy, roles: [network_manager], teams: {NIA}}}
  - {{name: Chris Head, roles: [co_head], teams: 00000000-0000-0000-0000-0000000c0001}}
  - {{name: Alex Head, roles: [co_head], teams: 00000000-0000-0000-0000-0000000c0002}}
"""


def teacher(n: int) -> str:
    return f"7b2a0c55-0000-4000-8000-{n % 40:012d}"


def submission(fake: FakeTeams) -> Callable[[int], Activity]:
    def make(n: int) -> Activity:
        data = {"sd_form": "post.draft", "sd_context": "", "sd_form_key": f"bench-{n}"}
        return card_action(fake, teacher(n), "socialdesk.form", {**data, **draft_inputs()})

    return make


def approve(fake: FakeTeams, drafts: int) -> Callable[[int], Activity]:
    """Sam clicks Approve on draft n+1's card (the warm-up's clicks take the last drafts)."""

    def make(n: int) -> Activity:
        post_id = n + 1 if n >= 0 else drafts + n + 1
        reference = f"P-{post_id:04d}"
        card_id = next(
            (s.activity_id for s in fake.to(SAM) if reference in str(s.activity.get("summary"))),
            None,
        )
        return card_action(fake, SAM, "post.approve", {"sd_value": f"{post_id}:1"}, card_id)

    return make


async def run(rate: float, seconds: float) -> None:
    fake = await FakeTeams(validate=False).start()
    token = fake.token(expires_in=3600)
    folder = tempfile.TemporaryDirectory()
    config = Path(folder.name) / "school.yaml"
    config.write_text(SCHOOL)
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "SOCIALDESK_", "MICROSOFT_"))
        },
        "MICROSOFT_APP_ID": APP_ID,
        "MICROSOFT_APP_PASSWORD": APP_PASSWORD,
        "MICROSOFT_APP_TENANT_ID": TENANT,
        "MICROSOFT_OPENID_METADATA_URL": fake.metadata_url,
        "MICROSOFT_LOGIN_URL": fake.root,
        "SOCIALDESK_CONFIG": str(config),
        "SOCIALDESK_POLICY": str(POLICY_FILE),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    print(
        f"open-loop load at {rate:g} requests/s for {seconds:g} s per line, tokens verified; "
        f"{os.cpu_count()} CPUs; python {sys.version.split()[0]}"
    )
    drafts = int(rate * seconds) + WARM_UP
    lines: tuple[tuple[str, Callable[[int], Activity]], ...] = (
        ("`post` in the chat", lambda n: message(fake, teacher(n), "post")),
        ("draft submitted from the card", submission(fake)),
        ("Approve click", approve(fake, drafts)),
        ("policy question", lambda n: message(fake, teacher(n), QUESTIONS[n % len(QUESTIONS)])),
    )
    try:
        kinds = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
        for kind in kinds:
            async with database(kind) as database_url:
                port = _free_port()
                argv = [sys.executable, "-m", "bot", "serve"]
                run_env = {**env, "DATABASE_URL": database_url, "PORT": str(port)}
                async with serving(argv, run_env, port) as server:
                    await _install(server, token, fake)
                    for label, make in lines:
                        figures = await measured(
                            f"teams on {kind}: {label}",
                            server,
                            "/api/messages",
                            _as_request(make, token),
                            rate,
                            seconds,
                            lambda: settled(fake),
                            _answered,
                        )
                        print(figures.line())
                fake.sent.clear()
    finally:
        await fake.stop()
        folder.cleanup()


async def _install(server: Server, token: str, fake: FakeTeams) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        for aad in [SAM, NIA, *(teacher(n) for n in range(40))]:
            body = json.dumps(install(fake, aad)).encode()
            async with http.post(server.url + "/api/messages", data=body, headers=headers) as r:
                assert r.status == 200, await r.text()
    await settled(fake)


def _as_request(make: Callable[[int], Activity], token: str) -> Callable[[int], Request]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return lambda n: (json.dumps(make(n)).encode(), headers)


def _answered(status: int, body: bytes) -> bool:
    # An invoke is answered 200 even when the work failed; its note says so.
    return status == 200 and b"could not be saved" not in body


async def settled(fake: FakeTeams, quiet_for: float = 1.0) -> None:
    """Wait until the bot has stopped calling the connector for a moment."""
    while True:
        seen = len(fake.sent) + len(fake.updates)
        await asyncio.sleep(quiet_for)
        if len(fake.sent) + len(fake.updates) == seen:
            return


def main() -> None:
    args = arguments(__doc__ or "")
    asyncio.run(run(args.rate, args.seconds))


if __name__ == "__main__":
    main()
