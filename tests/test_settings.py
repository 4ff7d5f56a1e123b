"""Settings from the environment and the school's YAML configuration: clear errors that name
the setting at fault."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import TeamsApp, load_config, parse_config, unknown_keys
from bot.core.people import Identity, Platform, Role
from bot.settings import PackageSettings, Settings, SettingsError, find_configuration
from tests.harness import FIXTURES, ROOT


def test_defaults_need_no_credentials() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///socialdesk.db"
    assert settings.port == 3978
    assert settings.config_path == Path("socialdesk.yaml")
    assert settings.slack is None
    assert settings.teams.local_mode
    assert settings.delivery_lease_seconds == 300


def test_the_delivery_lease_can_be_shortened() -> None:
    # How long an item held by an instance that died waits before another sends it.
    assert (
        Settings.from_env({"SOCIALDESK_DELIVERY_LEASE_SECONDS": "20"}).delivery_lease_seconds == 20
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_BOT_TOKEN": "xoxp-user", "SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, "SLACK_APP_TOKEN"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"SOCIALDESK_RETRY_BASE_SECONDS": "soon"}, "SOCIALDESK_RETRY_BASE_SECONDS"),
        ({"SOCIALDESK_DELIVERY_LEASE_SECONDS": "1"}, "SOCIALDESK_DELIVERY_LEASE_SECONDS"),
        ({"SOCIALDESK_DELIVERY_LEASE_SECONDS": "5 min"}, "SOCIALDESK_DELIVERY_LEASE_SECONDS"),
        ({"LIBRARY_LOG_LEVEL": "loud"}, "LIBRARY_LOG_LEVEL"),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": "ftp://x"},
            "SLACK_API_URL",
        ),
        ({"MICROSOFT_APP_PASSWORD": "p"}, "MICROSOFT_APP_ID"),
        ({"MICROSOFT_APP_ID": "a"}, "MICROSOFT_APP_PASSWORD"),
        (
            {"MICROSOFT_APP_ID": "a", "MICROSOFT_APP_PASSWORD": "p", "MICROSOFT_APP_TYPE": "Both"},
            "MICROSOFT_APP_TYPE",
        ),
        ({"MICROSOFT_APP_ID": "a", "MICROSOFT_APP_PASSWORD": "p"}, "MICROSOFT_APP_TENANT_ID"),
        (
            {
                "MICROSOFT_APP_ID": "a",
                "MICROSOFT_APP_PASSWORD": "p",
                "MICROSOFT_APP_TYPE": "UserAssignedMSI",
            },
            "MICROSOFT_APP_TYPE",
        ),
        (
            {
                "MICROSOFT_APP_ID": "a",
                "MICROSOFT_APP_PASSWORD": "p",
                "MICROSOFT_APP_TYPE": "SingleTenant",
            },
            "MICROSOFT_APP_TENANT_ID",
        ),
        ({"MICROSOFT_OPENID_METADATA_URL": "file:///keys"}, "MICROSOFT_OPENID_METADATA_URL"),
    ],
)
def test_a_bad_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_teams_registrations() -> None:
    multi = Settings.from_env(
        {"MICROSOFT_APP_ID": "a", "MICROSOFT_APP_PASSWORD": "p", "MICROSOFT_APP_TENANT_ID": "t"}
    ).teams
    assert not multi.local_mode
    assert multi.token_url == "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
    single = Settings.from_env(
        {
            "MICROSOFT_APP_ID": "a",
            "MICROSOFT_APP_PASSWORD": "p",
            "MICROSOFT_APP_TYPE": "singletenant",
            "MICROSOFT_APP_TENANT_ID": "t-1",
        }
    ).teams
    assert single.app_type == "SingleTenant"
    assert single.token_url == "https://login.microsoftonline.com/t-1/oauth2/v2.0/token"


def test_teams_local_mode_runs_only_without_slack_or_when_asked() -> None:
    slack = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    assert Settings.from_env({}).teams.local_mode
    beside_slack = Settings.from_env(slack).teams
    assert not beside_slack.local_mode and not beside_slack.enabled
    assert Settings.from_env({**slack, "SOCIALDESK_TEAMS_LOCAL": "1"}).teams.local_mode
    assert not Settings.from_env({"SOCIALDESK_TEAMS_LOCAL": "0"}).teams.enabled
    registered = {
        "MICROSOFT_APP_ID": "a",
        "MICROSOFT_APP_PASSWORD": "p",
        "MICROSOFT_APP_TENANT_ID": "t",
    }
    assert Settings.from_env({**slack, **registered}).teams.enabled
    with pytest.raises(SettingsError, match="SOCIALDESK_TEAMS_LOCAL"):
        Settings.from_env({**registered, "SOCIALDESK_TEAMS_LOCAL": "1"})
    with pytest.raises(SettingsError, match="SOCIALDESK_TEAMS_LOCAL"):
        Settings.from_env({"SOCIALDESK_TEAMS_LOCAL": "maybe"})


def test_slack_modes_and_database_urls() -> None:
    http = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    assert http.slack is not None and not http.slack.socket_mode
    assert http.slack.api_url == "https://slack.com/api/"
    socket = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    assert socket.slack is not None and socket.slack.socket_mode
    pg = Settings.from_env({"DATABASE_URL": "postgres://u:p@db/school"})
    assert pg.database_url == "postgresql+asyncpg://u:p@db/school"


def test_the_example_configuration_loads() -> None:
    school = load_config(Path(__file__).resolve().parents[1] / "socialdesk.example.yaml")
    assert school.name == "Oakgreen School"
    limits = {a.name: a.max_chars for a in school.accounts}
    assert limits == {
        "Facebook": 63206,
        "Instagram": 2200,
        "X": 280,
        "LinkedIn": 3000,
        "School website": 5000,
    }
    assert len(school.directory.holders(Role.CO_HEAD)) == 2


def test_people_are_resolved_by_identity_across_platforms() -> None:
    school = load_config(FIXTURES / "school.yaml")
    directory = school.directory
    on_slack = directory.resolve(Identity(Platform.SLACK, "U0NETMGR"))
    on_teams = directory.resolve(Identity(Platform.TEAMS, "00000000-0000-0000-0000-00000000a001"))
    assert on_slack is on_teams and on_slack.key == "sam"
    assert on_slack.holds(Role.NETWORK_MANAGER)
    stranger = directory.resolve(Identity(Platform.SLACK, "U0NOBODY"))
    assert stranger.key == "slack:U0NOBODY" and not stranger.roles


def _config(**changes: object) -> dict[str, object]:
    raw = yaml.safe_load((FIXTURES / "school.yaml").read_text())
    raw.update(changes)
    return raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "expected a mapping"),
        (_config(school={"timezone": "Europe/London"}), "school.name"),
        (_config(school={"name": "X", "timezone": "Mars/Olympus"}), "not a time zone"),
        (_config(accounts=[]), "accounts"),
        (_config(accounts=["X", "X"]), "the same account twice: X"),
        (_config(accounts=["Facebook", "facebook"]), "twice: Facebook, facebook"),
        (_config(accounts=[{"name": "X", "max_chars": -1}]), "max_chars"),
        (_config(people=[{"name": "A", "roles": ["headteacher"], "slack": "U1"}]), "unknown role"),
        (_config(people=[{"name": "A", "slack": "sam"}]), "not a Slack user id"),
        (_config(people=[{"name": "A", "teams": "not-a-guid"}]), "AAD object id"),
        (_config(people=[{"name": "A"}]), "needs a slack or teams id"),
        (
            _config(people=[{"name": "A", "roles": ["co_head"], "slack": "U0A"}]),
            "network_manager",
        ),
        (
            _config(
                people=[
                    {"id": "a", "roles": ["network_manager"], "slack": "U0A"},
                    {"id": "b", "roles": ["co_head"], "slack": "U0A"},
                ]
            ),
            "more than one person",
        ),
    ],
)
def test_a_bad_configuration_is_refused_with_the_entry_named(raw: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_config(raw, Path("socialdesk.yaml"))


def test_teams_app_gives_the_packages_pages_and_version() -> None:
    pages = {
        "website": "https://www.oakgreen.sch.uk/socialdesk",
        "privacy": "https://www.oakgreen.sch.uk/privacy",
        "terms": "https://www.oakgreen.sch.uk/terms",
    }
    # Unquoted in the YAML, 1.0.3 is read as text and keeps its exact spelling.
    written = yaml.safe_load("teams_app: {version: 1.0.3}")["teams_app"]
    school = parse_config(_config(teams_app={**pages, **written}), Path("s.yaml"))
    assert school.teams_app == TeamsApp(**pages, version="1.0.3")
    # Optional, and each of its keys too: what is left out keeps the manifest's own.
    assert parse_config(_config(), Path("s.yaml")).teams_app == TeamsApp()
    only = parse_config(_config(teams_app={"version": "2.10.0"}), Path("s.yaml"))
    assert only.teams_app == TeamsApp(version="2.10.0")
    assert load_config(Path(__file__).resolve().parents[1] / "socialdesk.example.yaml").teams_app


@pytest.mark.parametrize(
    ("teams_app", "message"),
    [
        ("https://www.oakgreen.sch.uk", "s.yaml: teams_app must be a mapping of website, privacy"),
        (
            {"site": "https://a.sch.uk"},
            "s.yaml: `teams_app.site` is not a setting socialdesk knows: did you mean `website`?",
        ),
        ({"website": "http://a.sch.uk"}, "s.yaml: teams_app.website must be an https:// address"),
        ({"privacy": "www.a.sch.uk/p"}, "teams_app.privacy must be an https:// address"),
        ({"terms": "https://"}, "teams_app.terms must be an https:// address"),
        ({"terms": "https://a.sch.uk/our terms"}, "teams_app.terms must be an https:// address"),
        ({"version": 1.0}, "teams_app.version must be a version of three whole numbers"),
        ({"version": "1.0.3-beta"}, "teams_app.version must be a version"),
        ({"version": "01.0.3"}, "teams_app.version must be a version"),
        ({"version": 2}, "teams_app.version must be a version"),
    ],
)
def test_a_bad_teams_app_is_refused_naming_its_key(teams_app: object, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        parse_config(_config(teams_app=teams_app), Path("s.yaml"))
    assert message in str(refused.value)


def test_the_teams_package_reads_only_the_app_id_and_where_the_configuration_is() -> None:
    # Not the secret or tenant: serve's Settings refuses an app id without them.
    app_id = "5d3f2e9a-1b2c-4d5e-8f90-123456789abc"
    assert PackageSettings.from_env({"MICROSOFT_APP_ID": app_id}) == PackageSettings(
        app_id, Path("socialdesk.yaml"), config_named=False
    )
    with pytest.raises(SettingsError, match="MICROSOFT_APP_PASSWORD is missing"):
        Settings.from_env({"MICROSOFT_APP_ID": app_id})
    named = PackageSettings.from_env({"SOCIALDESK_CONFIG": "/etc/socialdesk.yaml"})
    assert named == PackageSettings(None, Path("/etc/socialdesk.yaml"), config_named=True)


def test_a_missing_configuration_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SOCIALDESK_CONFIG"):
        load_config(tmp_path / "nowhere.yaml")


def test_a_malformed_database_url_is_named_without_its_password() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"DATABASE_URL": "postgresql:/postgres:s3cret@127.0.0.1/postgres"})
    assert "DATABASE_URL" in str(refused.value) and "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            lambda raw: raw["people"][2].update(role=raw["people"][2].pop("roles")),
            "`people[2].role` is not a setting socialdesk knows: did you mean `roles`?",
        ),
        (
            lambda raw: raw["school"].update(timzone="Europe/London"),
            "`school.timzone` is not a setting socialdesk knows: did you mean `timezone`?",
        ),
        (
            lambda raw: raw.update(repots={"working_hours": "08:00-17:00"}),
            "`repots` is not a setting socialdesk knows: did you mean `reports`?",
        ),
        (
            lambda raw: raw.update(reports={"term_date": []}),
            "`reports.term_date` is not a setting socialdesk knows: did you mean `term_dates`?",
        ),
        (
            lambda raw: raw.update(reports={"term_dates": [{"from": "2026-09-01", "untill": "x"}]}),
            "`reports.term_dates[0].untill`",
        ),
        (
            lambda raw: raw.update(accounts=[{"name": "X", "max_char": 10}]),
            "did you mean `max_chars`?",
        ),
        (lambda raw: raw.update(xyzzy=1), "known here: school, policy, accounts, people"),
    ],
)
def test_an_unknown_key_is_refused_with_its_path_and_the_nearest_known_key(
    change: Any, said: str
) -> None:
    raw = _config()
    change(raw)
    with pytest.raises(SettingsError) as refused:
        parse_config(raw, Path("socialdesk.yaml"))
    assert said in str(refused.value)


def test_every_key_of_the_example_is_known() -> None:
    raw = yaml.safe_load((ROOT / "socialdesk.example.yaml").read_text())
    assert unknown_keys(raw) == []
    raw["teams_app"] = {"website": "https://x", "privacy": "p", "terms": "t", "version": "1"}
    assert unknown_keys(raw) == []


def test_roles_given_as_one_word_are_that_role() -> None:
    raw = _config()
    raw["people"][0]["roles"] = "network_manager"
    directory = parse_config(raw, Path("socialdesk.yaml")).directory
    assert directory.holders(Role.NETWORK_MANAGER)


def test_a_file_in_another_encoding_is_named_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "socialdesk.yaml"
    text = (FIXTURES / "school.yaml").read_text().replace("name:", "name: Siân", 1)
    config.write_bytes(text.encode("cp1252"))
    with pytest.raises(SettingsError, match=r"line \d+ is not UTF-8 text .*save the file as UTF-8"):
        load_config(config)


@pytest.mark.parametrize(
    "url",
    ["sqlite:///", "sqlite:///:memory:", "postgresql://u:s3cret@host:port/db", "sqlite://"],
)
def test_a_database_url_that_cannot_work_is_named(url: str) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL") as refused:
        Settings.from_env({"DATABASE_URL": url})
    assert "s3cret" not in str(refused.value)


def test_the_configuration_is_found_as_serve_sh_finds_it(tmp_path: Path) -> None:
    example = tmp_path / "socialdesk.example.yaml"
    example.write_text("{}")
    here = Path.cwd()
    try:
        os.chdir(tmp_path)
        # No socialdesk.yaml and no credentials: a trial, on the example school.
        found = find_configuration(Settings.from_env({}), example)
        assert (found.config_path, found.config_origin) == (example, "example")
        # A bot given credentials never starts as the example school.
        slack = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
        found = find_configuration(Settings.from_env(slack), example)
        assert found.config_path == Path("socialdesk.yaml")
        (tmp_path / "socialdesk.yaml").write_text("{}")
        found = find_configuration(Settings.from_env({}), example)
        assert (found.config_path, found.config_origin) == (
            Path("socialdesk.yaml"),
            "the current folder",
        )
        named = find_configuration(Settings.from_env({"SOCIALDESK_CONFIG": "x.yaml"}), example)
        assert (named.config_path, named.config_origin) == (Path("x.yaml"), "SOCIALDESK_CONFIG")
    finally:
        os.chdir(here)


@pytest.mark.parametrize(
    ("appended", "said"),
    [
        # A people: block pasted below the first would otherwise drop every role above it.
        ("people:\n  - {name: Mallory, slack: U0MAL}\n", "'people' is given twice"),
        ("reports: {bank_holidays: [2026-13-25]}\n", "'2026-13-25' is not a real date"),
        ("reports: {term_dates: [{from: 2026-09-31, to: 2026-10-20}]}\n", "is not a real date"),
        ("accounts: &shared [Facebook]\nmore: *shared\n", "an alias (*name) is not taken here"),
    ],
)
def test_yaml_that_would_be_read_wrongly_is_refused_in_one_line(
    tmp_path: Path, appended: str, said: str
) -> None:
    config = tmp_path / "socialdesk.yaml"
    base = (FIXTURES / "school.yaml").read_text()
    if appended.startswith("accounts:"):
        base = base.replace("accounts:", "old_accounts:", 1)
    config.write_text(base + appended)
    with pytest.raises(SettingsError) as refused:
        load_config(config)
    assert said in str(refused.value)
    assert "\n" not in str(refused.value) and "line " in str(refused.value)


@pytest.mark.parametrize("roles", [True, 1, {"dsl": False}])
def test_roles_that_are_not_a_list_of_names_are_refused(roles: object) -> None:
    raw = _config()
    raw["people"][0]["roles"] = roles
    with pytest.raises(SettingsError, match="roles must list role names"):
        parse_config(raw, Path("socialdesk.yaml"))


def test_a_file_nested_beyond_reason_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "socialdesk.yaml"
    config.write_text("school: {name: " + "[" * 20000 + "]" * 20000 + "}\n")
    with pytest.raises(SettingsError, match="nested too deeply"):
        load_config(config)


@pytest.mark.parametrize("day", ["monkey", "Saturnalia", "thumb"])
def test_a_working_day_must_be_a_day(day: str) -> None:
    raw = _config(reports={"working_days": ["mon", "Tuesday", day]})
    with pytest.raises(SettingsError, match=f"working_days: '{day}' is not a day of the week"):
        parse_config(raw, Path("socialdesk.yaml"))
