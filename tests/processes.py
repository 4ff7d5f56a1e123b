"""Running `socialdesk` as its own process, as an operator would: the command line, and
`serve` on a free port with a clean environment."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


async def run_cli(env: dict[str, str], *args: str) -> str:
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


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
