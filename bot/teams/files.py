"""Fetching the files people send the bot in Teams, from where Teams keeps them and nowhere else.

An attachment's address comes in the activity, so whoever can shape an activity could point
the bot anywhere: at a service inside the school's network, at the cloud's metadata address, or
at a page that is not a photo at all. So a file is fetched only over https, only from a host on
the allow-list (TEAMS_FILE_HOSTS), never from a loopback, private or link-local address (the
address a name resolves to is checked, at every redirect, which the fetcher follows itself),
and it is kept only when its first bytes are the type it claims to be.

Local mode (no app id: the Bot Framework Emulator, tests) keeps its own rule instead: files
come from this machine only.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from bot.settings import host_allowed
from bot.teams.connector import ConnectorError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_REDIRECTS = 3
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=30)
_REDIRECTS = (301, 302, 303, 307, 308)


class FileRefused(Exception):
    """The file was not fetched, or not kept, for a reason a person can be told plainly."""


@dataclass(frozen=True)
class FileNetwork:
    """How file hosts are reached: the system's DNS and certificate store unless told
    otherwise. `resolver` and `ssl` let a deployment (or a test) say where names are and
    which certificates to trust; `vouched_for` are private addresses and ports it vouches for
    as a file host (a test's own server), which are otherwise refused."""

    resolver: AbstractResolver | None = None
    ssl: ssl.SSLContext | None = None
    vouched_for: frozenset[tuple[IPAddress, int]] = field(default_factory=frozenset)


def _address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


# Addresses Python 3.11's `is_global` counts as public although they reach an IPv4 address
# (or a network) of another kind: NAT64 and 6to4 carry an IPv4 address inside, the
# IPv4-compatible and translated forms are one, site-local is the old private IPv6, and
# 192.0.0.0/24 is reserved for protocol assignments.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(block)
    for block in (
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2002::/16",
        "::/96",
        "::ffff:0:0:0/96",
        "fec0::/10",
        "192.0.0.0/24",
    )
)


def is_public(address: IPAddress) -> bool:
    """An address on the internet: not loopback, private, link-local (the cloud's metadata
    service at 169.254.169.254 among them), shared, reserved, multicast or unspecified, nor an
    IPv6 form that carries another address inside."""
    if any(address in block for block in _NOT_PUBLIC if block.version == address.version):
        return False
    return address.is_global and not address.is_multicast


def is_loopback(address: IPAddress) -> bool:
    return address.is_loopback


class GuardedResolver(AbstractResolver):
    """Resolves as `inner` does, and refuses a name whose addresses are not all allowed: the
    connection is then never made. Checked at every connection, so at every redirect."""

    def __init__(self, inner: AbstractResolver, allowed: Callable[[IPAddress, int], bool]) -> None:
        self._inner = inner
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = _address(str(result["host"]))
            if address is None or not self._allowed(address, int(result["port"])):
                raise AddressRefused(f"{host} is at {result['host']}, a private or local address")
        return results

    async def close(self) -> None:
        await self._inner.close()


class AddressRefused(OSError):
    """Raised from the resolver, so aiohttp hands it back inside its connection error."""


TokenFor = Callable[[str], Awaitable[dict[str, str]]]


