"""What `serve` checks before it listens (bot/startup.py), and `check-config`, which runs the same
checks: each failure is one line naming the setting, exit status 2, never a traceback, and
`check-config` fails exactly when `serve` would."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.fakes.slack import FakeSlack
from tests.fakes.teams import APP_ID, APP_PASSWORD, FakeTeams
from tests.harness import EXAMPLE_POLICY, FIXTURES
from tests.processes import clean_env, cli, first_health, free_port, start_serve


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A database server that takes the connection and then says nothing (a frozen host)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    defaults = {
        "SOCIALDESK_CONFIG": str(FIXTURES / "school.yaml"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'socialdesk.db'}",
        "PORT": str(free_port()),
        "HOST": "127.0.0.1",
    }
    return clean_env(**(defaults | extra))


async def _serve_exit(tmp_path: Path, env: dict[str, str]) -> tuple[int | None, str]:
    """serve's exit status and what it said, or None once it listens (it is then stopped)."""
    process = await start_serve(tmp_path, env, stdout=asyncio.subprocess.PIPE)
    try:
        try:
            await asyncio.wait_for(process.wait(), timeout=8)
        except TimeoutError:
            status, _ = await first_health(int(env["PORT"]))
            assert status == 200
            return None, ""
    finally:
        if process.returncode is None:
            process.terminate()
        raw, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    return process.returncode, raw.decode()


def _one_line_no_traceback(said: str) -> str:
    assert "Traceback" not in said, said
    (error,) = [line for line in said.splitlines() if "configuration error" in line]
    return error


def _damaged_docx(tmp_path: Path) -> dict[str, str]:
    damaged = tmp_path / "policy.docx"
    damaged.write_bytes(b"PK\x03\x04 not really a Word document")
    return {"SOCIALDESK_POLICY": str(damaged)}


