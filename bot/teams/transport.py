"""Sends rendered cards to people in Teams, updates them and fetches files, for the delivery
worker. An outbox item for Teams is addressed to a person's Entra ID object id; where their
chat with the bot is, is looked up when it is sent, so a message queued before they installed
the app goes once they have.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.core.clock import Clock
from bot.delivery import (
    PermanentFailure,
    Sent,
    TemporaryFailure,
    Unreachable,
    retry_after_seconds,
)
from bot.records import SentFile, TeamsRecords
from bot.teams.connector import ConnectorClient, ConnectorError, CredentialsRefused
from bot.teams.files import FileFetcher, FileRefused, type_problem

log = logging.getLogger(__name__)

# A photo small enough travels inside the message as a data URI and shows in the chat.
# Larger files are named instead: Teams has no way for a bot to hand over a file in a chat
# without the person accepting an upload to their OneDrive first.
INLINE_IMAGE_MAX_BYTES = 256 * 1024
CREDENTIALS_RETRY_SECONDS = 300.0


def _failure(error: ConnectorError, who: str) -> Exception:
    if isinstance(error, CredentialsRefused):
        log.error("teams: %s", error.detail)
        return TemporaryFailure(error.detail, CREDENTIALS_RETRY_SECONDS)
    status = error.status
    if status == 0:
        return TemporaryFailure(str(error))
    if status == 429:
        return TemporaryFailure(
            "Teams rate limit (HTTP 429)", retry_after_seconds(error.retry_after, datetime.now(UTC))
        )
    if status >= 500 or status == 408:
        return TemporaryFailure(f"the Bot Connector answered HTTP {status}")
    if status == 401:
        return TemporaryFailure(
            "the Bot Connector refused the bot's token (HTTP 401): check MICROSOFT_APP_ID and "
            "MICROSOFT_APP_PASSWORD",
            CREDENTIALS_RETRY_SECONDS,
        )
    if status == 403:
        return Unreachable(f"{who} blocked socialdesk in Teams (HTTP 403)")
    if status == 404:
        return Unreachable(f"{who} removed socialdesk in Teams: the chat is gone (HTTP 404)")
    return PermanentFailure(f"the Bot Connector refused: HTTP {status} {error.detail}")


class TeamsTransport:
    def __init__(
        self,
        connector: ConnectorClient,
        records: TeamsRecords,
        clock: Clock,
        fetcher: FileFetcher,
        *,
        person_key: Callable[[str], str],
    ) -> None:
        """`person_key`: the directory's key for a person by their Entra ID object id."""
        self._connector = connector
        self._records = records
        self._clock = clock
        self._fetcher = fetcher
        self._person_key = person_key

    async def send_message(self, address: str, payload: Mapping[str, Any]) -> Sent:
        conversation = self._records.address_of(address)
        if conversation is None:
            conversation = await self._records.conversation_with(address)
        if conversation is None:
            raise Unreachable(
                f"{address} has not added socialdesk in Teams yet (or removed it); the message "
                "goes when they do"
            )
        try:
            activity_id = await self._connector.send(
                conversation.service_url, conversation.conversation_id, payload
            )
        except ConnectorError as error:
            failure = _failure(error, address)
            if isinstance(failure, Unreachable):
                await self._records.unreachable(address, str(failure), self._clock.now())
            raise failure from error
        return Sent(conversation.conversation_id, activity_id)

    async def update_message(
        self, channel: str, message_id: str, payload: Mapping[str, Any]
    ) -> None:
        service_url = self._records.known_service_url(channel)
        if service_url is None:
            service_url = await self._records.service_url_of(channel)
        if service_url is None:
            raise PermanentFailure("no Teams conversation is known for this card")
        try:
            await self._connector.update(service_url, channel, message_id, payload)
        except ConnectorError as error:
            if error.status == 404:
                # The card (or the chat it was in) is gone: there is nothing left to update.
                raise PermanentFailure("the card is no longer in the chat (HTTP 404)") from error
            # Blocked (403) waits like a message does, and goes once they are back.
            raise _failure(error, "the recipient") from error

    async def download(self, url: str, max_bytes: int) -> bytes:
        sent, service_urls = await self._records.sent_file(url)
        if sent is None:
            # Every file address the bot fetches was recorded from a Teams message.
            raise PermanentFailure("no Teams message named this file address")
        try:
            content = await self._fetcher.fetch(
                url, max_bytes, lambda hop: self._connector.token_for(hop, service_urls)
            )
            problem = type_problem(sent.mimetype, content)
            if problem is not None:
                raise FileRefused(problem)
        except FileRefused as refused:
            await self._tell_sender(sent, str(refused))
            raise PermanentFailure(f"{sent.name} refused: {refused}") from refused
        except ConnectorError as error:
            if isinstance(error, CredentialsRefused) or error.status in (0, 401):
                # The bot's own credentials (or the network): the file waits, like messages.
                raise _failure(error, "the sender") from error
            if 400 <= error.status < 500 and error.status not in (408, 429):
                # Gone, expired or refused: asking again will not bring it back.
                raise PermanentFailure(
                    f"the file could not be fetched (HTTP {error.status}): {error.detail}"
                ) from error
            raise _failure(error, "the sender") from error
        return content

    async def _tell_sender(self, sent: SentFile, reason: str) -> None:
        """The sender hears which file was not kept and why; the draft or report it came with
        goes on without it, as with any file that could not be fetched."""
        text = (
            f"socialdesk did not keep the file {sent.name} that you sent: {reason}. "
            "The rest of what you sent went ahead without it."
        )
        payload = {"type": "message", "textFormat": "plain", "summary": text, "text": text}
        await self._records.queue_notice(
            self._person_key(sent.aad_object_id), sent.aad_object_id, payload, self._clock.now()
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
        if mimetype.startswith("image/") and len(content) <= INLINE_IMAGE_MAX_BYTES:
            encoded = base64.b64encode(content).decode("ascii")
            payload: dict[str, Any] = {
                "type": "message",
                "summary": name,
                "attachments": [
                    {
                        "contentType": mimetype,
                        "contentUrl": f"data:{mimetype};base64,{encoded}",
                        "name": name,
                    }
                ],
            }
        else:
            payload = {
                "type": "message",
                "textFormat": "plain",
                "text": (
                    f"Attached to the message above: {name} ({mimetype}, {len(content):,} bytes). "
                    "Teams cannot show a file like this in the chat; ask the submitter to share "
                    "it with you. socialdesk keeps its own copy."
                ),
            }
        await self.send_message(address, payload)
