"""Files people send the bot in Teams are fetched only from where Teams keeps them.

Only https; only from a host on TEAMS_FILE_HOSTS (by default SharePoint/OneDrive, the Bot
Connector and Teams' media service); never from a loopback, private or link-local address,
checked as the name resolves and at every redirect; and a file is kept only when its bytes are
the type it claims. A file refused is named to its sender with the reason, and the draft goes
on without it. The bot reaches the fake's https server by Teams' own host names through a
resolver the test gives it, trusting a certificate made for the test.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest

from bot.settings import DEFAULT_TEAMS_FILE_HOSTS, Settings, SettingsError, TeamsSettings
from bot.store.models import Attachment, Post
from bot.teams.files import FileNetwork, content_type_of
from tests.conftest import BotFactory
from tests.fakes.teams import (
    FILES_HOST,
    JPEG,
    MEDIA_HOST,
    ONEDRIVE_HOST,
    PNG,
    FakeTeams,
    MappedResolver,
)
from tests.harness import RunningBot, eventually
from tests.teams_client import SAM, TEACHER, TeamsUser, draft_inputs, registered, texts_of

Json = dict[str, Any]
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
HTML = b"<!doctype html><title>Sign in</title>"


def on_files_host(fake: FakeTeams, name: str, content: bytes, host: str = FILES_HOST) -> str:
    """A file on a SharePoint site, at the address file download info would give."""
    fake.files[name] = content
    return f"https://{host}/sharepoint/{quote(name)}?tempauth=pre-authorised"


def shared(name: str, url: str, file_type: str) -> Json:
    """A file sent from OneDrive in a personal chat, as Teams announces it."""
    return {
        "contentType": "application/vnd.microsoft.teams.file.download.info",
        "contentUrl": f"https://{ONEDRIVE_HOST}/personal/robin_contoso_com/Documents/{name}",
        "name": name,
        "content": {"downloadUrl": url, "uniqueId": str(uuid.uuid4()), "fileType": file_type},
    }


def pasted(url: str, content_type: str = "image/png") -> Json:
    return {"contentType": content_type, "contentUrl": url}


async def start(
    start_bot: BotFactory,
    fake: FakeTeams,
    names: Mapping[str, str] | None = None,
    *,
    trust_this_server: bool = True,
    teams: TeamsSettings | None = None,
) -> tuple[RunningBot, FileNetwork]:
    fake.go_secure()
    network = fake.network(names, trust_this_server=trust_this_server)
    bot = await start_bot(teams=teams or registered(fake), teams_network=network)
    return bot, network


async def send_draft(bot: RunningBot, fake: FakeTeams, attachments: list[Json]) -> TeamsUser:
    """The teacher sends `post` with the files and sends the form for approval."""
    token = fake.token()
    sam = TeamsUser(bot, fake, SAM, "Sam Network")
    teacher = TeamsUser(bot, fake, TEACHER, "Robin Teacher")
    await sam.install(token)
    await teacher.install(token)
    await teacher.say("post", attachments, token)
    sent, form = teacher.last_card()
    answer = await teacher.click(
        form, "Send for approval", draft_inputs(), reply_to=sent, token=token
    )
    assert "sent for approval" in texts_of(answer["value"])
    return teacher


async def settled(bot: RunningBot, count: int) -> list[Attachment]:
    async def done() -> bool:
        rows = await bot.rows(Attachment)
        return len(rows) == count and all(r.status in ("kept", "failed") for r in rows)

    await eventually(done, what=f"{count} files fetched or refused")
    rows: list[Attachment] = await bot.rows(Attachment)
    return rows


async def told(fake: FakeTeams, who: TeamsUser, name: str) -> str:
    """What the sender was told about the file `name`."""

    def notice() -> list[str]:
        return [
            str(s.activity.get("text"))
            for s in who.messages
            if f"did not keep the file {name} " in str(s.activity.get("text"))
        ]

    await fake.wait_for(lambda: bool(notice()), what=f"the sender told about {name}")
    (text,) = notice()
    assert "The rest of what you sent went ahead without it." in text
    return text


async def refused_alone(
    bot: RunningBot, fake: FakeTeams, name: str, attachment: Json, reason: str
) -> None:
    """The file `name` is refused for `reason`, and a good photo beside it is kept, and the
    draft still goes to the approver."""
    good = on_files_host(fake, "good.jpg", JPEG + b"kept")
    teacher = await send_draft(bot, fake, [attachment, shared("good.jpg", good, "jpg")])
    rows = {r.name: r for r in await settled(bot, 2)}
    assert rows[name].status == "failed" and rows[name].content is None
    assert rows["good.jpg"].status == "kept"
    assert reason in await told(fake, teacher, name)
    assert await bot.count(Post) == 1


async def test_a_file_on_an_allowed_host_is_fetched_over_https_through_the_resolver(
    start_bot: BotFactory, fake_teams: FakeTeams
) -> None:
    bot, network = await start(start_bot, fake_teams)
    # A photo as a phone takes it: far larger than one read of the connection gives.
    photo = JPEG + random.Random(14).randbytes(3 * 1024 * 1024)
    url = on_files_host(fake_teams, "class-photo.jpg", photo)
    teacher = await send_draft(bot, fake_teams, [shared("class-photo.jpg", url, "jpg")])
    (row,) = await settled(bot, 1)
    assert row.status == "kept"
    assert row.content == photo
    assert isinstance(network.resolver, MappedResolver)
    assert FILES_HOST in network.resolver.asked
    # A shared file's address is pre-authorised: the bot's token never goes to its host.
    assert fake_teams.file_authorizations["class-photo.jpg"] is None
    assert not [s for s in teacher.messages if "did not keep" in str(s.activity.get("text"))]


async def test_redirects_are_followed_one_checked_hop_at_a_time(
    start_bot: BotFactory, fake_teams: FakeTeams
) -> None:
    bot, _ = await start(start_bot, fake_teams)
    fake_teams.files["trip.png"] = PNG + b"trip"
    media = f"https://{MEDIA_HOST}/v1/objects/trip.png/views/imgo"
    moved = fake_teams.add_redirect("trip-moved", media)
    await send_draft(bot, fake_teams, [shared("trip.png", moved, "png")])
    (row,) = await settled(bot, 1)
    assert (row.status, row.content) == ("kept", PNG + b"trip")


async def test_a_plain_http_address_is_refused(
    start_bot: BotFactory, fake_teams: FakeTeams
) -> None:
    bot, _ = await start(start_bot, fake_teams)
    fake_teams.files["plain.png"] = PNG
    url = f"http://{FILES_HOST}/sharepoint/plain.png"
    await refused_alone(bot, fake_teams, "photo-1.png", pasted(url), "not a secure (https) one")
    assert "plain.png" not in fake_teams.file_authorizations


async def test_a_host_not_on_the_list_is_refused_before_it_is_looked_up(
    start_bot: BotFactory, fake_teams: FakeTeams
) -> None:
    bot, network = await start(start_bot, fake_teams)
    url = "https://files.contoso-evil.example/x.png"
    reason = "files.contoso-evil.example is not a place Teams keeps files"
    await refused_alone(bot, fake_teams, "photo-1.png", pasted(url), reason)
    assert isinstance(network.resolver, MappedResolver)
    assert "files.contoso-evil.example" not in network.resolver.asked


async def test_the_file_hosts_are_a_setting(start_bot: BotFactory, fake_teams: FakeTeams) -> None:
    only_onedrive = replace(registered(fake_teams), file_hosts=(ONEDRIVE_HOST,))
    bot, _ = await start(start_bot, fake_teams, teams=only_onedrive)
    url = on_files_host(fake_teams, "team-site.jpg", JPEG)
    await send_draft(bot, fake_teams, [shared("team-site.jpg", url, "jpg")])
    (row,) = await settled(bot, 1)
    assert row.status == "failed"
    assert f"{FILES_HOST} is not a place Teams keeps files" in await told(
        fake_teams, TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher"), "team-site.jpg"
    )


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.20.30.40",
        "192.168.1.10",
        "169.254.169.254",
        "::1",
        "fd00::5",
        "::ffff:10.0.0.1",
        # IPv6 forms that carry another address inside (NAT64, 6to4, IPv4-compatible), the old
        # site-local range, and IPv4's protocol assignments: Python's is_global passes them.
        "64:ff9b::7f00:1",
        "2002:7f00:1::1",
        "::127.0.0.1",
        "fec0::1",
        "192.0.0.8",
    ],
)
async def test_an_allowed_name_at_a_private_address_is_refused(
    start_bot: BotFactory, fake_teams: FakeTeams, address: str
) -> None:
    # The fake itself is on 127.0.0.1: here it is not vouched for, as no real host would be.
    bot, _ = await start(
        start_bot, fake_teams, {FILES_HOST: address, "cdn.contoso.sharepoint.com": "52.108.0.1"}
    )
    url = on_files_host(fake_teams, "inside.png", PNG)
    good = on_files_host(fake_teams, "good.jpg", JPEG + b"kept", host=ONEDRIVE_HOST)
    teacher = await send_draft(
        bot, fake_teams, [shared("inside.png", url, "png"), shared("good.jpg", good, "jpg")]
    )
    rows = {r.name: r for r in await settled(bot, 2)}
    assert rows["inside.png"].status == "failed"
    assert rows["good.jpg"].status == "kept"
    assert f"{FILES_HOST} is at {address}, a private or local address" in await told(
        fake_teams, teacher, "inside.png"
    )
    assert "inside.png" not in fake_teams.file_authorizations


async def test_the_fakes_own_address_is_refused_unless_vouched_for(
    start_bot: BotFactory, fake_teams: FakeTeams
) -> None:
    bot, _ = await start(start_bot, fake_teams, trust_this_server=False)
    url = on_files_host(fake_teams, "here.png", PNG)
    await send_draft(bot, fake_teams, [shared("here.png", url, "png")])
    (row,) = await settled(bot, 1)
    assert row.status == "failed"
    assert "here.png" not in fake_teams.file_authorizations


@pytest.mark.parametrize(
    ("case", "to", "reason"),
    [
        ("a host not on the list", "https://attacker.example/x.png", "attacker.example is not"),
        ("plain http", f"http://{MEDIA_HOST}/v1/objects/x/views/imgo", "not a secure (https)"),
        ("a private address", "https://intranet.contoso.sharepoint.com/x.png", "10.0.0.7"),
        ("an address literal", "https://169.254.169.254/latest/meta-data/", "a private one"),
    ],
)
async def test_a_redirect_to_where_files_are_not_kept_is_refused(
    start_bot: BotFactory, fake_teams: FakeTeams, case: str, to: str, reason: str
) -> None:
    bot, _ = await start(start_bot, fake_teams, {"intranet.contoso.sharepoint.com": "10.0.0.7"})
    moved = fake_teams.add_redirect("moved", to)
    good = on_files_host(fake_teams, "good.jpg", JPEG + b"kept")
    teacher = await send_draft(
        bot, fake_teams, [shared("moved.png", moved, "png"), shared("good.jpg", good, "jpg")]
    )
    rows = {r.name: r for r in await settled(bot, 2)}
    assert rows["moved.png"].status == "failed", case
    assert rows["good.jpg"].status == "kept", case
    assert "moved" in fake_teams.file_authorizations  # the first hop was asked
    assert reason in await told(fake_teams, teacher, "moved.png"), case


@pytest.mark.parametrize(
    ("name", "file_type", "content", "reason"),
    [
        ("photo.png", "png", HTML, "its content is not a PNG image"),
        ("photo.jpg", "jpg", PNG, "its content is not a JPEG photo"),
        ("minutes.pdf", "pdf", JPEG, "its content is not a PDF"),
        ("assembly.mp4", "mp4", PDF, "its content is not an MP4 video"),
        ("setup.exe", "exe", b"MZ\x90\x00", "keeps photos (JPEG, PNG, GIF, WebP, HEIC), videos"),
    ],
)
async def test_a_file_is_kept_only_when_its_bytes_are_the_type_it_claims(
    start_bot: BotFactory,
    fake_teams: FakeTeams,
    name: str,
    file_type: str,
    content: bytes,
    reason: str,
) -> None:
    bot, _ = await start(start_bot, fake_teams)
    url = on_files_host(fake_teams, name, content)
    await refused_alone(bot, fake_teams, name, shared(name, url, file_type), reason)


async def test_a_pasted_image_is_fetched_from_the_bot_connector_with_the_bots_token(
    start_bot: BotFactory, fake_teams: FakeTeams
) -> None:
    bot, _ = await start(start_bot, fake_teams)
    inline = fake_teams.add_file("pasted", PNG + b"pasted", inline=True)
    assert inline.startswith("https://smba.trafficmanager.net/emea/v3/attachments/")
    # Teams names no type for a pasted picture: any image type it really is will do.
    await send_draft(bot, fake_teams, [pasted(inline, "image/*")])
    (row,) = await settled(bot, 1)
    assert (row.name, row.status) == ("photo-1", "kept")
    assert fake_teams.expects_token(fake_teams.file_authorizations["pasted"])


async def test_local_mode_fetches_from_this_machine_only(
    bot: RunningBot, fake_teams: FakeTeams
) -> None:
    here = fake_teams.add_file("here.png", PNG + b"here")
    assert here.startswith("http://127.0.0.1:")
    elsewhere = f"https://{FILES_HOST}/sharepoint/there.png"
    teacher = await send_draft(
        bot, fake_teams, [shared("here.png", here, "png"), shared("there.png", elsewhere, "png")]
    )
    rows = {r.name: r for r in await settled(bot, 2)}
    assert rows["here.png"].status == "kept"
    assert rows["there.png"].status == "failed"
    assert "in local mode files come from this machine only" in await told(
        fake_teams, teacher, "there.png"
    )


def test_teams_file_hosts_setting() -> None:
    env = {"MICROSOFT_APP_ID": "a", "MICROSOFT_APP_PASSWORD": "b", "MICROSOFT_APP_TENANT_ID": "t"}
    assert Settings.from_env(env).teams.file_hosts == DEFAULT_TEAMS_FILE_HOSTS
    given = Settings.from_env(
        {**env, "TEAMS_FILE_HOSTS": "contoso-my.sharepoint.com, *.Contoso.com"}
    )
    assert given.teams.file_hosts == ("contoso-my.sharepoint.com", "*.contoso.com")
    for bad in ("https://contoso.sharepoint.com", "*", "*.sharepoint.*", "host:443", "localhost"):
        with pytest.raises(SettingsError, match="TEAMS_FILE_HOSTS"):
            Settings.from_env({**env, "TEAMS_FILE_HOSTS": bad})


def test_magic_numbers() -> None:
    assert content_type_of(JPEG) == "image/jpeg"
    assert content_type_of(PNG) == "image/png"
    assert content_type_of(b"GIF89a\x01\x00") == "image/gif"
    assert content_type_of(b"RIFF\x24\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert content_type_of(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00") == "image/heic"
    assert content_type_of(MP4) == "video/mp4"
    assert content_type_of(b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00") == "video/quicktime"
    assert content_type_of(PDF) == "application/pdf"
    assert content_type_of(HTML) is None
    assert content_type_of(b"") is None
