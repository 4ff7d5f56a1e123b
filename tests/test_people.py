"""`socialdesk people` (issue 17): the Slack workspace's members from users.list, page by page,
and the people who have added socialdesk in Teams, as the running bot recorded them; the
`people:` block it prints parses as configuration; check-config names the configured ids
neither platform knows."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.cli_people import quoted, unknown_identities
from bot.config import load_config, parse_config
from bot.core.people import Identity, Platform, Role
from bot.settings import SlackSettings
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack, Fault
from tests.fakes.teams import FakeTeams, install
from tests.harness import FIXTURES, settings_for
from tests.processes import ROOT, clean_env, cli, errors, free_port, run_cli
from tests.teams_client import SAM, TEACHER, TeamsUser

KIM = "5d1f3a2e-0000-4000-8000-0000000000a7"  # in Teams only
NIA_TEAMS = "3f1e0000-0000-4000-8000-00000000a0e1"
CHRIS_TEAMS = "3f1e0000-0000-4000-8000-00000000c0e1"
UNNAMED = "9c0ffee0-0000-4000-8000-000000000001"
ODD_NAME = 'Jo "JJ" O\'Neil: Art & Design'
# A terminal would clear the screen on reading the name as Slack gives it.
ESCAPING_NAME = "Eve\x1b[2J\nMallory"
SCHOOL = FIXTURES / "school.yaml"


def workspace(fake: FakeSlack) -> None:
    """The school's workspace: people, two bots (Slack's own is not marked is_bot), a deleted
    member, and one member whose email Slack does not give."""
    fake.add_member("USLACKBOT", "Slackbot", "Slackbot")
    fake.add_member("U0NETMGR", "Sam Network", "sam", "sam@oakgreen.example.sch.uk")
    fake.add_member("U0TEACH", "Robin Teacher", "robin", "robin@oakgreen.example.sch.uk")
    fake.add_member("B0HELPER", "Rota Helper", "rota", is_bot=True)
    fake.add_member("U0GONE", "Former Teacher", "former", "former@example.org", deleted=True)
    fake.add_member("U0ODD", ODD_NAME, "jj")
    fake.add_member("U0EVE", ESCAPING_NAME, "eve", "eve@oakgreen.example.sch.uk")
    fake.add_member("U0NETDEP", "Nia Deputy", "nia", "nia@oakgreen.example.sch.uk")
    fake.add_member("U0COHEAD1", "Chris Head", "chris", "chris@oakgreen.example.sch.uk")
    # Slack answers fewer members than asked for: two a page, so four pages.
    fake.users_page_most = 2


def slack_env(fake: FakeSlack, database_url: str, **extra: str) -> dict[str, str]:
    settings = {
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        "SOCIALDESK_CONFIG": str(SCHOOL),
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": "secret",
        "SLACK_API_URL": fake.base_url,
    }
    return clean_env(**{**settings, **extra})


def block_of(output: str) -> Any:
    """The `people:` block the command printed, read as YAML."""
    return yaml.safe_load(output[output.index("\npeople:\n") :])


async def test_people_lists_both_platforms_and_prints_a_block_that_parses(
    start_bot: BotFactory, fake_slack: FakeSlack, fake_teams: FakeTeams, database_url: str
) -> None:
    workspace(fake_slack)
    bot = await start_bot()
    # Teams tells the bot who they are when they add it; the bot keeps them.
    # Nia is configured with Slack only; Teams gives Chris's email as their name.
    for aad, name in (
        (TEACHER, "Robin Teacher"),
        (KIM, "Kim Art"),
        (SAM, "Sam Network"),
        (NIA_TEAMS, "Nia Deputy"),
        (CHRIS_TEAMS, "Chris@Oakgreen.example.sch.uk"),
    ):
        assert (await TeamsUser(bot, fake_teams, aad, name).install()).status < 300
    # users.list is Tier 2: a 429 is waited out (Retry-After), then asked again.
    fake_slack.fail_next(
        "users.list",
        Fault(
            status=429, body='{"ok": false, "error": "ratelimited"}', headers={"Retry-After": "0"}
        ),
    )

    shown = await run_cli(slack_env(fake_slack, database_url), "people")

    pages = fake_slack.calls_to("users.list")
    assert len(pages) == 5
    assert [call.method for call in fake_slack.failed] == ["users.list"]
    assert {int(page.args["limit"]) for page in pages} == {200}
    assert [bool(page.args.get("cursor")) for page in pages] == [False, True, True, True, True]
    table = shown[: shown.index("\npeople:\n")]
    assert "Slack: 6 people in the workspace (left out: 2 bot(s), 1 deleted member(s))" in table
    robin = next(line for line in table.splitlines() if "U0TEACH" in line)
    assert robin.split() == [
        "U0TEACH",
        "Robin",
        "Teacher",
        "(@robin)",
        "robin@oakgreen.example.sch.uk",
    ]
    sam = next(line for line in table.splitlines() if "U0NETMGR" in line)
    assert sam.endswith("configured as Sam Network")
    for left_out in ("USLACKBOT", "B0HELPER", "U0GONE"):
        assert left_out not in shown
    # Some members have emails, so the scope is there: nothing is said about it.
    assert "users:read.email" not in shown
    assert "Teams: 5 people have added socialdesk" in table
    assert f"{KIM}  Kim Art" in table
    assert next(line for line in table.splitlines() if SAM in line).endswith(
        "configured as Sam Network"
    )

    people = block_of(shown)["people"]
    by_name = {entry["name"]: entry for entry in people}
    # The configured people come first, as configured (roles and all), each once.
    assert [e["name"] for e in people[:6]] == [
        "Sam Network",
        "Nia Deputy",
        "Chris Head",
        "Alex Head",
        "Dana Safe",
        "Teams Only",
    ]
    assert by_name["Sam Network"] == {
        "name": "Sam Network",
        "id": "sam",
        "roles": ["network_manager"],
        "slack": "U0NETMGR",
        "teams": SAM,
    }
    # Robin is in both, with the same name: one person. Kim is in Teams only.
    assert by_name["Robin Teacher"] == {
        "name": "Robin Teacher",
        "slack": "U0TEACH",
        "teams": TEACHER,
    }
    assert by_name["Kim Art"] == {"name": "Kim Art", "teams": KIM}
    assert by_name[ODD_NAME] == {"name": ODD_NAME, "slack": "U0ODD"}
    assert by_name["Nia Deputy"]["teams"] == NIA_TEAMS
    assert by_name["Chris Head"]["teams"] == CHRIS_TEAMS
    assert f"    teams: {NIA_TEAMS}  # found: the same name or email\n" in shown
    assert by_name[ESCAPING_NAME] == {"name": ESCAPING_NAME, "slack": "U0EVE"}
    assert "\x1b" not in shown
    assert "U0EVE      Eve[2J Mallory (@eve)" in table
    assert len(people) == 10
    assert all("roles" not in entry for entry in people[6:])
    assert '  - name: "Sam Network"  # configured\n' in shown
    assert "who holds a role their roles:" in shown
    # Configured ids the platforms do not know are marked where they are pasted.
    assert "    slack: U0DSL  # check: is not known to the workspace\n" in shown
    assert "d5a1  # check: has not added socialdesk in Teams yet\n" in shown

    # Pasted into the configuration, with a role added, it is read as the bot reads it.
    by_name["Robin Teacher"]["roles"] = ["dsl"]
    school = yaml.safe_load(SCHOOL.read_text())
    school["people"] = people
    directory = parse_config(school, SCHOOL).directory
    assert directory.resolve(Identity(Platform.TEAMS, TEACHER)).roles == {Role.DSL}
    assert directory.resolve(Identity(Platform.SLACK, "U0TEACH")).name == "Robin Teacher"
    assert directory.resolve(Identity(Platform.SLACK, "U0ODD")).name == ODD_NAME

    as_json = json.loads(await run_cli(slack_env(fake_slack, database_url), "people", "--json"))
    assert as_json["slack"]["bots_left_out"] == 2
    assert as_json["slack"]["deleted_left_out"] == 1
    members = {m["id"]: m for m in as_json["slack"]["members"]}
    assert members["U0ODD"]["email"] is None
    assert members["U0NETMGR"]["configured"] == "sam"
    assert {t["id"] for t in as_json["teams"]} == {TEACHER, KIM, SAM, NIA_TEAMS, CHRIS_TEAMS}
    assert yaml.safe_load(as_json["people"])["people"] == block_of(shown)["people"]


async def test_without_slack_only_teams_is_listed_and_a_missing_email_scope_is_named(
    start_bot: BotFactory,
    fake_slack: FakeSlack,
    fake_teams: FakeTeams,
    database_url: str,
    tmp_path: Path,
) -> None:
    bot = await start_bot()
    await TeamsUser(bot, fake_teams, KIM, "Kim Art").install()
    # In local mode the Bot Framework Emulator's user id stands in for an Entra object id,
    # which the configuration would refuse; and Teams may give no name.
    emulator = install(fake_teams, "unused", "Emma Emulator")
    emulator["channelId"] = "emulator"
    emulator["from"] = {"id": "emulator-user-1", "name": "Emma Emulator"}
    nameless = install(fake_teams, UNNAMED)
    del nameless["from"]["name"]
    for activity in (emulator, nameless):
        assert (await bot.teams(activity)).status < 300
    # No configuration yet: listing people is how one is written.
    env = clean_env(
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
        SOCIALDESK_CONFIG=str(tmp_path / "socialdesk.yaml"),
    )
    shown = await run_cli(env, "people")
    assert (
        "Slack: Slack is not configured (SLACK_BOT_TOKEN is not set); listing Teams only" in shown
    )
    assert f"{KIM}  Kim Art" in shown
    listed = [line.split(maxsplit=1) for line in shown.splitlines() if line.startswith("  ")]
    assert ["emulator-user-1", "Emma Emulator"] in listed
    assert [UNNAMED, "(no name)"] in listed
    assert block_of(shown)["people"] == [{"name": "Kim Art", "teams": KIM}, {"teams": UNNAMED}]
    assert "# left out: Emma Emulator's teams id 'emulator-user-1'" in shown

    # Slack without users:read.email, and a database nobody has made yet.
    workspace(fake_slack)
    fake_slack.email_scope = False
    env = slack_env(fake_slack, f"sqlite:///{tmp_path}/absent.db")
    shown = await run_cli(env, "people")
    assert shown.count("users:read.email") == 1
    assert "no email addresses came back" in shown
    assert "@oakgreen" not in shown
    assert (
        "Teams: the database was not read (DATABASE_URL: no socialdesk database there yet" in shown
    )
    assert not (tmp_path / "absent.db").exists()


async def test_a_refused_token_or_missing_scope_is_one_line_and_exit_status_2(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    workspace(fake_slack)
    database = f"sqlite:///{tmp_path}/socialdesk.db"
    refused = await cli(slack_env(fake_slack, database, SLACK_BOT_TOKEN="xoxb-revoked"), "people")
    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = errors(refused.stderr)
    assert "SLACK_BOT_TOKEN" in line and "invalid_auth" in line and "users:read" in line

    fake_slack.fail_next(
        "users.list",
        Fault(
            status=200,
            body='{"ok": false, "error": "missing_scope", "needed": "users:read", '
            '"provided": "commands,chat:write"}',
        ),
    )
    missing = await cli(slack_env(fake_slack, database), "people")
    assert missing.returncode == 2 and missing.stdout == ""
    (line,) = errors(missing.stderr)
    assert "SLACK_BOT_TOKEN" in line and "lacks the users:read scope" in line


async def test_check_config_names_ids_the_workspace_does_not_know(
    start_bot: BotFactory,
    fake_slack: FakeSlack,
    fake_teams: FakeTeams,
    database_url: str,
    tmp_path: Path,
) -> None:
    workspace(fake_slack)
    fake_slack.add_member("U0COHEAD2", "Alex Head", "alex", deleted=True)
    bot = await start_bot()
    await TeamsUser(bot, fake_teams, SAM, "Sam Network").install()
    school = load_config(SCHOOL)
    settings = settings_for(database_url, fake_slack)

    expected = [
        "Alex Head: Slack U0COHEAD2 was deleted from the workspace",
        "Dana Safe: Slack U0DSL is not known to the workspace",
        "Teams Only: Teams 00000000-0000-0000-0000-00000000d5a1 has not added socialdesk "
        "in Teams yet",
    ]
    assert await unknown_identities(settings, school) == expected

    checked = await run_cli(slack_env(fake_slack, database_url), "check-config")
    for line in expected:
        assert f"  note: {line}\n" in checked
    assert "U0NETMGR" not in checked and SAM not in checked

    # Neither could be asked: each says so, and check-config still checks the rest.
    nowhere = SlackSettings(
        fake_slack.bot_token, "secret", None, f"http://127.0.0.1:{free_port()}/api/"
    )
    absent = settings_for(f"sqlite:///{tmp_path}/absent.db", fake_slack)
    lines = await unknown_identities(replace(absent, slack=nowhere), school)
    assert [line.split(":")[0] for line in lines] == [
        "Slack ids not checked",
        "Teams ids not checked",
    ]
    assert "SLACK_API_URL: cannot reach Slack" in lines[0]
    assert "no socialdesk database there yet" in lines[1]


def test_people_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "people" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["people", "--help"])
    shown = capsys.readouterr().out
    assert "users:read.email" in shown and "--json" in shown


def test_a_name_that_would_reorder_the_block_on_screen_is_escaped() -> None:
    name = 'Eve \u202eevil: "x"'
    written = quoted(name)
    assert "\u202e" not in written and "\\u202E" in written
    assert yaml.safe_load(written) == name
