"""The `socialdesk` command: serve with no credentials at all, clear start-up errors, the
audit log and the outbox as an operator reads them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.store.db import head_revision
from bot.store.models import Post
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack, Fault
from tests.harness import FIXTURES, draft_payload, eventually, view_payload
from tests.processes import ROOT, clean_env, errors, first_health, free_port, run_cli, start_serve


async def test_serve_starts_on_sqlite_with_no_credentials(tmp_path: Path) -> None:
    port = free_port()
    process = await start_serve(
        tmp_path,
        clean_env(
            PORT=str(port), HOST="127.0.0.1", SOCIALDESK_CONFIG=str(FIXTURES / "school.yaml")
        ),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        status, health = await first_health(port)
        assert status == 200
        assert health == {
            "status": "ok",
            "database": "ok",
            "schema": head_revision(),
            "slack": "off",
            "teams": "local",
        }
        assert (tmp_path / "socialdesk.db").exists()
    finally:
        if process.returncode is None:
            process.terminate()
        raw, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    output = raw.decode()
    assert process.returncode == 0, output
    assert "Slack is off" in output
    assert f"listening on 127.0.0.1:{port}: POST /slack/events, POST /api/messages" in output
    assert f"configuration {FIXTURES / 'school.yaml'} (SOCIALDESK_CONFIG)" in output
    # Local mode accepts unverified requests on /api/messages: it must never pass unnoticed.
    assert "Teams is in LOCAL MODE" in output and "NOT verified" in output


def _without_slack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_a_missing_setting_stops_start_up_with_its_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    assert main(["serve"]) == 2
    assert "SLACK_SIGNING_SECRET is missing" in capsys.readouterr().err


def test_a_bad_log_level_or_database_stops_start_up_with_its_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_slack(monkeypatch)
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(FIXTURES / "school.yaml"))
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    assert main(["serve"]) == 2
    assert "LOG_LEVEL must be one of" in capsys.readouterr().err

    monkeypatch.setenv("LOG_LEVEL", "warning")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/no/such/folder/socialdesk.db")
    monkeypatch.setenv("PORT", str(free_port()))
    assert main(["serve"]) == 2
    assert "DATABASE_URL: cannot open the database" in capsys.readouterr().err


def test_reading_commands_leave_the_schema_alone(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(FIXTURES / "school.yaml"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    for command in ("audit", "outbox"):
        assert main([command]) == 2
        assert "no socialdesk database there yet" in capsys.readouterr().err
    assert main(["migrate"]) == 0
    assert main(["outbox"]) == 0
    assert "nothing waiting" in capsys.readouterr().out


def test_a_missing_configuration_file_stops_start_up(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_slack(monkeypatch)
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(tmp_path / "absent.yaml"))
    assert main(["serve"]) == 2
    assert "SOCIALDESK_CONFIG" in capsys.readouterr().err


def test_audit_of_an_empty_database_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(FIXTURES / "school.yaml"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["audit"]) == 0
    assert capsys.readouterr().out == "no audit entries\n"
    assert main(["audit", "--since", "2026-09-01"]) == 0
    assert capsys.readouterr().out == "no audit entries since 2026-09-01\n"
    # What reads the JSON lines reads none; the person at the terminal is still told.
    assert main(["audit", "--json"]) == 0
    shown = capsys.readouterr()
    assert shown.out == "" and shown.err.endswith("\nno audit entries\n")


@pytest.mark.parametrize(
    ("argv", "flag", "given"),
    [
        (["audit", "--since", "1/9/2026"], "--since", "1/9/2026"),
        (["export", "reports", "--from", "2026-13-01"], "--from", "2026-13-01"),
        (["export", "reports", "--to", "20260901"], "--to", "20260901"),
        (["export", "friend-requests", "--from", "2026-W36-1"], "--from", "2026-W36-1"),
    ],
)
def test_a_malformed_date_names_its_flag_and_the_form(
    argv: list[str],
    flag: str,
    given: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(FIXTURES / "school.yaml"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    assert main(argv) == 2
    (line,) = errors(capsys.readouterr().err)
    # A mistyped argument, not a configuration error.
    assert line == f"socialdesk: {flag} must be a date in the form YYYY-MM-DD, not {given!r}"


def test_export_refuses_from_after_to_and_takes_a_single_day(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(FIXTURES / "school.yaml"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    out = tmp_path / "reports.csv"
    refused = ["export", "reports", "--from", "2026-09-02", "--to", "2026-09-01", "--out", str(out)]
    assert main(refused) == 2
    (line,) = errors(capsys.readouterr().err)
    assert "--from 2026-09-02 is after --to 2026-09-01" in line
    assert not out.exists()
    assert main(["migrate"]) == 0
    assert main(["export", "reports", "--from", "2026-09-01", "--to", "2026-09-01"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("reference,")
    # "-" is standard output, never a file named "-" wherever the command ran.
    monkeypatch.chdir(tmp_path)
    assert main(["export", "friend-requests", "--out", "-"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("reference,")
    assert not (tmp_path / "-").exists()


async def test_audit_and_outbox_commands(
    start_bot: BotFactory, fake_slack: FakeSlack, database_url: str
) -> None:
    bot = await start_bot()
    fake_slack.fail_next(
        "conversations.open", Fault(status=200, body='{"ok": false, "error": "user_not_found"}')
    )
    await bot.submit(draft_payload("U0TEACH", text="Secret sports day plans"))

    async def one_failed() -> bool:
        from bot.store.models import OutboxItem

        return [i.status for i in await bot.rows(OutboxItem)].count("failed") == 1

    await eventually(one_failed, what="a failed delivery")
    env = clean_env(
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
        SOCIALDESK_CONFIG=str(FIXTURES / "school.yaml"),
    )

    audit = await run_cli(env, "audit")
    assert "slack:U0TEACH  post.submitted  post P-0001  version=1 attachments=0" in audit
    assert (
        await run_cli(env, "audit", "--since", "2999-01-01")
        == "no audit entries since 2999-01-01\n"
    )
    assert "Secret" not in audit
    (line,) = (await run_cli(env, "audit", "--json")).splitlines()
    assert json.loads(line)["action"] == "post.submitted"

    listing = await run_cli(env, "outbox")
    assert "failed" in listing and "user_not_found" in listing and "Secret" not in listing
    retried = await run_cli(env, "outbox", "--retry")
    assert "1 failed item(s) queued again" in retried


SAM_IDENTITIES = "Slack U0NETMGR, Teams 00000000-0000-0000-0000-00000000a001"


async def test_history_shows_every_version_step_and_link(
    start_bot: BotFactory, fake_slack: FakeSlack, database_url: str
) -> None:
    # A teacher the configuration does not name: Slack says who they are (issue 13).
    fake_slack.members["U0TEACH"] = ("Robin Teacher", "robin")
    bot = await start_bot()
    await bot.submit(draft_payload("U0TEACH", text="Sports day <b>", accounts=("X",)))
    (post,) = await bot.rows(Post)
    respond = fake_slack.response_url("sam")
    await bot.click("U0NETMGR", "post.request_changes", f"{post.id}:1", respond)
    await bot.submit(
        view_payload(
            "U0NETMGR",
            "post.reason",
            f"{post.id}:1:request_changes",
            {"reason": {"type": "plain_text_input", "value": "Say which year group"}},
        )
    )
    revised = draft_payload("U0TEACH", text="Year 5 sports day", accounts=("X",))
    revised["view"]["callback_id"] = "post.revision"
    revised["view"]["private_metadata"] = f"{post.id}:1"
    await bot.submit(revised)
    await bot.click("U0NETDEP", "post.approve", f"{post.id}:2", respond)
    await bot.submit(
        view_payload(
            "U0NETMGR",
            "post.links",
            f"{post.id}:2",
            {"link_x": {"type": "url_text_input", "value": "https://x.com/oakgreen/status/9"}},
        )
    )
    env = clean_env(
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
        SOCIALDESK_CONFIG=str(FIXTURES / "school.yaml"),
    )
    shown = await run_cli(env, "history", "p-0001")
    # Who acted, as they were then: named, with their platform identities (issue 13; this
    # printed the bare "slack:U0TEACH" before).
    assert shown.startswith(
        "P-0001: posted, version 2\nsubmitted by Robin Teacher (Slack U0TEACH)\n"
    )
    assert "  | Sports day <b>" in shown and "  | Year 5 sports day" in shown
    steps = [line.split("  ")[2:] for line in shown.splitlines() if " -> " in line]
    assert steps == [
        ["v1", "new -> awaiting_approval", "by Robin Teacher (Slack U0TEACH)"],
        ["v1", "awaiting_approval -> changes_requested", f"by Sam Network ({SAM_IDENTITIES})"],
        ["v2", "changes_requested -> awaiting_approval", "by Robin Teacher (Slack U0TEACH)"],
        ["v2", "awaiting_approval -> approved", "by Nia Deputy (Slack U0NETDEP)"],
        ["v2", "approved -> posted", f"by Sam Network ({SAM_IDENTITIES})"],
    ]
    assert "      Say which year group" in shown
    assert "  X: https://x.com/oakgreen/status/9" in shown
    assert " GMT  v1" in shown  # times in the school's zone
    as_json = json.loads(await run_cli(env, "history", "P-0001", "--json"))
    assert [s["to"] for s in as_json["steps"]][-1] == "posted"
    assert as_json["links"] == [{"account": "X", "url": "https://x.com/oakgreen/status/9"}]

    missing = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "history", "P-0404"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1 and "no draft post 'P-0404'" in missing.stderr


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    for command in ("serve", "migrate", "check-config", "audit", "history", "outbox"):
        assert command in shown


async def test_network_managers_the_bot_cannot_reach_are_named_and_their_cards_wait(
    start_bot: BotFactory,
    fake_slack: FakeSlack,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nia is only in Teams and has not added the bot.
    config = tmp_path / "school.yaml"
    config.write_text(
        (FIXTURES / "school.yaml")
        .read_text()
        .replace("slack: U0NETDEP}", "teams: 00000000-0000-0000-0000-0000000ae001}")
    )
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert await asyncio.to_thread(main, ["check-config"]) == 0
    checked = capsys.readouterr().out
    assert "Nia Deputy (network_manager) has no Slack id: they are reached in Teams" in checked

    bot = await start_bot(config_path=config)
    await bot.submit(draft_payload("U0TEACH"))
    await fake_slack.wait_for(lambda: bool(fake_slack.messages_to("U0NETMGR")))
    env = clean_env(DATABASE_URL=database_url, PYTHONPATH=str(ROOT), SOCIALDESK_CONFIG=str(config))
    listing = ""

    async def tried_in_teams() -> bool:
        nonlocal listing
        listing = await run_cli(env, "outbox")
        return "has not added socialdesk in Teams yet" in listing

    await eventually(tried_in_teams, what="the Teams card to be tried")
    (waiting,) = [line for line in listing.splitlines() if " teams " in line]
    assert waiting.split()[1:5] == [
        "message",
        "pending",
        "teams",
        "to=teams:00000000-0000-0000-0000-0000000ae001",
    ]

    reach = await run_cli(env, "teams")
    assert (
        "Nia Deputy (network_manager) 00000000-0000-0000-0000-0000000ae001: has not added "
        "socialdesk yet; 1 message(s) waiting" in reach
    )
