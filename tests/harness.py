"""Runs the real application on an ephemeral port and talks to it as Slack would."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import SERVICES, create_app
from bot.config import load_config
from bot.core.clock import Clock
from bot.core.policy import parse_policy, title_key
from bot.core.policy_index import PolicyIndex
from bot.knowledge import load_knowledge
from bot.settings import Settings, SlackSettings, TeamsSettings
from bot.teams.files import FileNetwork
from tests.fakes.slack import MESSAGE_BLOCKS_MAX, FakeSlack, validate_blocks, validate_view

FIXTURES = Path(__file__).with_name("fixtures")
ROOT = Path(__file__).resolve().parents[1]
# The example school's policy ships with the project (examples/policy): the tests run on it, so
# a bare clone tests everything. The first school's lives beside the project, never in it;
# the extras that read it skip with a reason when it is absent.
EXAMPLE_POLICY = ROOT / "examples" / "policy" / "social-media-policy.md"
EXAMPLE_POLICY_DOCX = EXAMPLE_POLICY.with_suffix(".docx")
SHARED_POLICY = ROOT.parent / "shared" / "policy"
SHARED_POLICY_FILE = SHARED_POLICY / "social-media-policy.txt"
POLICY_FILE = EXAMPLE_POLICY
SIGNING_SECRET = "test-signing-secret"
TEAM = "T0SCHOOL"


def settings_for(
    database_url: str,
    fake: FakeSlack | None,
    teams: TeamsSettings | None = None,
    policy: Path | None = None,
    **slack: Any,
) -> Settings:
    """`policy` defaults to the example school's policy document."""
    slack_settings = None
    if fake is not None:
        slack_settings = SlackSettings(
            bot_token=fake.bot_token,
            signing_secret=slack.get("signing_secret", SIGNING_SECRET),
            app_token=slack.get("app_token"),
            api_url=fake.base_url,
        )
    return Settings(
        database_url=database_url,
        port=0,
        host="127.0.0.1",
        config_path=FIXTURES / "school.yaml",
        slack=slack_settings,
        teams=teams or TeamsSettings(),
        retry_base_seconds=0.05,
        retry_cap_seconds=1.0,
        policy_path=policy if policy is not None else POLICY_FILE,
    )


@dataclass
class Reply:
    status: int
    text: str
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


# The first school's section titles, which the tests name sections by, each with a topic the
# bot's knowledge holds about it: the section a document gives that topic is the one meant.
KNOWN_TITLES = {
    "Introduction": "notice-of-changes",
    "Purpose of This Policy": "why-a-policy",
    "Who is Covered by This Policy?": "who-is-covered",
    "Scope and Purpose of This Policy": "outside-work",
    "Personnel Responsible for Implementing This Policy": "who-runs-it",
    "Compliance with Related Policies and Agreements": "no-references",
    "Personal Use of Social Media": "pupil-friend-request",
    "Monitoring": "school-monitors",
    "Educational and Extra-Curricular Use of Social Media": "talking-to-media",
    "Recruitment": "online-checks",
    "Photographs for use with social media": "own-device-photos",
    "Staff protocol for use of social media": "approval-before-posting",
    "Protecting our business reputation": "criticising-school",
    "Process for creating new accounts": "new-school-account",
    "Respecting intellectual property and confidential information": "logos",
    "Respecting colleagues, pupils, parents, clients, service providers and stakeholders": (
        "written-permission"
    ),
    "Monitoring and Review of This Policy": "who-reviews",
}


def heading(known_title: str, policy: Path = POLICY_FILE) -> str:
    """The heading `policy` gives the section the first school called `known_title`, as shown
    to people: that title where the document has it, else the section the knowledge places
    that section's topic in."""
    document = parse_policy(policy.read_bytes(), policy.name)
    if (section := document.section(known_title)) is not None:
        return section.short_title
    topic = next(
        key for title, key in KNOWN_TITLES.items() if title_key(title) == title_key(known_title)
    )
    placed = PolicyIndex(document, load_knowledge()).placements[topic].section
    if placed is None:
        raise AssertionError(f"{policy.name} has no section for {known_title!r}")
    return placed.short_title


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """ORM sessions for tests to read rows as objects; the bot itself uses plain SQL."""
    return async_sessionmaker(engine, expire_on_commit=False)


