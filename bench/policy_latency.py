"""How fast socialdesk answers a policy question over HTTP, and what reading the policy adds to
start-up.

`/policy <question>` is answered in the command's own response: the ranking, the stored
question and the rendered answer all happen before Slack gets its reply. This sends signed
`/policy` commands at a steady rate (open loop) to the real `socialdesk serve` in its own process
with a local fake Slack, the questions taken in turn from bench/questions/held-out.tsv, and
prints p50/p95/p99 latency. Start-up is timed from launching the process to its first healthy
/healthz, with and without SOCIALDESK_POLICY, three times each.

    .venv/bin/python -m bench.policy_latency [--rate 20] [--seconds 10]

PostgreSQL is measured too when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time

import aiohttp

from bench.ack_latency import (
    ROOT,
    _free_port,
    arguments,
    database,
    measured,
    serving,
    settled,
    signed,
    slack_environment,
)
from bench.policy_accuracy import read_set
from tests.fakes.slack import FakeSlack
from tests.harness import POLICY_FILE, command_body

QUESTIONS = [
    q for q, _ in read_set((ROOT / "bench" / "questions" / "held-out.tsv").read_text("utf-8"))
]


def policy_command(n: int) -> str:
    return command_body("/policy", f"U0STAFF{n % 40:02d}", QUESTIONS[n % len(QUESTIONS)])


async def start_up_seconds(env: dict[str, str]) -> float:
    port = _free_port()
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        cwd=ROOT,
        env={**env, "PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as http:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as reply:
                        if reply.status == 200:
                            return time.perf_counter() - started
                if process.returncode is not None:
                    raise RuntimeError("socialdesk serve stopped during start-up")
                await asyncio.sleep(0.01)
    finally:
        process.terminate()
        await process.wait()


async def run(rate: float, seconds: float) -> None:
    fake = await FakeSlack().start()
    base_env = slack_environment(fake, SOCIALDESK_POLICY=str(POLICY_FILE))
    print(
        f"open-loop load at {rate:g} requests/s for {seconds:g} s per line; "
        f"{os.cpu_count()} CPUs; python {sys.version.split()[0]}"
    )
    try:
        async with database("sqlite") as database_url:
            env = {**base_env, "DATABASE_URL": database_url}
            without = {k: v for k, v in env.items() if k != "SOCIALDESK_POLICY"}
            await start_up_seconds(env)  # the first start migrates the database
            bare = [await start_up_seconds(without) for _ in range(3)]
            read = [await start_up_seconds(env) for _ in range(3)]
            print(
                f"start-up to a healthy /healthz: {statistics.median(bare):.2f} s without the "
                f"policy, {statistics.median(read):.2f} s reading it (median of 3)"
            )
        kinds = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
        for kind in kinds:
            async with database(kind) as database_url:
                port = _free_port()
                env = {**base_env, "DATABASE_URL": database_url, "PORT": str(port)}
                async with serving([sys.executable, "-m", "bot", "serve"], env, port) as server:
                    figures = await measured(
                        f"socialdesk on {kind}: /policy question",
                        server,
                        "/slack/events",
                        lambda n: signed(policy_command(n)),
                        rate,
                        seconds,
                        lambda: settled(fake, 0.2),
                        accepted=lambda status, body: status == 200 and b"ephemeral" in body,
                    )
                    print(figures.line())
    finally:
        await fake.stop()


def main() -> None:
    args = arguments(__doc__ or "")
    asyncio.run(run(args.rate, args.seconds))


if __name__ == "__main__":
    main()
