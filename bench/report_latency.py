"""How fast socialdesk takes a concern report and an acknowledgement over HTTP.

A report is saved, routed and its cards queued before Slack gets the answer to the form (the
result modal with the reference), so that answer means the report is safe. This sends signed
submissions of the report form, each a new modal, at a steady rate (open loop) to the real
`socialdesk serve` in its own process with a local fake Slack, then Acknowledge clicks on those
reports, and prints latency (p50, p95, p99), throughput and the server's CPU time per request,
the deliveries to every recipient included.

    .venv/bin/python -m bench.report_latency [--rate 20] [--seconds 10]

PostgreSQL is measured too when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from urllib.parse import urlencode

from bench.ack_latency import (
    WARM_UP,
    _free_port,
    arguments,
    database,
    measured,
    serving,
    settled,
    signed,
    slack_environment,
)
from tests.fakes.slack import FakeSlack
from tests.harness import click_payload, view_payload
from tests.report_samples import report_values

KINDS = ("pupil_request", "disparaging", "staff_misuse", "safeguarding", "parent_request")
RECIPIENT_OF = {
    "pupil_request": "U0DSL",
    "disparaging": "U0COHEAD1",
    "staff_misuse": "U0NETMGR",
    "safeguarding": "U0DSL",
    "parent_request": "U0NETDEP",
}


def report_submission(n: int) -> str:
    kind = KINDS[n % len(KINDS)]
    payload = view_payload(
        f"U0STAFF{n % 40:02d}",
        "report.form",
        "",
        report_values(kind=kind, details=f"Report {n}: what I saw on Instagram last night."),
    )
    return urlencode({"payload": json.dumps(payload)})


def acknowledge_click(response_url: str, reports: int) -> Callable[[int], str]:
    """Acknowledges report n+1 (the warm-up's clicks take the warm-up's reports, the last ones
    made), each by someone it went to."""

    def body(n: int) -> str:
        report_id = n + 1 if n >= 0 else reports + n + 1
        user = RECIPIENT_OF[KINDS[(report_id - 1) % len(KINDS)]]
        payload = click_payload(user, "report.acknowledge", str(report_id), response_url)
        return urlencode({"payload": json.dumps(payload)})

    return body


async def run(rate: float, seconds: float) -> None:
    fake = await FakeSlack().start()
    print(
        f"open-loop load at {rate:g} requests/s for {seconds:g} s per line; "
        f"{os.cpu_count()} CPUs; python {sys.version.split()[0]}"
    )
    try:
        kinds = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
        for kind in kinds:
            async with database(kind) as database_url:
                port = _free_port()
                env = {**slack_environment(fake), "DATABASE_URL": database_url, "PORT": str(port)}
                async with serving([sys.executable, "-m", "bot", "serve"], env, port) as server:
                    submitted = await measured(
                        f"socialdesk on {kind}: report submission",
                        server,
                        "/slack/events",
                        lambda n: signed(report_submission(n)),
                        rate,
                        seconds,
                        lambda: settled(fake, 0.5),
                        accepted=lambda status, body: status == 200 and b"R-" in body,
                    )
                    print(submitted.line())
                    clicks = acknowledge_click(
                        fake.response_url("bench"), WARM_UP + int(rate * seconds)
                    )
                    clicked = await measured(
                        f"socialdesk on {kind}: Acknowledge click",
                        server,
                        "/slack/events",
                        lambda n, clicks=clicks: signed(clicks(n)),
                        rate,
                        seconds,
                        lambda: settled(fake, 0.5),
                        accepted=lambda status, body: status == 200,
                    )
                    print(clicked.line())
    finally:
        await fake.stop()


def main() -> None:
    args = arguments(__doc__ or "")
    asyncio.run(run(args.rate, args.seconds))


if __name__ == "__main__":
    main()
