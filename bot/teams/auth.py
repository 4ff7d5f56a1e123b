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
        claimed_url = claims.get("serviceurl") or claims.get("serviceUrl")
        if claimed_url is not None and not _same_url(str(claimed_url), service_url):
            raise Unauthorized("the token was issued for another service URL")
        return Caller(app_id=_str(claims.get("appid")), service_url=_str(claimed_url))

    async def _key(self, key_id: str) -> _SigningKey:
        now = time.monotonic()
        if now - self._fetched_at > KEYS_KEPT_SECONDS or (
            key_id not in self._keys and now - self._fetched_at > UNKNOWN_KEY_REFETCH_SECONDS
        ):
            async with self._lock:
                # Another request may have fetched them while this one waited.
                if now - self._fetched_at > KEYS_KEPT_SECONDS or (
                    key_id not in self._keys
                    and time.monotonic() - self._fetched_at > UNKNOWN_KEY_REFETCH_SECONDS
                ):
                    await self._refresh()
        found = self._keys.get(key_id)
        if found is None:
            raise Unauthorized("token signed with an unknown key")
        return found

    async def _refresh(self) -> None:
        try:
            metadata = await self._get_json(self._metadata_url)
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise KeysUnavailable("the OpenID metadata names no jwks_uri")
            document = await self._get_json(jwks_uri)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            if self._keys:
                # Keep the keys we had rather than refuse everyone; try again later.
                log.warning("teams: could not refresh the signing keys (%r)", error)
                self._fetched_at = time.monotonic() - KEYS_KEPT_SECONDS + 60
                return
            raise KeysUnavailable(f"cannot fetch the signing keys: {error!r}") from error
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
        self._keys = keys
        self._fetched_at = time.monotonic()

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
