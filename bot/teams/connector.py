"""The Bot Connector REST API (v3), as far as socialdesk uses it: send an activity to a
conversation, replace one, and authorise fetching a file a person sent (files.py fetches it).

botbuilder's ConnectorClient would do this through msrest, with tokens from msal, whose HTTP
calls block the event loop. This client is aiohttp on the bot's one shared session, and hands
every failure to the caller as a status, so the outbox decides what is retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from bot.settings import TeamsSettings

log = logging.getLogger(__name__)

BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
# A token is renewed this long before Entra ID says it expires.
TOKEN_RENEW_SECONDS = 300
CALL_TIMEOUT = aiohttp.ClientTimeout(total=30)


class ConnectorError(Exception):
    """The Bot Connector (or Entra ID, for the bot's token) answered other than success, or
    could not be reached (`status` 0)."""

    def __init__(self, status: int, detail: str, retry_after: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {detail}" if status else detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class CredentialsRefused(ConnectorError):
    """Entra ID refused the app id or password: an operator must fix the settings."""


@dataclass
class _Token:
    value: str
    renew_at: float


class BotToken:
    """The bot's own bearer token for the Bot Connector (OAuth client credentials)."""

    def __init__(self, http: aiohttp.ClientSession, settings: TeamsSettings) -> None:
        self._http = http
        self._settings = settings
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    async def header(self) -> dict[str, str]:
        if self._settings.local_mode:
            return {}
        token = self._token
        if token is None or time.monotonic() >= token.renew_at:
            async with self._lock:
                token = self._token
                if token is None or time.monotonic() >= token.renew_at:
                    token = self._token = await self._fetch()
        return {"Authorization": f"Bearer {token.value}"}

    async def _fetch(self) -> _Token:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._settings.app_id or "",
            "client_secret": self._settings.app_password or "",
            "scope": BOT_FRAMEWORK_SCOPE,
        }
        try:
            async with self._http.post(
                self._settings.token_url, data=form, timeout=CALL_TIMEOUT
            ) as answer:
                body = await answer.json(content_type=None)
                status = answer.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise ConnectorError(
                0, f"cannot reach {self._settings.token_url}: {error!r}"
            ) from error
        if status in (400, 401) and isinstance(body, dict):
            code = body.get("error") or f"HTTP {status}"
            raise CredentialsRefused(
                status,
                f"Entra ID refused MICROSOFT_APP_ID / MICROSOFT_APP_PASSWORD ({code})",
            )
        if status != 200 or not isinstance(body, dict) or "access_token" not in body:
            raise ConnectorError(status, "no token from Entra ID")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float | str) else 3600.0
        return _Token(
            str(body["access_token"]), time.monotonic() + max(60.0, lifetime - TOKEN_RENEW_SECONDS)
        )


class ConnectorClient:
    def __init__(self, http: aiohttp.ClientSession, token: BotToken) -> None:
        self._http = http
        self._token = token

    async def send(
        self, service_url: str, conversation_id: str, activity: Mapping[str, Any]
    ) -> str:
        """Post an activity to a conversation; the id Teams gave it."""
        url = f"{_base(service_url)}/v3/conversations/{quote(conversation_id, safe='')}/activities"
        answer = await self._call("POST", url, activity)
        activity_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(activity_id, str) or not activity_id:
            raise ConnectorError(200, "the connector gave the message no id")
        return activity_id

    async def update(
        self,
        service_url: str,
        conversation_id: str,
        activity_id: str,
        activity: Mapping[str, Any],
    ) -> None:
        url = (
            f"{_base(service_url)}/v3/conversations/{quote(conversation_id, safe='')}"
            f"/activities/{quote(activity_id, safe='')}"
        )
        await self._call("PUT", url, {**activity, "id": activity_id})

    async def token_for(self, url: str, service_urls: set[str]) -> dict[str, str]:
        """The authorisation for fetching a file at `url`. The bot's token goes only to the
        Bot Connector itself (a pasted image's address is under the service URL); a shared
        file's own download address is pre-authorised, and its host never sees the token."""
        if any(_under(url, service) for service in service_urls):
            return await self._token.header()
        return {}

    async def _call(self, method: str, url: str, body: Mapping[str, Any]) -> Any:
        headers = {**await self._token.header(), "Content-Type": "application/json; charset=utf-8"}
        # UTF-8 as it is: escaped as \uXXXX, an emoji costs 12 bytes of Teams' message limit.
        payload = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._http.request(
                method, url, data=payload, headers=headers, timeout=CALL_TIMEOUT
            ) as answer:
                text = await answer.text()
                if answer.status >= 300:
                    raise ConnectorError(
                        answer.status, _error_code(text), answer.headers.get("Retry-After")
                    )
                if not text:
                    return {}
                try:
                    return await answer.json(content_type=None)
                except ValueError:
                    return {}
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ConnectorError(0, f"cannot reach the Bot Connector: {error!r}") from error


def _base(service_url: str) -> str:
    return service_url.rstrip("/")


def _under(url: str, service_url: str) -> bool:
    target, service = urlsplit(url), urlsplit(service_url)
    return (
        target.scheme == service.scheme
        and target.netloc.lower() == service.netloc.lower()
        and target.path.startswith(service.path.rstrip("/") + "/")
    )


def _error_code(text: str) -> str:
    """The connector's error code, never its whole body (which may quote the message)."""
    try:
        body = json.loads(text)
    except ValueError:
        return "error"
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code else "error"
