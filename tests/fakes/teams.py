"""A local fake of what Teams puts around a bot: the Bot Connector service (which records the
messages the bot sends and the cards it updates), Entra ID's token endpoint for the bot's own
token, and the OpenID metadata and signing keys the Bot Connector signs its requests with.

Every Adaptive Card the bot sends or returns is checked by tests/structure.py (our own reading
of Adaptive Cards 1.5), and also against the published Adaptive Cards 1.5 schema in
../shared/schemas when that folder is there (Teams' own `msteams` key stripped: the schema does
not know it).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import itertools
import json
import socket
import ssl
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jsonschema import Draft6Validator
from jwt.algorithms import RSAAlgorithm

from bot.teams.files import FileNetwork
from tests.fakes import serve_locally
from tests.structure import card_problems

SCHEMA_PATH = (
    Path(__file__).resolve().parents[3] / "shared" / "schemas" / "adaptive-cards" / "1.5.0"
) / "adaptive-card.json"
CARD = "application/vnd.microsoft.card.adaptive"
ISSUER = "https://api.botframework.com"
APP_ID = "5d3f2e9a-1b2c-4d5e-8f90-123456789abc"
APP_PASSWORD = "test-client-secret"
TENANT = "72f988bf-0000-4000-8000-0000000005c1"
KEY_ID = "test-key-1"
# Teams' own host names, which the fake answers for over https when the bot is registered:
# the Bot Connector, the sender's OneDrive (SharePoint) and Teams' media service.
CONNECTOR_HOST = "smba.trafficmanager.net"
ONEDRIVE_HOST = "contoso-my.sharepoint.com"
MEDIA_HOST = "us-api.asm.skype.com"
FILES_HOST = "files.contoso.sharepoint.com"
TEAMS_HOSTS = (CONNECTOR_HOST, ONEDRIVE_HOST, MEDIA_HOST, FILES_HOST)
LOOPBACK = ipaddress.ip_address("127.0.0.1")
# The first bytes of files as phones and laptops make them.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for Teams' host names, made for this test run."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Trusts this certificate, and nothing else."""
        return ssl.create_default_context(cafile=str(self.cert_file))


_CERT_FOLDER = tempfile.TemporaryDirectory(prefix="socialdesk-test-tls-")


@cache
def certificate(names: tuple[str, ...] = TEAMS_HOSTS) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = Path(_CERT_FOLDER.name) / uuid.uuid4().hex
    folder.mkdir()
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


