"""Running `socialdesk` as its own process, as an operator would: the command line, and
`serve` on a free port with a clean environment."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def errors(stderr: str) -> list[str]:
    """What a command said on standard error, without the line every command starts with
    (which configuration and database it opened)."""
    return [line for line in stderr.splitlines() if not line.startswith("socialdesk: using ")]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any socialdesk, Slack or Microsoft setting, so a
    test's process sees only what the test gives it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "SOCIALDESK_", "MICROSOFT_"))
    }
    env.pop("DATABASE_URL", None)
    env.update(extra)
    return env


async def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`socialdesk ARGS` as an operator runs it, whatever its exit status."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def run_cli(env: dict[str, str], *args: str) -> str:
    """What `socialdesk ARGS` prints; it must succeed."""
    result = await cli(env, *args)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(
            result.returncode, result.args, result.stdout, result.stderr
        )
    return result.stdout


async def first_health(port: int, seconds: float = 30) -> tuple[int, dict[str, Any]]:
    """The first answer of `serve`'s /healthz on `port`, once it listens."""
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + seconds
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    return response.status, await response.json()
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def start_serve(
    cwd: Path,
    env: dict[str, str],
    *,
    stdout: int | None = asyncio.subprocess.DEVNULL,
    preexec_fn: Callable[[], Any] | None = None,
) -> asyncio.subprocess.Process:
    """`socialdesk serve` in `cwd`, this checkout's code, with `env` (see clean_env)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=stdout,
        stderr=asyncio.subprocess.STDOUT if stdout == asyncio.subprocess.PIPE else stdout,
        preexec_fn=preexec_fn,
    )
