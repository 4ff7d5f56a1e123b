"""Sends rendered messages to Slack and fetches files from it, for the delivery worker.

Failures are sorted into temporary (retried with back-off) and permanent (kept for the
operator). The worker is the one place that retries, so the Web API client has no retry
handlers of its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import PermanentFailure, Sent, TemporaryFailure, retry_after_seconds

log = logging.getLogger(__name__)

# Slack error codes that mean "try again later" even on HTTP 200.
TEMPORARY_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


# Slack error codes that mean the token itself is refused: an operator must act, and until
# then every message waits (retried slowly) rather than being marked failed one by one.
TOKEN_REFUSED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "not_allowed_token_type",
    }
)
TOKEN_REFUSED_RETRY_SECONDS = 300.0
# A remembered direct-message channel that Slack no longer knows.
CHANNEL_GONE = frozenset({"channel_not_found", "is_archived"})


def _classify(error: SlackApiError) -> Exception:
    status = error.response.status_code
    code = error.response.get("error") if isinstance(error.response.data, dict) else None
    if status == 429 or code == "ratelimited":
        headers = {str(k).lower(): str(v) for k, v in error.response.headers.items()}
        retry_after = retry_after_seconds(headers.get("retry-after"), datetime.now(UTC))
        return TemporaryFailure(f"Slack rate limit (HTTP {status})", retry_after)
    if code in TOKEN_REFUSED:
        log.error("slack: the bot token was refused (%s); check SLACK_BOT_TOKEN", code)
        return TemporaryFailure(f"Slack refused the bot token: {code}", TOKEN_REFUSED_RETRY_SECONDS)
    if status >= 500 or code in TEMPORARY_ERRORS:
        return TemporaryFailure(f"Slack answered HTTP {status} {code or ''}".strip())
    return PermanentFailure(f"Slack refused: {code or f'HTTP {status}'}")


@contextlib.contextmanager
def _as_delivery_failures() -> Iterator[None]:
    """Slack's errors, as the delivery worker's temporary or permanent failures."""
    try:
        yield
    except SlackApiError as error:
        raise _classify(error) from error
    except SlackRequestError as error:
        # An upload step itself failed (files.slack.com answered other than 200).
        raise TemporaryFailure(f"Slack file upload failed: {error}") from error
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise TemporaryFailure(f"cannot reach Slack: {error!r}") from error


class SlackTransport:
    def __init__(self, client: AsyncWebClient, api_url: str) -> None:
        self._client = client
        self._trusted_hosts = {urlsplit(api_url).hostname or "slack.com"}
        # A person's direct-message channel with the bot never changes, and conversations.open
        # is rate-limited (tier 3): open it once per person, not once per message.
        self._dm_channels: dict[str, str] = {}

    async def _dm_channel(self, address: str) -> str:
        channel = self._dm_channels.get(address)
        if channel is None:
            opened = await self._client.conversations_open(users=address)
            channel = self._dm_channels[address] = str(opened["channel"]["id"])
        return channel

    async def send_message(self, address: str, payload: Mapping[str, Any]) -> Sent:
        remembered = address in self._dm_channels
        with _as_delivery_failures():
            channel = await self._dm_channel(address)
            try:
                posted = await self._client.chat_postMessage(
                    channel=channel,
                    text=payload["text"],
                    blocks=payload["blocks"],
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except SlackApiError as error:
                if not remembered or error.response.get("error") not in CHANNEL_GONE:
                    raise
                # The remembered channel has gone (the app was reinstalled): open it afresh.
                self._dm_channels.pop(address, None)
                raise TemporaryFailure("the conversation has gone; reopening it") from error
        return Sent(channel=channel, message_id=str(posted["ts"]))

    async def update_message(
        self, channel: str, message_id: str, payload: Mapping[str, Any]
    ) -> None:
        with _as_delivery_failures():
            await self._client.chat_update(
                channel=channel, ts=message_id, text=payload["text"], blocks=payload["blocks"]
            )

    async def share_file(
        self,
        address: str,
        channel: str | None,
        thread: str | None,
        name: str,
        mimetype: str,
        content: bytes,
    ) -> None:
        # The submitter's upload stays private to them in Slack, so approvers get the bot's copy.
        with _as_delivery_failures():
            if channel is None:
                channel = await self._dm_channel(address)
            await self._client.files_upload_v2(
                channel=channel, thread_ts=thread, file=content, filename=name, title=name
            )

    def _trusted(self, url: str) -> bool:
        host = urlsplit(url).hostname or ""
        return host == "slack.com" or host.endswith(".slack.com") or host in self._trusted_hosts

    async def download(self, url: str, max_bytes: int) -> bytes:
        # The bot token goes only to Slack's own hosts.
        if not self._trusted(url):
            raise PermanentFailure(f"not a Slack file address: {urlsplit(url).hostname}")
        headers = {"Authorization": f"Bearer {self._client.token}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session,
                session.get(url, headers=headers) as response,
            ):
                if response.status == 429 or response.status >= 500:
                    raise TemporaryFailure(
                        f"Slack file download answered HTTP {response.status}",
                        retry_after_seconds(response.headers.get("Retry-After"), datetime.now(UTC)),
                    )
                if response.status != 200:
                    raise PermanentFailure(f"Slack file download answered HTTP {response.status}")
                if response.content_type == "text/html":
                    raise PermanentFailure(
                        "Slack sent a web page instead of the file: does the app have files:read?"
                    )
                content = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    content.extend(chunk)
                    if len(content) > max_bytes:
                        raise PermanentFailure(f"file larger than {max_bytes} bytes")
                return bytes(content)
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise TemporaryFailure(f"cannot reach Slack: {error!r}") from error