class MappedResolver(AbstractResolver):
    """DNS for tests: each name is where the test says it is; any other name does not
    exist (nothing in the tests ever reaches the real DNS)."""

    def __init__(self, names: Mapping[str, tuple[str, int]]) -> None:
        self.names = dict(names)
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.names:
            raise OSError(f"test DNS: no such host {host}")
        address, mapped_port = self.names[host]
        version = ipaddress.ip_address(address).version
        return [
            {
                "hostname": host,
                "host": address,
                "port": mapped_port,
                "family": socket.AF_INET6 if version == 6 else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


class CardError(AssertionError):
    pass


_validator: Draft6Validator | None = None


def card_schema_available() -> bool:
    return SCHEMA_PATH.is_file()


def validate_card(card: Any) -> None:
    """A card as Teams would get it must pass our structural checks and, when the published
    schema is beside the project, the Adaptive Cards 1.5 schema too."""
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        raise CardError(f"not an Adaptive Card: {str(card)[:200]}")
    # They include what the schema cannot see: Teams gathers inputs by id across the card.
    problems = card_problems(card)
    if problems:
        raise CardError("; ".join(problems[:5]))
    if card_schema_available():
        validate_card_against_schema(card)


def validate_card_against_schema(card: dict[str, Any]) -> None:
    global _validator
    if _validator is None:
        _validator = Draft6Validator(json.loads(SCHEMA_PATH.read_text()))
    stripped = {k: v for k, v in card.items() if k != "msteams"}
    errors = sorted(_validator.iter_errors(stripped), key=lambda e: list(e.path))
    if errors:
        raise CardError("; ".join(f"{list(e.path)}: {e.message[:300]}" for e in errors[:5]))


def inputs_of(node: Any) -> list[dict[str, Any]]:
    """Every input on a card, those inside Action.ShowCard included."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if str(node.get("type", "")).startswith("Input."):
            found.append(node)
        for value in node.values():
            found.extend(inputs_of(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(inputs_of(value))
    return found


def cards_in(activity: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        a["content"]
        for a in activity.get("attachments") or []
        if isinstance(a, dict) and a.get("contentType") == CARD
    ]


@dataclass
class Sent:
    conversation_id: str
    activity_id: str
    activity: dict[str, Any]
    authorization: str | None
    updates: int = 0


@dataclass
class Fault:
    status: int
    retry_after: str | None = None


@dataclass
class FakeTeams:
    sent: list[Sent] = field(default_factory=list)
    updates: list[Sent] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    key_faults: int = 0
    metadata_fetches: int = 0
    blocked: set[str] = field(default_factory=set)  # conversation ids that answer 403
    files: dict[str, bytes] = field(default_factory=dict)
    file_authorizations: dict[str, str | None] = field(default_factory=dict)
    tokens_issued: int = 0
    # The client secret Entra ID accepts now: a test revokes the bot's by changing it.
    app_password: str = APP_PASSWORD
    # Benchmarks turn schema validation off: it costs the fake more than the bot's work.
    validate: bool = True
    root: str = ""
    # The same server over https, reached by Teams' host names (see go_secure).
    secure_port: int = 0
    secure: bool = False
    redirects: dict[str, str] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _secure_runner: web.AppRunner | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    async def start(self) -> FakeTeams:
        app = web.Application()
        app.router.add_post("/emea/v3/conversations/{cid}/activities", self._send)
        app.router.add_put("/emea/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_get("/emea/v3/attachments/{name}/views/original", self._file)
        app.router.add_get("/sharepoint/{name}", self._file)
        # A OneDrive for Business download address, as file download info gives it.
        app.router.add_get("/personal/{user}/_layouts/15/download.aspx", self._onedrive_file)
        app.router.add_get("/v1/objects/{name}/views/imgo", self._file)
        app.router.add_get("/moved/{name}", self._redirect)
        app.router.add_get("/openid", self._openid)
        app.router.add_get("/keys", self._keys)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        self._runner, self.root = await serve_locally(app)
        self._secure_runner = web.AppRunner(app, access_log=None)
        await self._secure_runner.setup()
        secure_site = web.TCPSite(
            self._secure_runner, "127.0.0.1", 0, ssl_context=certificate().server_context()
        )
        await secure_site.start()
        self.secure_port = self._secure_runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._secure_runner is not None:
            await self._secure_runner.cleanup()
        if self._runner is not None:
            await self._runner.cleanup()

    def network(
        self,
        names: Mapping[str, str] | None = None,
        *,
        trust_this_server: bool = True,
    ) -> FileNetwork:
        """How a bot reaches the fake by Teams' host names: a resolver that puts each at this
        server (or at the addresses `names` gives, port 443), trusting the test's certificate.
        The fake is on this machine, an address the bot refuses for files: only its own port
        there is vouched for, and only if `trust_this_server`."""
        resolved = {host: (str(LOOPBACK), self.secure_port) for host in TEAMS_HOSTS}
        resolved.update({host: (address, 443) for host, address in (names or {}).items()})
        return FileNetwork(
            resolver=MappedResolver(resolved),
            ssl=certificate().client_context(),
            vouched_for=(
                frozenset({(LOOPBACK, self.secure_port)}) if trust_this_server else frozenset()
            ),
        )

    def go_secure(self) -> FileNetwork:
        """From now on the fake is Teams as a registered bot sees it: its service URL is the
        Bot Connector's own (https://smba.trafficmanager.net/emea/), and files are on OneDrive."""
        self.secure = True
        return self.network()

    @property
    def service_url(self) -> str:
        if self.secure:
            return f"https://{CONNECTOR_HOST}/emea/"
        return f"{self.root}/emea/"

    @property
    def metadata_url(self) -> str:
        return f"{self.root}/openid"

    # --- what tests use -------------------------------------------------------------------

    def token(
        self,
        *,
        audience: str = APP_ID,
        issuer: str = ISSUER,
        expires_in: int = 3600,
        service_url: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
        key_id: str = KEY_ID,
        vouch_for_service_url: bool = True,
    ) -> str:
        """A bearer token as the Bot Connector signs it for a request to the bot."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "iat": now - 10,
            "nbf": now - 10,
            "exp": now + expires_in,
        }
        if vouch_for_service_url:
            claims["serviceurl"] = service_url or self.service_url
        return jwt.encode(claims, key or self._key, algorithm="RS256", headers={"kid": key_id})

    def conversation_of(self, aad: str) -> str:
        return f"a:1personal-{aad}"

    def to(self, aad: str) -> list[Sent]:
        conversation = self.conversation_of(aad)
        return [s for s in self.sent if s.conversation_id == conversation]

    def cards_to(self, aad: str) -> list[dict[str, Any]]:
        """Each card in this person's chat as it shows now (sent, then updated), oldest first."""
        return [c for s in self.to(aad) for c in cards_in(s.activity)]

    def add_file(self, name: str, content: bytes, inline: bool = False) -> str:
        """A file a person sent: a pasted image (`inline`, under the service URL) or a file
        shared from their OneDrive; its address as the activity gives it."""
        self.files[name] = content
        if inline:
            return f"{self.service_url}v3/attachments/{quote(name)}/views/original"
        if self.secure:
            return (
                f"https://{ONEDRIVE_HOST}/personal/robin_contoso_com/_layouts/15/download.aspx"
                f"?UniqueId={quote(name)}&Translate=false&tempauth=pre-authorised&ApiVersion=2.0"
            )
        return f"{self.root}/sharepoint/{quote(name)}?tempauth=pre-authorised"

    def add_redirect(self, name: str, to: str, host: str = ONEDRIVE_HOST) -> str:
        """An address on `host` that redirects (302) to `to`."""
        self.redirects[name] = to
        return f"https://{host}/moved/{quote(name)}"

    async def wait_for(
        self, condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
    ) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; sent: "
                    f"{[(s.conversation_id, s.activity.get('summary')) for s in self.sent]}"
                )
            await asyncio.sleep(0.02)

    # --- the server -----------------------------------------------------------------------

    def _check(self, activity: dict[str, Any]) -> None:
        if not self.validate:
            return
        for card in cards_in(activity):
            try:
                validate_card(card)
            except CardError as error:
                self.invalid.append(str(error))
                raise

    async def _send(self, request: web.Request) -> web.StreamResponse:
        conversation = request.match_info["cid"]
        if self.faults:
            fault = self.faults.pop(0)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return web.json_response(
                {"error": {"code": "ServiceError", "message": "fake outage"}},
                status=fault.status,
                headers=headers,
            )
        if conversation in self.blocked:
            return web.json_response(
                {"error": {"code": "ConversationBlockedByUser", "message": "blocked"}},
                status=403,
            )
        activity = await request.json()
        try:
            self._check(activity)
        except CardError as error:
            return web.json_response({"error": {"code": "BadArgument", "message": str(error)}}, 400)
        activity_id = f"1:{next(self._ids)}"
        self.sent.append(
            Sent(conversation, activity_id, activity, request.headers.get("Authorization"))
        )
        return web.json_response({"id": activity_id}, status=201)

    async def _update(self, request: web.Request) -> web.StreamResponse:
        conversation, activity_id = request.match_info["cid"], request.match_info["aid"]
        if self.faults:
            fault = self.faults.pop(0)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return web.json_response(
                {"error": {"code": "ServiceError"}}, status=fault.status, headers=headers
            )
        if conversation in self.blocked:
            return web.json_response({"error": {"code": "ConversationBlockedByUser"}}, status=403)
        activity = await request.json()
        try:
            self._check(activity)
        except CardError as error:
            return web.json_response({"error": {"code": "BadArgument", "message": str(error)}}, 400)
        for sent in self.sent:
            if sent.conversation_id == conversation and sent.activity_id == activity_id:
                sent.activity = activity
                sent.updates += 1
                self.updates.append(
                    Sent(conversation, activity_id, activity, request.headers.get("Authorization"))
                )
                return web.json_response({"id": activity_id})
        return web.json_response({"error": {"code": "ActivityNotFound"}}, status=404)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """A pasted image (under the service URL) or a shared file's pre-authorised address:
        either way the fake notes what authorisation came with the request."""
        name = request.match_info["name"]
        self.file_authorizations[name] = request.headers.get("Authorization")
        content = self.files.get(name)
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content, content_type="application/octet-stream")

    async def _onedrive_file(self, request: web.Request) -> web.StreamResponse:
        name = request.query.get("UniqueId", "")
        if request.query.get("tempauth") != "pre-authorised":
            return web.json_response({"error": {"code": "accessDenied"}}, status=401)
        self.file_authorizations[name] = request.headers.get("Authorization")
        content = self.files.get(name)
        if content is None:
            return web.json_response({"error": {"code": "itemNotFound"}}, status=404)
        return web.Response(body=content, content_type="application/octet-stream")

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.file_authorizations[name] = request.headers.get("Authorization")
        raise web.HTTPFound(self.redirects[name])

    async def _openid(self, request: web.Request) -> web.StreamResponse:
        self.metadata_fetches += 1
        if self.key_faults:
            self.key_faults -= 1
            return web.Response(status=503)
        return web.json_response({"issuer": ISSUER, "jwks_uri": f"{self.root}/keys"})

    async def _keys(self, request: web.Request) -> web.StreamResponse:
        public = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        public.update({"kid": KEY_ID, "use": "sig", "endorsements": ["msteams"]})
        return web.json_response({"keys": [public]})

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if form.get("client_id") != APP_ID or form.get("client_secret") != self.app_password:
            return web.json_response({"error": "invalid_client"}, status=401)
        self.tokens_issued += 1
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3600, "access_token": f"bot-{uuid.uuid4().hex}"}
        )

    def expects_token(self, authorization: str | None) -> bool:
        return bool(authorization and authorization.startswith("Bearer bot-"))