class FileFetcher:
    """Fetches a file Teams named, following redirects one hop at a time."""

    def __init__(
        self,
        allowed_hosts: Collection[str],
        network: FileNetwork | None = None,
        *,
        local_mode: bool = False,
    ) -> None:
        network = network or FileNetwork()
        self._hosts = tuple(allowed_hosts)
        self._local_mode = local_mode
        self._vouched_for = network.vouched_for
        self._network = network
        self._session: aiohttp.ClientSession | None = None

    def _address_allowed(self, address: IPAddress, port: int) -> bool:
        if self._local_mode:
            return is_loopback(address)
        return is_public(address) or (address, port) in self._vouched_for

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running event loop.
        if self._session is None:
            inner = self._network.resolver or DefaultResolver()
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(inner, self._address_allowed),
                ssl=self._network.ssl if self._network.ssl is not None else True,
            )
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def check(self, url: str) -> None:
        """Refuses an address the bot must not fetch from, before any connection."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host:
            raise FileRefused("Teams gave no address to fetch it from")
        literal = _address(host)
        if self._local_mode:
            # Unverified requests may name anything: only this machine is asked.
            if parts.scheme not in ("http", "https"):
                raise FileRefused(f"its address is not a web address ({parts.scheme}:)")
            if host != "localhost" and (literal is None or not literal.is_loopback):
                raise FileRefused("in local mode files come from this machine only")
            return
        if parts.scheme != "https":
            raise FileRefused(f"its address is not a secure (https) one: {_shown(url)}")
        if parts.username or parts.password:
            raise FileRefused(f"its address carries a user name: {_shown(url)}")
        if literal is not None:
            if not self._address_allowed(literal, parts.port or 443):
                raise FileRefused(f"its address is a private one: {host}")
            if not host_allowed(host, self._hosts):
                raise FileRefused(f"{host} is not a place Teams keeps files")
            return
        if not host_allowed(host, self._hosts):
            raise FileRefused(f"{host} is not a place Teams keeps files")

    async def fetch(self, url: str, max_bytes: int, token_for: TokenFor) -> bytes:
        """The file's bytes. Raises FileRefused for an address or redirect the bot must not
        follow, ConnectorError for a host that did not give the file (status 0: unreachable)."""
        hop = url
        for _ in range(MAX_REDIRECTS + 1):
            self.check(hop)
            headers = await token_for(hop)
            try:
                async with self._http().get(
                    hop, headers=headers, allow_redirects=False, timeout=FETCH_TIMEOUT
                ) as answer:
                    if answer.status in _REDIRECTS:
                        location = answer.headers.get("Location")
                        if not location:
                            raise ConnectorError(answer.status, "a redirect with no Location")
                        hop = urljoin(hop, location)
                        continue
                    if answer.status != 200:
                        raise ConnectorError(
                            answer.status,
                            "the file could not be fetched",
                            answer.headers.get("Retry-After"),
                        )
                    content = await _read_at_most(answer, max_bytes)
            except aiohttp.ClientConnectorError as error:
                refused = error.os_error
                if isinstance(refused, AddressRefused):
                    raise FileRefused(str(refused)) from error
                raise ConnectorError(0, f"cannot fetch the file: {error!r}") from error
            except (aiohttp.ClientError, TimeoutError) as error:
                raise ConnectorError(0, f"cannot fetch the file: {error!r}") from error
            if content is None:
                raise FileRefused(f"it is larger than {max_bytes // (1024 * 1024)} MB")
            return content
        raise FileRefused(f"its address redirected more than {MAX_REDIRECTS} times")


async def _read_at_most(answer: aiohttp.ClientResponse, max_bytes: int) -> bytes | None:
    """The whole body, or None once it runs past `max_bytes`. (A single read() returns what
    has arrived so far, which for a photo over TLS is its first few kilobytes.)"""
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _shown(url: str) -> str:
    """An address as told to a person: scheme and host, never the query's pre-authorisation."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:120]


# --- is it what it says it is -------------------------------------------------------------

# The types socialdesk keeps: photos and films for drafts, screenshots and PDFs for reports.
KEPT_TYPES = {
    "image/jpeg": "a JPEG photo",
    "image/png": "a PNG image",
    "image/gif": "a GIF image",
    "image/webp": "a WebP image",
    "image/heic": "a HEIC photo",
    "image/heif": "a HEIF photo",
    "video/mp4": "an MP4 video",
    "video/quicktime": "a QuickTime (MOV) video",
    "application/pdf": "a PDF",
}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_MP4_BRANDS = {
    b"isom",
    b"iso2",
    b"iso4",
    b"iso5",
    b"iso6",
    b"mp41",
    b"mp42",
    b"avc1",
    b"M4V ",
    b"M4VP",
    b"dash",
    b"MSNV",
    b"3gp4",
    b"3gp5",
    b"3g2a",
}
# QuickTime files older than the ftyp box start with one of these atoms.
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def content_type_of(content: bytes) -> str | None:
    """The kept type `content` is, by its magic number; None for anything else."""
    head = content[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "image/heif" if brand in (b"mif1", b"msf1") else "image/heic"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in _MP4_BRANDS:
            return "video/mp4"
        return None
    if head[4:8] in _QUICKTIME_ATOMS:
        return "video/quicktime"
    return None


def type_problem(claimed: str, content: bytes) -> str | None:
    """Why `content` is not kept as `claimed`, in words for the sender; None when it is."""
    claimed = claimed.lower().split(";", 1)[0].strip()
    found = content_type_of(content)
    if claimed == "image/*":
        # A pasted picture: Teams names no type, so any kept image type will do.
        if found is not None and found.startswith("image/"):
            return None
        return "it is not a photo or image socialdesk can keep (JPEG, PNG, GIF, WebP or HEIC)"
    if claimed not in KEPT_TYPES:
        return (
            "socialdesk keeps photos (JPEG, PNG, GIF, WebP, HEIC), videos (MP4, MOV) and PDFs only"
        )
    if found == claimed or {found, claimed} <= {"image/heic", "image/heif"}:
        return None
    if {found, claimed} <= {"video/mp4", "video/quicktime"}:
        # The two share one container format; phones label either way.
        return None
    return f"its content is not {KEPT_TYPES[claimed]}, as its name says"