class SettableClock:
    """The bot's clock in tests that need a later day: real time, moved on by `advance`."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, by: timedelta) -> None:
        self.offset += by


class RunningBot:
    def __init__(
        self,
        settings: Settings,
        config_path: Path | None = None,
        clock: Clock | None = None,
        teams_network: FileNetwork | None = None,
    ) -> None:
        if config_path is not None:
            settings = replace(settings, config_path=config_path)
        self.settings = settings
        self.app = create_app(settings, load_config(settings.config_path), clock, teams_network)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.url = ""
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> RunningBot:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        self.http = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        await self.runner.cleanup()

    @property
    def runtime(self) -> Any:
        return self.app[SERVICES].runtime

    async def get(self, path: str) -> Reply:
        assert self.http is not None
        started = time.perf_counter()
        async with self.http.get(self.url + path) as response:
            return Reply(response.status, await response.text(), time.perf_counter() - started)

    async def post_raw(self, path: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        assert self.http is not None
        started = time.perf_counter()
        async with self.http.post(
            self.url + path, data=io.BytesIO(body), headers=dict(headers)
        ) as response:
            return Reply(response.status, await response.text(), time.perf_counter() - started)

    async def slack(
        self,
        body: str,
        *,
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
        signed: bool = True,
        extra_headers: Mapping[str, str] | None = None,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> Reply:
        raw = body.encode()
        headers = {"Content-Type": content_type}
        if signed:
            stamp = str(timestamp if timestamp is not None else int(time.time()))
            headers["X-Slack-Request-Timestamp"] = stamp
            headers["X-Slack-Signature"] = SignatureVerifier(secret).generate_signature(
                timestamp=stamp, body=raw
            )
        headers.update(extra_headers or {})
        reply = await self.post_raw("/slack/events", raw, headers)
        validate_reply(reply)
        return reply

    async def teams(
        self, activity: Mapping[str, Any], token: str | None = None, raw: bytes | None = None
    ) -> Reply:
        """An activity as the Bot Connector posts it to /api/messages."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.post_raw(
            "/api/messages", raw if raw is not None else json.dumps(activity).encode(), headers
        )

    async def command(self, command: str, user: str, text: str = "", **kwargs: Any) -> Reply:
        return await self.slack(command_body(command, user, text), **kwargs)

    async def submit(self, payload: Mapping[str, Any], **kwargs: Any) -> Reply:
        return await self.slack(urlencode({"payload": json.dumps(payload)}), **kwargs)

    async def click(
        self, user: str, action_id: str, value: str, response_url: str, **kwargs: Any
    ) -> Reply:
        return await self.submit(click_payload(user, action_id, value, response_url), **kwargs)

    async def event(self, body: Mapping[str, Any], **kwargs: Any) -> Reply:
        """An Events API delivery: JSON, signed like every other Slack request."""
        return await self.slack(json.dumps(body), content_type="application/json", **kwargs)

    async def count(self, model: Any) -> int:
        async with sessions(self.runtime.engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def rows(self, model: Any) -> list[Any]:
        async with sessions(self.runtime.engine)() as session:
            return list(await session.scalars(select(model).order_by(model.id)))


def validate_reply(reply: Reply) -> None:
    """What the bot answers in the HTTP response (a modal, an ephemeral message) must pass
    slack_sdk.models validation, as every Web API call to the fake does."""
    if reply.status != 200 or not reply.text.startswith("{"):
        return
    answer = reply.json()
    if isinstance(answer.get("view"), dict):
        validate_view(answer["view"])
    if "blocks" in answer:
        validate_blocks(answer["blocks"], MESSAGE_BLOCKS_MAX)


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.03)


