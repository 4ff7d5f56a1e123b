"""The school's Slack workspace as users.list tells it: who is in it, for an operator writing
the configuration's `people:` (`socialdesk people`) and checking it (`socialdesk check-config`).

users.list is paginated and rate limited (Tier 2, about 20 calls a minute): pages of at most
200 members, as Slack recommends, and a 429 waits for its Retry-After before asking again.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import SettingsError, SlackSettings
from bot.slack.transport import TOKEN_REFUSED

PAGE_SIZE = 200
# A whole workspace is a few pages; a 429 on each still ends within minutes.
RATE_LIMIT_RETRIES = 5
REQUEST_SECONDS = 15
# Slack's own bot is a member of every workspace, and users.list does not mark it is_bot.
SLACKBOT = "USLACKBOT"
# The scopes users.list needs, for the one line an operator reads when Slack refuses.
READ_SCOPE = "users:read"
EMAIL_SCOPE = "users:read.email"


@dataclass(frozen=True, slots=True)
class SlackMember:
    user_id: str
    real_name: str | None
    display_name: str | None
    username: str | None
    # Only with the users:read.email scope.
    email: str | None

    @property
    def name(self) -> str:
        """What the person is called: their real name, else their display name, else their
        username, else their id."""
        return self.real_name or self.display_name or self.username or self.user_id


@dataclass(frozen=True, slots=True)
class SlackRoster:
    """The workspace's people, and how many members were left out as not people."""

    members: tuple[SlackMember, ...]
    bots: int
    deleted_ids: frozenset[str]

    @property
    def known_ids(self) -> frozenset[str]:
        """Ids of members who can use socialdesk now (bots aside, but not deleted ones)."""
        return frozenset(m.user_id for m in self.members)

    @property
    def emails_shown(self) -> bool:
        return any(m.email for m in self.members)


async def workspace_members(settings: SlackSettings) -> SlackRoster:
    """Every member of the workspace the bot token belongs to. A refused token, a missing
    scope or an unreachable Slack is a SettingsError naming the setting to fix."""
    client = AsyncWebClient(
        token=settings.bot_token,
        base_url=settings.api_url,
        timeout=REQUEST_SECONDS,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)],
    )
    members: list[SlackMember] = []
    bots = 0
    deleted: set[str] = set()
    cursor: str | None = None
    asked: set[str] = set()
    while True:
        page = await _page(client, cursor)
        listed = page.get("members")
        for raw in listed if isinstance(listed, list) else []:
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                continue
            if raw.get("deleted"):
                deleted.add(raw["id"])
            elif raw.get("is_bot") or raw["id"] == SLACKBOT:
                bots += 1
            else:
                members.append(_member(raw))
        metadata = page.get("response_metadata")
        cursor = metadata.get("next_cursor") if isinstance(metadata, dict) else None
        # An empty next_cursor ends the list; one seen before would loop for ever.
        if not isinstance(cursor, str) or not cursor or cursor in asked:
            break
        asked.add(cursor)
    members.sort(key=lambda m: (m.name.casefold(), m.user_id))
    return SlackRoster(tuple(members), bots, frozenset(deleted))


async def _page(client: AsyncWebClient, cursor: str | None) -> dict[str, object]:
    try:
        answer = await client.users_list(limit=PAGE_SIZE, cursor=cursor)
    except SlackApiError as error:
        raise SettingsError(_refusal(error)) from error
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise SettingsError(
            f"SLACK_API_URL: cannot reach Slack at {client.base_url} ({error!r})"
        ) from None
    data = answer.data
    return data if isinstance(data, dict) else {}


def _refusal(error: SlackApiError) -> str:
    data = error.response.data if isinstance(error.response.data, dict) else {}
    code = str(data.get("error") or f"HTTP {error.response.status_code}")
    if code in TOKEN_REFUSED:
        return (
            f"SLACK_BOT_TOKEN: Slack refused the token ({code}): copy the Bot User OAuth Token "
            f"(xoxb-...) again from the app's OAuth & Permissions page; listing people needs "
            f"its {READ_SCOPE} scope"
        )
    if code == "missing_scope":
        needed = str(data.get("needed") or READ_SCOPE)
        return (
            f"SLACK_BOT_TOKEN: the Slack app lacks the {needed} scope (missing_scope): add it "
            "under OAuth & Permissions (manifests/slack/manifest.yaml lists it) and reinstall "
            "the app"
        )
    if code == "ratelimited" or error.response.status_code == 429:
        return "Slack kept answering users.list with its rate limit: try again in a minute"
    return f"Slack refused users.list: {code}"


def _member(raw: dict[str, object]) -> SlackMember:
    profile = raw.get("profile")
    profile = profile if isinstance(profile, dict) else {}

    def text(value: object) -> str | None:
        return value.strip() or None if isinstance(value, str) else None

    return SlackMember(
        user_id=str(raw["id"]),
        real_name=text(profile.get("real_name")) or text(raw.get("real_name")),
        display_name=text(profile.get("display_name")),
        username=text(raw.get("name")),
        email=text(profile.get("email")),
    )