# --- activities, shaped as Teams sends them ------------------------------------------------


def _base(fake: FakeTeams, aad: str, name: str, kind: str) -> dict[str, Any]:
    return {
        "type": kind,
        "id": f"f:{uuid.uuid4().hex}",
        "timestamp": "2026-11-28T10:00:00.000Z",
        "localTimestamp": "2026-11-28T10:00:00.000+00:00",
        "channelId": "msteams",
        "serviceUrl": fake.service_url,
        "from": {"id": f"29:1user-{aad}", "name": name, "aadObjectId": aad},
        "conversation": {
            "conversationType": "personal",
            "tenantId": TENANT,
            "id": fake.conversation_of(aad),
        },
        "recipient": {"id": f"28:{APP_ID}", "name": "socialdesk"},
        "channelData": {"tenant": {"id": TENANT}},
        "locale": "en-GB",
    }


def install(
    fake: FakeTeams, aad: str, name: str = "A Teacher", action: str = "add"
) -> dict[str, Any]:
    activity = _base(fake, aad, name, "installationUpdate")
    activity["action"] = action
    return activity


def message(
    fake: FakeTeams,
    aad: str,
    text: str,
    name: str = "A Teacher",
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    activity = _base(fake, aad, name, "message")
    activity["text"] = text
    activity["textFormat"] = "plain"
    if attachments:
        activity["attachments"] = attachments
    return activity


def dialog_invoke(
    fake: FakeTeams, aad: str, name: str, fetch: bool, data: dict[str, Any]
) -> dict[str, Any]:
    """A dialog (task module) being opened (task/fetch) or submitted (task/submit)."""
    activity = _base(fake, aad, name, "invoke")
    activity["name"] = "task/fetch" if fetch else "task/submit"
    activity["value"] = {"data": data, "context": {"theme": "default"}}
    return activity


def card_action(
    fake: FakeTeams,
    aad: str,
    verb: str,
    data: dict[str, Any],
    reply_to_id: str | None = None,
    name: str = "A Teacher",
) -> dict[str, Any]:
    activity = _base(fake, aad, name, "invoke")
    activity["name"] = "adaptiveCard/action"
    activity["value"] = {
        "action": {"type": "Action.Execute", "verb": verb, "data": data},
        "trigger": "manual",
    }
    if reply_to_id:
        activity["replyToId"] = reply_to_id
    return activity