def command_body(command: str, user: str, text: str = "") -> str:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "team_domain": "oakgreen",
            "channel_id": "C0STAFF",
            "channel_name": "staffroom",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0SOCIAL",
            "response_url": "https://hooks.slack.com/commands/T0SCHOOL/1/abc",
            "trigger_id": f"trigger-{user}-{time.monotonic_ns()}",
        }
    )


ALL_CONFIRMATIONS = (
    "parental_permission",
    "no_identifying_information",
    "appropriate_images",
    "do_not_publish_list",
    "colleagues_permission",
    "school_devices",
    "positive_and_relevant",
)


def draft_payload(
    user: str,
    text: str = "Year 4 won the county maths quiz today - well done everyone!",
    accounts: tuple[str, ...] = ("Facebook", "X"),
    confirmed: tuple[str, ...] = ALL_CONFIRMATIONS,
    wished_date: str | None = None,
    files: list[dict[str, Any]] | None = None,
    view_id: str | None = None,
) -> dict[str, Any]:
    """A view_submission of the draft form, shaped as Slack sends it. Each call is a new
    modal (its own view id) unless `view_id` names one."""
    values: dict[str, Any] = {
        "text": {"text": {"type": "plain_text_input", "value": text}},
        "accounts": {
            "accounts": {
                "type": "checkboxes",
                "selected_options": [
                    {"text": {"type": "plain_text", "text": a}, "value": a} for a in accounts
                ],
            }
        },
        "wished_date": {"wished_date": {"type": "datepicker", "selected_date": wished_date}},
        "attachments": {"attachments": {"type": "file_input", "files": files or []}},
    }
    for name in ALL_CONFIRMATIONS:
        selected = [{"value": "confirmed"}] if name in confirmed else []
        values[name] = {name: {"type": "checkboxes", "selected_options": selected}}
    payload = view_payload(user, "post.draft", "", {})
    payload["view"]["state"]["values"] = values
    if view_id:
        payload["view"]["id"] = view_id
    return payload


def click_payload(user: str, action_id: str, value: str, response_url: str) -> dict[str, Any]:
    """A block_actions payload: a button clicked on a message in the person's DM with the bot."""
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "oakgreen"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A0SOCIAL",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000001",
            "channel_id": f"D{user}",
            "is_ephemeral": False,
        },
        "trigger_id": f"trigger-{user}-{time.monotonic_ns()}",
        "channel": {"id": f"D{user}", "name": "directmessage"},
        "message": {"type": "message", "ts": "1700000000.000001", "text": "card"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b1",
                "text": {"type": "plain_text", "text": action_id},
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def view_payload(
    user: str, callback_id: str, private_metadata: str, values: Mapping[str, Any]
) -> dict[str, Any]:
    """A view_submission of any of the bot's modals; `values` maps each input to its element
    state, e.g. {"reason": {"type": "plain_text_input", "value": "..."}}."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "oakgreen"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A0SOCIAL",
        "token": "legacy-verification-token",
        "trigger_id": f"trigger-{time.monotonic_ns()}",
        "view": {
            "id": f"V0{time.monotonic_ns():X}",
            "team_id": TEAM,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "hash": "1700000000.abc",
            "state": {"values": {name: {name: state} for name, state in values.items()}},
        },
        "response_urls": [],
    }


def slack_file(
    file_id: str, name: str, size: int, url: str = "https://files.slack.com/x"
) -> dict[str, Any]:
    """A file in a file_input's state, as Slack sends it."""
    return {
        "id": file_id,
        "name": name,
        "title": name,
        "mimetype": "image/png",
        "filetype": "png",
        "size": size,
        "url_private": url,
        "url_private_download": url,
    }


def event_callback(event: dict[str, Any]) -> dict[str, Any]:
    """An Events API delivery wrapping `event`, as Slack posts it."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": "A0SOCIAL",
        "type": "event_callback",
        "event_id": "Ev0001",
        "event_time": 1700000000,
        "event": event,
    }


def direct_message_event(
    user: str, text: str = "hello?", channel: str = "D0TEACH"
) -> dict[str, Any]:
    """A message someone sent the bot in their direct message with it (`channel`)."""
    return {
        "type": "message",
        "channel_type": "im",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": "1700000000.000100",
    }
