"""How fast socialdesk answers Slack: ack latency of `/post`, a draft submission and a click.

Slack gives an app 3 seconds to acknowledge. This sends signed requests at a steady rate
(open loop: each request leaves on schedule whether or not the previous one has returned, as
Slack's own traffic does), to the real `socialdesk serve` in its own process, with a local fake
Slack Web API, and prints p50/p99/max ack latency and the throughput achieved. A draft
submission's ack includes its database write (post, version, history, audit, outbox rows); so
does an Approve click's (the decision, history, audit, a card update for each copy and the
submitter's message), each click deciding on a different draft made by the submission run. A
bare bolt app with no-op listeners in the same bolt mode runs in the same way beside it.

    .venv/bin/python -m bench.ack_latency [--rate 50] [--seconds 10]

PostgreSQL is measured too when TEST_DATABASE_URL is set (a fresh database is made and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import make_url

from bot.settings import normalise_database_url
from tests.conftest import as_admin
from tests.fakes.slack import FakeSlack
from tests.harness import FIXTURES, SIGNING_SECRET, click_payload, command_body, draft_payload

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Figures:
    name: str
    latencies: list[float]
    errors: int
    elapsed: float
    cpu_per_request: float | None = None

    def line(self) -> str:
        ordered = sorted(self.latencies)
        if not ordered:
            return f"{self.name:<44} no successful requests ({self.errors} errors)"

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

        rate = len(ordered) / self.elapsed
        return (
            f"{self.name:<44} n={len(ordered):>5}  p50 {pct(50):6.1f} ms  p95 {pct(95):6.1f} ms"
            f"  p99 {pct(99):6.1f} ms"
            f"  max {ordered[-1] * 1000:6.1f} ms  mean {statistics.fmean(ordered) * 1000:6.1f} ms"
            f"  {rate:6.1f} req/s  errors {self.errors}"
            + (
                f"  cpu {self.cpu_per_request * 1000:5.1f} ms/req"
                if self.cpu_per_request is not None
                else ""
            )
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """CPU time the server process has used (Linux's /proc), or None elsewhere."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def serving(argv: list[str], env: dict[str, str], port: int) -> AsyncIterator[Server]:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.post(url + "/slack/events", data=b"") as response:
                        if response.status:
                            break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"{argv} did not start")
        yield Server(url, process.pid)
    finally:
        process.terminate()
        _, stderr = await process.communicate()
        if process.returncode not in (0, -15):
            sys.stderr.write(stderr.decode()[-2000:])


def signed(body: str) -> tuple[bytes, dict[str, str]]:
    stamp = str(int(time.time()))
    return body.encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": SignatureVerifier(SIGNING_SECRET).generate_signature(
            timestamp=stamp, body=body
        ),
    }


# A request as the platform sends it: the body and its headers, for request number n.
Request = tuple[bytes, dict[str, str]]

# What the bot answers when the database did not answer in time (a form's error, a Teams
# note): an answer within the limit, but nothing done, so not counted as a success.
REFUSED = (b"could not be saved", b"could not be done", b"could not answer")


def answered(status: int, body: bytes) -> bool:
    return status == 200 and not any(words in body for words in REFUSED)


async def load(
    name: str,
    url: str,
    make_request: Callable[[int], Request],
    rate: float,
    seconds: float,
    accepted: Callable[[int, bytes], bool] = answered,
) -> Figures:
    """Open-loop load: request n leaves at n/rate seconds, whatever the answers are doing."""
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(n: int) -> None:
            nonlocal errors
            raw, headers = make_request(n)
            started = time.perf_counter()
            try:
                async with http.post(url, data=raw, headers=headers) as reply:
                    ok = accepted(reply.status, await reply.read())
            except aiohttp.ClientError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

        # A short warm-up so imports and first connections are not measured.
        await asyncio.gather(*(one(-n - 1) for n in range(WARM_UP)))
        latencies.clear()
        errors = 0
        total = int(rate * seconds)
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for n in range(total):
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - start
    return Figures(name, latencies, errors, elapsed)


