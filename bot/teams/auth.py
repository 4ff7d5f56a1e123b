"""Checks that a request on /api/messages really comes from the Bot Connector service.

The Bot Connector signs a JWT for every request it sends a bot (Bot Framework security
protocol, "Connector to bot"): issuer https://api.botframework.com, audience the bot's app id,
RS256 with a key from the OpenID metadata document, a key endorsed for the channel, and a
serviceUrl claim that matches the activity's.

botbuilder can check this too, but it fetches the signing keys with blocking `requests` calls,
with no timeout, on the event loop: one slow fetch would stall every chat for every school
user. Here the keys are fetched with aiohttp under a time limit, one fetch at a time, and
kept for a day.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

BOT_CONNECTOR_ISSUER = "https://api.botframework.com"
# The Bot Framework allows five minutes of clock skew.
CLOCK_SKEW_SECONDS = 300
KEYS_KEPT_SECONDS = 24 * 3600
# An unknown key id may mean the keys have rolled over; look again, but not on every request.
UNKNOWN_KEY_REFETCH_SECONDS = 300
# After a failed fetch, requests are answered from what is held (or 503) for this long.
RETRY_FAILED_FETCH_SECONDS = 2
RETRY_WITH_KEYS_SECONDS = 60
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=10)


class Unauthorized(Exception):
    """The request is not from the Bot Connector (or not for this bot): answer 401."""


class KeysUnavailable(Exception):
    """The signing keys cannot be fetched, so no request can be checked: answer 503."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who the verified token says sent the request."""

    app_id: str | None
    service_url: str | None


@dataclass(frozen=True, slots=True)
class _SigningKey:
    key: Any
    endorsements: tuple[str, ...]


class TokenVerifier:
    def __init__(self, http: aiohttp.ClientSession, metadata_url: str, app_id: str) -> None:
        self._http = http
        self._metadata_url = metadata_url
        self._app_id = app_id
        self._keys: dict[str, _SigningKey] = {}
        self._fetched_at = float("-inf")
        self._failure: str | None = None
        self._retry_at = 0.0
        self._lock = asyncio.Lock()

    async def verify(self, authorization: str | None, channel_id: str, service_url: str) -> Caller:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Bearer" or not token.strip():
            raise Unauthorized("no bearer token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            # botbuilder lets this escape as a DecodeError (a 500); it is a bad token (401).
            raise Unauthorized(f"malformed token: {error}") from error
        if header.get("alg") != "RS256":
            raise Unauthorized("token not signed with RS256")
        key_id = header.get("kid")
        if not isinstance(key_id, str):
            raise Unauthorized("token names no signing key")
        signing_key = await self._key(key_id)
        if channel_id not in signing_key.endorsements:
            raise Unauthorized(f"signing key not endorsed for channel {channel_id!r}")
        try:
            claims: Mapping[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                audience=self._app_id,
                issuer=BOT_CONNECTOR_ISSUER,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise Unauthorized(f"token refused: {error}") from error
        # The bot answers at the activity's serviceUrl with its own token: the Bot Connector
        # must have vouched for that address, or a replayed token could send it anywhere.
        claimed_url = claims.get("serviceurl") or claims.get("serviceUrl")
        if not isinstance(claimed_url, str) or not _same_url(claimed_url, service_url):
            raise Unauthorized("the token does not vouch for the activity's serviceUrl")
        return Caller(app_id=_str(claims.get("appid")), service_url=_str(claimed_url))

    def _due(self, key_id: str) -> bool:
        now = time.monotonic()
        if now < self._retry_at:
            return False
        age = now - self._fetched_at
        return age > KEYS_KEPT_SECONDS or (
            key_id not in self._keys and age > UNKNOWN_KEY_REFETCH_SECONDS
        )

    async def _key(self, key_id: str) -> _SigningKey:
        if self._due(key_id) and not (self._keys and self._lock.locked()):
            # With keys in hand, a request does not wait for a refresh another has begun.
            async with self._lock:
                # Another request may have fetched them (or failed to) while this one waited.
                if self._due(key_id):
                    await self._refresh()
        found = self._keys.get(key_id)
        if found is None:
            if not self._keys:
                raise KeysUnavailable(self._failure or "no signing keys yet")
            raise Unauthorized("token signed with an unknown key")
        return found

    async def _refresh(self) -> None:
        try:
            keys = await self._fetch_keys()
        except (aiohttp.ClientError, TimeoutError, ValueError, KeysUnavailable) as error:
            self._failure = f"cannot fetch the signing keys: {error!r}"
            # Keep the keys we had rather than refuse everyone. Either way, look again in a
            # little while, not on every request: a fetch can take seconds to fail.
            log.warning("teams: %s", self._failure)
            self._retry_at = time.monotonic() + (
                RETRY_FAILED_FETCH_SECONDS if not self._keys else RETRY_WITH_KEYS_SECONDS
            )
            if not self._keys:
                raise KeysUnavailable(self._failure) from error
            return
        self._keys = keys
        self._failure = None
        self._fetched_at = time.monotonic()
        # An unknown key id may be tried again only after UNKNOWN_KEY_REFETCH_SECONDS.
        self._retry_at = 0.0

    async def _fetch_keys(self) -> dict[str, _SigningKey]:
        metadata = await self._get_json(self._metadata_url)
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise KeysUnavailable("the OpenID metadata names no jwks_uri")
        document = await self._get_json(jwks_uri)
        keys: dict[str, _SigningKey] = {}
        raw_keys = document.get("keys")
        for raw in raw_keys if isinstance(raw_keys, list) else []:
            if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
                continue
            try:
                public = RSAAlgorithm.from_jwk(json.dumps(raw))
            except (jwt.PyJWTError, ValueError, KeyError):
                log.warning("teams: skipped an unreadable signing key %s", raw.get("kid"))
                continue
            endorsements = raw.get("endorsements")
            keys[raw["kid"]] = _SigningKey(
                public,
                tuple(str(e) for e in endorsements) if isinstance(endorsements, list) else (),
            )
        if not keys:
            raise KeysUnavailable("the signing key document holds no usable key")
        return keys

    async def _get_json(self, url: str) -> Mapping[str, Any]:
        async with self._http.get(url, timeout=FETCH_TIMEOUT) as answer:
            answer.raise_for_status()
            document = await answer.json(content_type=None)
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not answer with a JSON object")
        return document


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()
