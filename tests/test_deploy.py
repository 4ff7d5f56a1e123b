"""What a school's IT lead deploys: the database private whatever the umask, backups that
restore (SQLite by `socialdesk backup`, PostgreSQL by pg_dump and pg_restore), the systemd unit
that systemd itself accepts, and a lock file that pins every dependency with its hashes.
(deploy/nginx/socialdesk.conf is run for real by scripts/check-deploy.sh.)"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sqlalchemy.engine import make_url

from bot.store.db import make_engine
from tests.conftest import BotFactory, as_admin
from tests.fakes.slack import FakeSlack
from tests.harness import FIXTURES, RunningBot, draft_payload, settings_for
from tests.processes import ROOT, clean_env, cli, first_health, free_port, run_cli, start_serve
from tests.slack_desk import GOVERNED, Desk

UNIT = ROOT / "deploy" / "socialdesk.service"
LOCK = ROOT / "requirements.lock"
SQLITE_FILES = ("socialdesk.db", "socialdesk.db-wal", "socialdesk.db-shm")


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask, under which files are created readable by every local user."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(folder: Path) -> dict[str, str]:
    return {
        name: oct(stat.S_IMODE((folder / name).stat().st_mode)) if (folder / name).exists() else ""
        for name in SQLITE_FILES
    }


PRIVATE = dict.fromkeys(SQLITE_FILES, "0o600")


async def test_the_database_and_its_wal_and_shm_are_private_whatever_the_umask(
    tmp_path: Path, fake_slack: FakeSlack, open_umask: None
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'socialdesk.db'}"
    bot = await RunningBot(settings_for(url, fake_slack)).start()
    try:
        reply = await bot.submit(draft_payload("U0TEACH"))
        assert reply.status == 200
        assert modes(tmp_path) == PRIVATE
    finally:
        await bot.stop()


async def test_serve_writes_nothing_others_can_read(tmp_path: Path) -> None:
    port = free_port()
    process = await start_serve(
        tmp_path,
        clean_env(
            PORT=str(port), HOST="127.0.0.1", SOCIALDESK_CONFIG=str(FIXTURES / "school.yaml")
        ),
        preexec_fn=lambda: os.umask(0o022),  # the umask a login shell gives
    )
    try:
        status, _ = await first_health(port)
        assert status == 200, "serve did not start"
        assert modes(tmp_path) == PRIVATE
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=20)


async def test_a_database_left_readable_by_an_earlier_version_is_closed_up(
    tmp_path: Path, open_umask: None
) -> None:
    path = tmp_path / "socialdesk.db"
    earlier = sqlite3.connect(path)  # kept open, so that its -wal and -shm stay
    try:
        earlier.execute("PRAGMA journal_mode=WAL")
        earlier.execute("CREATE TABLE t (x)")
        earlier.commit()
        assert modes(tmp_path) == dict.fromkeys(SQLITE_FILES, "0o644")
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await engine.dispose()
        assert modes(tmp_path) == PRIVATE
    finally:
        earlier.close()


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def test_a_backup_taken_while_the_bot_runs_restores_its_reports(
    start_bot: BotFactory, fake_slack: FakeSlack, database_url: str, tmp_path: Path
) -> None:
    desk = Desk(await start_bot(config_path=GOVERNED), fake_slack)
    await desk.report(kind="disparaging", details="A parent's post about Year 6")
    env = clean_env(DATABASE_URL=database_url, PYTHONPATH=str(ROOT))
    backup = tmp_path / "backup"
    backup.mkdir()
    restored_env = dict(env, SOCIALDESK_CONFIG=str(GOVERNED))
    if database_url.startswith("sqlite"):
        out = backup / "socialdesk-backup.db"
        said = await run_cli(env, "backup", str(out))
        assert said.startswith(f"wrote {out}")
        assert oct(stat.S_IMODE(out.stat().st_mode)) == "0o600"
        # A second backup never overwrites the first.
        refused = await cli(env, "backup", str(out))
        assert refused.returncode == 2 and "already exists" in refused.stderr
        # Restored as README.md says: the copy put in place of the database.
        restore = tmp_path / "restored"
        restore.mkdir()
        shutil.copy(out, restore / "socialdesk.db")
        restored_env["DATABASE_URL"] = f"sqlite:///{restore / 'socialdesk.db'}"
        restored_name = None
    else:
        refused = await cli(env, "backup", str(backup / "x.db"))
        assert refused.returncode == 2 and "pg_dump -Fc" in refused.stderr
        if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
            pytest.skip("pg_dump and pg_restore are not installed")
        out = backup / "socialdesk.dump"
        await _run("pg_dump", "-Fc", "-f", str(out), _libpq(database_url))
        restored_name = f"socialdesk_restored_{uuid.uuid4().hex[:12]}"
        await as_admin(database_url, f'CREATE DATABASE "{restored_name}"')
        restored_url = make_url(database_url).set(database=restored_name)
        await _run("pg_restore", "--no-owner", "-d", _libpq(str(restored_url)), str(out))
        restored_env["DATABASE_URL"] = restored_url.render_as_string(hide_password=False)
    try:
        # What was reported after the backup is not in it; what was before is, whole.
        await desk.report(kind="staff_misuse", details="After the backup")
        shown = await run_cli(restored_env, "report", "R-0001")
        assert shown.startswith("R-0001: ") and "A parent's post about Year 6" in shown
        listing = await run_cli(restored_env, "reports")
        assert "R-0001" in listing and "R-0002" not in listing
        assert "R-0002" in await run_cli(dict(restored_env, DATABASE_URL=database_url), "reports")
    finally:
        if restored_name is not None:
            await as_admin(database_url, f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)')


async def test_an_export_or_backup_over_an_existing_file_is_made_private(
    start_bot: BotFactory, fake_slack: FakeSlack, database_url: str, tmp_path: Path
) -> None:
    desk = Desk(await start_bot(config_path=GOVERNED), fake_slack)
    await desk.report(kind="disparaging", details="A parent's post about Year 6")
    env = clean_env(
        DATABASE_URL=database_url, PYTHONPATH=str(ROOT), SOCIALDESK_CONFIG=str(GOVERNED)
    )
    # Files left readable by everyone (a copy made by hand, an empty file touched first).
    export, backup = tmp_path / "reports.csv", tmp_path / "backup.db"
    for made in (export, backup):
        made.touch()
        made.chmod(0o644)
    await run_cli(env, "export", "reports", "--out", str(export))
    assert "A parent's post" in export.read_text()
    assert oct(stat.S_IMODE(export.stat().st_mode)) == "0o600"
    if database_url.startswith("sqlite"):
        await run_cli(env, "backup", str(backup))
        assert backup.stat().st_size > 0
        assert oct(stat.S_IMODE(backup.stat().st_mode)) == "0o600"
    # Somewhere it cannot write: said in one line, not a traceback.
    refused = await cli(env, "export", "reports", "--out", str(tmp_path / "none" / "r.csv"))
    assert refused.returncode == 2 and "cannot write there" in refused.stderr
    assert "Traceback" not in refused.stderr


async def _run(*command: str) -> None:
    await asyncio.to_thread(subprocess.run, command, check=True, timeout=60)


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_systemd_unit_runs_the_bot_as_its_own_user_with_private_state() -> None:
    unit = _unit_settings()
    assert unit["User"] == ["socialdesk"] and unit["Group"] == ["socialdesk"]
    assert unit["StateDirectory"] == ["socialdesk"] and unit["StateDirectoryMode"] == ["0700"]
    assert unit["UMask"] == ["0077"]
    environment = dict(e.split("=", 1) for e in unit["Environment"])
    assert environment["DATABASE_URL"] == "sqlite:////var/lib/socialdesk/socialdesk.db"
    assert environment["HOST"] == "127.0.0.1"  # only the reverse proxy reaches it
    assert unit["EnvironmentFile"] == ["/etc/socialdesk/socialdesk.env"]
    assert unit["ExecStart"] == ["/opt/socialdesk/.venv/bin/socialdesk serve"]
    assert unit["Restart"] == ["on-failure"]
    for hardening in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert unit[hardening] == ["yes"], hardening
    assert unit["ProtectSystem"] == ["strict"]


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # systemd-analyze verify refuses a unit whose program does not exist. /opt/socialdesk is
    # where the README installs socialdesk; here, the same command is this checkout's.
    here = Path(sys.executable).with_name("socialdesk")
    assert here.exists(), "scripts/venv.sh installs the socialdesk command into .venv"
    text = UNIT.read_text()
    assert text.count("/opt/socialdesk/.venv/bin/socialdesk") == 1
    unit = tmp_path / "socialdesk.service"
    unit.write_text(text.replace("/opt/socialdesk/.venv/bin/socialdesk", str(here)))
    verified = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr
    # systemd's own rating of the sandbox: 0 is fully locked down, 10 not at all ("UNSAFE").
    security = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for socialdesk.service: ([\d.]+)", security.stdout)
    assert security.returncode == 0 and found, security.stdout[-2000:]
    assert float(found.group(1)) <= 2.0


def _lock() -> dict[str, tuple[str, list[str]]]:
    """Each locked package: its version and its hashes."""
    locked: dict[str, tuple[str, list[str]]] = {}
    text = LOCK.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        found = re.match(r"([A-Za-z0-9._-]+)==(\S+)\s*(.*)", line)
        assert found, f"not pinned: {line[:80]}"
        name, version, rest = found.groups()
        locked[canonicalize_name(name)] = (
            version,
            re.findall(r"--hash=(sha256:[0-9a-f]{64})", rest),
        )
    return locked


def test_the_lock_pins_every_dependency_with_its_hashes() -> None:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"], "setuptools>=68"]
    locked = _lock()
    assert all(hashes for _, hashes in locked.values())
    for line in wanted:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements.lock: run bash scripts/lock.sh"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock has {name} {version}, pyproject.toml wants {requirement}: "
            "run bash scripts/lock.sh"
        )
    # And what is installed here is what the lock says (scripts/venv.sh installs from it).
    from importlib.metadata import version as installed

    for name, (version, _) in locked.items():
        assert installed(name) == version, name


ADMIN = ROOT / "deploy" / "socialdesk-admin"


def test_the_admin_wrapper_runs_commands_with_the_units_settings() -> None:
    unit = dict(e.split("=", 1) for e in _unit_settings()["Environment"])
    wrapper = ADMIN.read_text()
    state = "/var/lib/socialdesk"
    assert f'state="${{SOCIALDESK_STATE:-{state}}}"' in wrapper
    assert unit["DATABASE_URL"] == f"sqlite:///{state}/socialdesk.db"
    assert 'export DATABASE_URL="sqlite:///$state/socialdesk.db"' in wrapper
    assert f"export SOCIALDESK_CONFIG={unit['SOCIALDESK_CONFIG']}\n" in wrapper
    assert _unit_settings()["EnvironmentFile"] == [
        re.findall(r'env_file="\$\{SOCIALDESK_ENV_FILE:-(.*)\}"', wrapper)[0]
    ]


async def test_the_admin_wrapper_reads_the_secrets_and_writes_as_the_service_user(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("the admin wrapper switches user with runuser, as root")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    env_file = tmp_path / "socialdesk.env"
    env_file.write_text(
        f"SOCIALDESK_CONFIG={FIXTURES / 'school.yaml'}\n"
        "SLACK_BOT_TOKEN=xoxb-from-the-env-file\nSLACK_SIGNING_SECRET=secret\n"
    )
    env_file.chmod(0o600)
    env = clean_env(
        SOCIALDESK_HOME=str(ROOT),
        SOCIALDESK_USER="root",
        SOCIALDESK_STATE=str(state),
        SOCIALDESK_ENV_FILE=str(env_file),
    )

    async def admin(*args: str) -> str:
        done = await asyncio.to_thread(
            subprocess.run, [str(ADMIN), *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "Slack: on" in await admin("check-config")
    assert "database schema at revision" in await admin("migrate")
    assert "nothing waiting" in await admin("outbox")
    assert modes(state)["socialdesk.db"] == "0o600"