async def measured(
    name: str,
    server: Server,
    path: str,
    make_request: Callable[[int], Request],
    rate: float,
    seconds: float,
    settled: Callable[[], Awaitable[None]],
    accepted: Callable[[int, bytes], bool] = answered,
) -> Figures:
    """One line of figures. The server's CPU per request counts everything a request set
    off, its deliveries included: the next line starts once `settled` says those are done."""
    cpu_before = server.cpu_seconds()
    figures = await load(name, server.url + path, make_request, rate, seconds, accepted)
    await settled()
    cpu_after = server.cpu_seconds()
    if cpu_before is not None and cpu_after is not None and figures.latencies:
        figures.cpu_per_request = (cpu_after - cpu_before) / (len(figures.latencies) + WARM_UP)
    return figures


def arguments(doc: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    return parser.parse_args()


WARM_UP = 10


def post_command(n: int) -> str:
    return command_body("/post", f"U0STAFF{n % 40:02d}")


def draft_submission(n: int) -> str:
    return urlencode({"payload": json.dumps(draft_payload(f"U0STAFF{n % 40:02d}"))})


def approve_click(response_url: str, drafts: int) -> Callable[[int], str]:
    """Clicks Approve on draft n+1 (the warm-up's clicks take the warm-up's drafts, the last
    ones made), alternating between the two Network Managers."""

    def body(n: int) -> str:
        post_id = n + 1 if n >= 0 else drafts + n + 1
        user = ("U0NETMGR", "U0NETDEP")[n % 2]
        payload = click_payload(user, "post.approve", f"{post_id}:1", response_url)
        return urlencode({"payload": json.dumps(payload)})

    return body


@contextlib.asynccontextmanager
async def database(kind: str) -> AsyncIterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite+aiosqlite:///{folder}/bench.db"
        return
    base = os.environ["TEST_DATABASE_URL"]
    name = f"socialdesk_bench_{uuid.uuid4().hex[:8]}"
    await as_admin(base, f'CREATE DATABASE "{name}"')
    try:
        url = make_url(normalise_database_url(base)).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        await as_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def slack_environment(fake: FakeSlack, **more: str) -> dict[str, str]:
    """socialdesk serve's environment for a benchmark: this one's, without any Slack or
    socialdesk settings of its own, pointed at the fake Slack and the test school."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SOCIALDESK_"))},
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.base_url,
        "SOCIALDESK_CONFIG": str(FIXTURES / "school.yaml"),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **more,
    }


async def run(rate: float, seconds: float) -> None:
    fake = await FakeSlack().start()
    base_env = slack_environment(fake)

    async def line(name: str, server: Server, body: Callable[[int], str]) -> Figures:
        refused_before = refused_clicks(fake)
        figures = await measured(
            name,
            server,
            "/slack/events",
            lambda n: signed(body(n)),
            rate,
            seconds,
            lambda: settled(fake),
        )
        # A click is acknowledged empty either way; a refusal follows on its response_url.
        figures.errors += refused_clicks(fake) - refused_before
        return figures

    print(
        f"open-loop load at {rate:g} requests/s for {seconds:g} s per line; "
        f"{os.cpu_count()} CPUs; python {sys.version.split()[0]}"
    )
    try:
        port = _free_port()
        argv = [sys.executable, str(ROOT / "bench" / "bare_bolt.py"), str(port)]
        drafts = int(rate * seconds) + WARM_UP
        bodies = (
            ("/post", post_command),
            ("draft submission", draft_submission),
            ("Approve click", approve_click(fake.response_url("bench"), drafts)),
        )
        async with serving(argv, base_env, port) as server:
            for label, body in bodies:
                print((await line(f"bare bolt, no-op listener: {label}", server, body)).line())
        kinds = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
        for kind in kinds:
            async with database(kind) as database_url:
                port = _free_port()
                env = {**base_env, "DATABASE_URL": database_url, "PORT": str(port)}
                argv = [sys.executable, "-m", "bot", "serve"]
                async with serving(argv, env, port) as server:
                    for label, body in bodies:
                        print((await line(f"socialdesk on {kind}: {label}", server, body)).line())
    finally:
        await fake.stop()


def refused_clicks(fake: FakeSlack) -> int:
    return sum(
        any(words.decode() in json.dumps(answer) for words in REFUSED)
        for answer in fake.responses_to("bench")
    )


async def settled(fake: FakeSlack, quiet_for: float = 1.0) -> None:
    """Wait until the bot has stopped calling Slack for a moment."""
    while True:
        seen = len(fake.calls)
        await asyncio.sleep(quiet_for)
        if len(fake.calls) == seen:
            return


def main() -> None:
    args = arguments(__doc__ or "")
    asyncio.run(run(args.rate, args.seconds))


if __name__ == "__main__":
    main()