def _misspelt_key(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "school.yaml"
    config.write_text((FIXTURES / "school.yaml").read_text().replace("roles:", "role:", 1))
    return {"SOCIALDESK_CONFIG": str(config)}


CASES: dict[str, tuple[Callable[[Path], dict[str, str]], str]] = {
    "an address this machine does not have": (
        lambda p: {"HOST": "192.0.2.77"},  # TEST-NET-1: nobody's address
        "HOST is not an address of this machine",
    ),
    "a damaged .docx": (_damaged_docx, "SOCIALDESK_POLICY"),
    "a missing policy": (
        lambda p: {"SOCIALDESK_POLICY": str(p / "missing.docx")},
        "SOCIALDESK_POLICY",
    ),
    "an unreachable database": (
        lambda p: {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/socialdesk"},
        "DATABASE_URL: cannot open the database",
    ),
    "a misspelt key": (_misspelt_key, "did you mean `roles`?"),
    "an in-memory database": (
        lambda p: {"DATABASE_URL": "sqlite:///:memory:"},
        "DATABASE_URL names no SQLite file",
    ),
    "a database URL with no file": (
        lambda p: {"DATABASE_URL": "sqlite:///"},
        "DATABASE_URL names no SQLite file",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_check_config_fails_exactly_where_serve_does(tmp_path: Path, case: str) -> None:
    change, named = CASES[case]
    env = _env(tmp_path, **change(tmp_path))
    checked = await cli(env, "check-config")
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert named in _one_line_no_traceback(checked.stderr)
    status, said = await _serve_exit(tmp_path, env)
    assert status == 2
    assert named in _one_line_no_traceback(said)
    # Nothing was made: check-config and a refused serve leave no database behind.
    assert not (tmp_path / "socialdesk.db").exists()


async def test_a_configuration_check_config_passes_is_one_serve_starts(tmp_path: Path) -> None:
    env = _env(tmp_path, SOCIALDESK_POLICY=str(EXAMPLE_POLICY))
    checked = await cli(env, "check-config")
    assert checked.returncode == 0, checked.stderr
    assert "policy: " in checked.stdout and "database: no SQLite file there yet" in checked.stdout
    # It changed nothing: serve makes the database, not check-config.
    assert not (tmp_path / "socialdesk.db").exists()
    status, _ = await _serve_exit(tmp_path, env)
    assert status is None
    again = await cli(env, "check-config")
    assert "up to date" in again.stdout


async def test_a_stalled_database_is_said_within_the_connect_timeout(tmp_path: Path) -> None:
    async with silent_server() as port:
        env = _env(
            tmp_path,
            DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/socialdesk",
            SOCIALDESK_DB_CONNECT_SECONDS="1",
        )
        for command in ("migrate", "check-config", "audit"):
            loop = asyncio.get_running_loop()
            began = loop.time()
            result = await cli(env, command)
            assert result.returncode == 2, command
            error = _one_line_no_traceback(result.stderr)
            assert "did not answer within 1 s (SOCIALDESK_DB_CONNECT_SECONDS)" in error
            # Not the 60 s a stalled connect took before; the rest is Python starting up.
            assert loop.time() - began < 30, command
        status, said = await _serve_exit(tmp_path, env)
        assert status == 2 and "did not answer within 1 s" in _one_line_no_traceback(said)


async def test_a_port_in_use_is_said_before_anything_starts(tmp_path: Path) -> None:
    env = _env(tmp_path)
    with socket.create_server(("127.0.0.1", int(env["PORT"]))):
        status, said = await _serve_exit(tmp_path, env)
        assert status == 2
        assert f"PORT {env['PORT']} on HOST 127.0.0.1: cannot listen" in _one_line_no_traceback(
            said
        )
        # Refused before the database was migrated.
        assert not (tmp_path / "socialdesk.db").exists()
        # check-config fails too: what holds the port is not socialdesk.
        checked = await cli(env, "check-config")
        assert checked.returncode == 2
        assert "something other than socialdesk is listening there" in _one_line_no_traceback(
            checked.stderr
        )


async def test_a_port_the_running_socialdesk_holds_is_only_noted(tmp_path: Path) -> None:
    env = _env(tmp_path)
    running = await start_serve(tmp_path, env)
    try:
        status, _ = await first_health(int(env["PORT"]))
        assert status == 200
        # The bot being checked is usually the one there: serve listens once it has stopped.
        checked = await cli(env, "check-config")
        assert checked.returncode == 0, checked.stderr
        assert "is in use now by a running socialdesk" in checked.stdout
    finally:
        running.terminate()
        await asyncio.wait_for(running.wait(), timeout=20)


async def test_tokens_slack_refuses_fail_check_config(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    slack = {
        "SLACK_SIGNING_SECRET": "secret",
        "SLACK_API_URL": fake_slack.base_url,
    }
    accepted = await cli(
        _env(tmp_path, SLACK_BOT_TOKEN=fake_slack.bot_token, **slack), "check-config"
    )
    assert accepted.returncode == 0, accepted.stderr
    assert "Slack accepted SLACK_BOT_TOKEN" in accepted.stdout
    refused = await cli(_env(tmp_path, SLACK_BOT_TOKEN="xoxb-revoked", **slack), "check-config")
    assert refused.returncode == 2
    assert "SLACK_BOT_TOKEN was refused by Slack" in _one_line_no_traceback(refused.stderr)


async def test_a_teams_secret_entra_id_refuses_fails_check_config(
    tmp_path: Path, fake_teams: FakeTeams
) -> None:
    def teams(password: str) -> dict[str, str]:
        return _env(
            tmp_path,
            MICROSOFT_APP_ID=APP_ID,
            MICROSOFT_APP_PASSWORD=password,
            MICROSOFT_APP_TENANT_ID="tenant-1",
            MICROSOFT_APP_TYPE="SingleTenant",
            MICROSOFT_LOGIN_URL=fake_teams.root,
        )

    accepted = await cli(teams(APP_PASSWORD), "check-config")
    assert accepted.returncode == 0, accepted.stderr
    assert "Entra ID accepted" in accepted.stdout
    refused = await cli(teams("expired"), "check-config")
    assert refused.returncode == 2
    assert "MICROSOFT_APP_PASSWORD (invalid_client)" in _one_line_no_traceback(refused.stderr)


async def test_check_config_leaves_the_database_file_as_it_found_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    made = await cli(env, "migrate")
    assert made.returncode == 0, made.stderr
    database = tmp_path / "socialdesk.db"
    database.chmod(0o644)
    checked = await cli(env, "check-config")
    assert checked.returncode == 0, checked.stderr
    assert database.stat().st_mode & 0o777 == 0o644
    # serve would warn of these; check-config says them too.
    assert "nobody holds the chair_of_governors role" in checked.stdout
    # A DATABASE_URL naming some other file leaves that file alone as well.
    policy = tmp_path / "policy.md"
    policy.write_text("# Policy\n\nText.\n")
    policy.chmod(0o644)
    wrong = await cli(_env(tmp_path, DATABASE_URL=f"sqlite:///{policy}"), "check-config")
    assert wrong.returncode == 2
    assert policy.stat().st_mode & 0o777 == 0o644


async def test_no_password_is_shown_wherever_the_url_holds_it(tmp_path: Path) -> None:
    for url in (
        "postgresql://postgres:S3CRET1@127.0.0.1:1/socialdesk",
        "postgresql://postgres@127.0.0.1:1/socialdesk?password=S3CRET2",
        "postgresql://postgres@127.0.0.1:1/socialdesk?sslpassword=S3CRET3&password=S3CRET4",
    ):
        result = await cli(_env(tmp_path, DATABASE_URL=url), "check-config")
        assert result.returncode == 2
        said = result.stdout + result.stderr
        assert "S3CRET" not in said, said
        assert "127.0.0.1:1/socialdesk" in said
