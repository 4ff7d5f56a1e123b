"""Run deploy/nginx/socialdesk.conf in front of a running socialdesk and talk to it over HTTPS as
Slack and Teams would. Started by scripts/check-deploy.sh, which installs nginx if it is absent.

Everything runs on this machine, in a temporary folder removed at the end: a self-signed
certificate, nginx with the shipped site configuration (only its ports and certificate paths
changed), the bot (`socialdesk serve`, SQLite) with Slack pointed at the tests' fake Web API
and Teams registered with an app id whose Bot Connector is the tests' fake, so that each
activity carries a signed token, as in production. (Local mode, Teams without an app id,
refuses whatever comes through a proxy, by design.) Exits 1 on any failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack import FakeSlack
from tests.fakes.teams import APP_ID, APP_PASSWORD, TENANT, FakeTeams, message
from tests.harness import command_body

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "deploy" / "nginx" / "socialdesk.conf"
SIGNING_SECRET = "deploy-check-signing-secret"
TEACHER_AAD = "00000000-0000-0000-0000-0000000c0001"


class CheckFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def site_for_this_machine(bot_port: int, https_port: int, cert: Path, key: Path) -> str:
    """The shipped site with this machine's ports and certificate; nothing else changes."""
    site = SITE.read_text()
    changes = {
        "server 127.0.0.1:3978;": f"server 127.0.0.1:{bot_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "listen [::]:443 ssl;": "",
        "/etc/letsencrypt/live/bot.example.sch.uk/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/bot.example.sch.uk/privkey.pem": str(key),
    }
    for old, new in changes.items():
        if site.count(old) != 1:
            raise CheckFailed(f"{SITE} no longer has {old!r} once: update this check with it")
        site = site.replace(old, new)
    return site


def nginx_main_config(folder: Path, site: Path) -> Path:
    temp = folder / "nginx-temp"
    temp.mkdir()
    config = folder / "nginx.conf"
    config.write_text(
        f"""
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/nginx-access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {site};
}}
"""
    )
    return config


async def wait_until(check: Callable[[], Any], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if await check():
                return
        except (aiohttp.ClientError, OSError):
            pass
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def bot_environment(folder: Path, port: int, slack: FakeSlack, teams: FakeTeams) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "SOCIALDESK_", "MICROSOFT_", "DATABASE_URL"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{folder}/socialdesk.db",
        HOST="127.0.0.1",
        PORT=str(port),
        SOCIALDESK_CONFIG=str(ROOT / "socialdesk.example.yaml"),
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.base_url,
        MICROSOFT_APP_ID=APP_ID,
        MICROSOFT_APP_PASSWORD=APP_PASSWORD,
        MICROSOFT_APP_TENANT_ID=TENANT,
        MICROSOFT_OPENID_METADATA_URL=teams.metadata_url,
        MICROSOFT_LOGIN_URL=teams.root,
    )
    return env


def slack_headers(body: bytes, secret: str = SIGNING_SECRET) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(
            timestamp=stamp, body=body
        ),
    }


class Checks:
    def __init__(self, http: aiohttp.ClientSession, public: str, private: str) -> None:
        self.http = http
        self.public = public
        self.private = private
        self.failures: list[str] = []

    def expect(self, ok: bool, what: str, detail: str = "") -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {what}" + ("" if ok else f": {detail}"), flush=True)
        if not ok:
            self.failures.append(what)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        async with self.http.post(self.public + path, data=body, headers=headers) as reply:
            return reply.status, await reply.text()

    async def get(self, url: str) -> tuple[int, str]:
        async with self.http.get(url) as reply:
            return reply.status, await reply.text()

    async def slack(self) -> None:
        body = command_body("/policy", "U0TEACH").encode()
        status, text = await self.post("/slack/events", body, slack_headers(body))
        answer = json.loads(text) if status == 200 else {}
        self.expect(
            status == 200
            and answer.get("response_type") == "ephemeral"
            and "/post" in json.dumps(answer),
            "a signed Slack /policy through nginx gets the bot's private answer",
            f"{status} {text[:300]}",
        )
        status, text = await self.post("/slack/events", body, slack_headers(body, "wrong"))
        self.expect(status == 401, "a badly signed Slack request gets 401", f"{status}")

    async def teams(self, fake: FakeTeams) -> None:
        activity = json.dumps(message(fake, TEACHER_AAD, "help")).encode()
        headers = {"Content-Type": "application/json"}
        signed = {**headers, "Authorization": f"Bearer {fake.token()}"}
        status, _ = await self.post("/api/messages", activity, signed)
        self.expect(status == 200, "a Bot Framework activity through nginx gets 200", f"{status}")
        answered = "the bot answered that activity through the Bot Connector"
        try:
            await fake.wait_for(lambda: bool(fake.to(TEACHER_AAD)), what="the bot's reply")
            self.expect(True, answered)
        except AssertionError as error:
            self.expect(False, answered, str(error))
        status, _ = await self.post("/api/messages", activity, headers)
        self.expect(
            status == 401, "an activity without the Bot Connector's token gets 401", f"{status}"
        )

    async def only_public_paths(self) -> None:
        for path, expected in (("/healthz", 404), ("/", 404), ("/slack/events", 403)):
            status, _ = await self.get(self.public + path)
            refused = f"GET {path} from outside is refused ({expected})"
            self.expect(status == expected, refused, f"{status}")
        status, text = await self.get(self.private + "/healthz")
        self.expect(status == 200, "/healthz answers on the machine itself", f"{status} {text}")
        big = b"payload=" + b"x" * (1024 * 1024)
        status, _ = await self.post("/slack/events", big, slack_headers(big))
        self.expect(status == 413, "a body over 1 MiB is refused by nginx (413)", f"{status}")

    def database_private(self, folder: Path) -> None:
        for name in ("socialdesk.db", "socialdesk.db-wal", "socialdesk.db-shm"):
            path = folder / name
            mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
            shown = oct(mode) if mode is not None else "missing"
            self.expect(mode == 0o600, f"{name} is readable by its owner only", shown)


def prepare(folder: Path, nginx: str, bot_port: int, https_port: int) -> tuple[Path, Path]:
    """The certificate and nginx's configuration, checked by nginx -t."""
    folder.chmod(0o755)  # nginx's workers (another user) enter it; the key is read as root
    cert, key = self_signed_certificate(folder)
    site = folder / "socialdesk.conf"
    site.write_text(site_for_this_machine(bot_port, https_port, cert, key))
    config = nginx_main_config(folder, site)
    tested = subprocess.run(
        [nginx, "-t", "-p", str(folder), "-c", str(config)], capture_output=True, text=True
    )
    if tested.returncode != 0:
        raise CheckFailed(f"nginx -t refused the configuration:\n{tested.stderr}")
    print("ok   nginx -t accepts deploy/nginx/socialdesk.conf", flush=True)
    return config, cert


async def stop(process: asyncio.subprocess.Process | None) -> None:
    if process is None or process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 20)
    except TimeoutError:
        process.kill()
        await process.wait()


async def run(folder: Path, nginx: str, config: Path, cert: Path, ports: tuple[int, int]) -> int:
    bot_port, https_port = ports
    state = folder / "state"
    slack, teams = await FakeSlack().start(), await FakeTeams().start()
    bot_log = folder / "bot.log"
    with bot_log.open("wb") as log:
        bot = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("socialdesk")),
            "serve",
            cwd=state,
            env=bot_environment(state, bot_port, slack, teams),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    proxy: asyncio.subprocess.Process | None = None
    context = ssl.create_default_context(cafile=str(cert))
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context), timeout=aiohttp.ClientTimeout(total=20)
        ) as http:
            checks = Checks(http, f"https://localhost:{https_port}", f"http://127.0.0.1:{bot_port}")

            async def bot_healthy() -> bool:
                if bot.returncode is not None:
                    raise CheckFailed(f"socialdesk serve exited ({bot.returncode})")
                return (await checks.get(checks.private + "/healthz"))[0] == 200

            await wait_until(bot_healthy, "socialdesk serve to answer /healthz")
            proxy = await asyncio.create_subprocess_exec(
                nginx, "-p", str(folder), "-c", str(config), "-g", "daemon off;",
                stdout=asyncio.subprocess.DEVNULL,
            )  # fmt: skip

            async def proxy_listening() -> bool:
                if proxy is not None and proxy.returncode is not None:
                    raise CheckFailed(f"nginx exited ({proxy.returncode})")
                return (await checks.get(checks.public + "/"))[0] == 404

            await wait_until(proxy_listening, "nginx to answer over https")
            await checks.slack()
            await checks.teams(teams)
            await checks.only_public_paths()
            checks.database_private(state)
            failures = checks.failures
    except CheckFailed as error:
        failures = [str(error)]
        print(f"FAIL {error}", flush=True)
    finally:
        await stop(proxy)
        await stop(bot)
        await slack.stop()
        await teams.stop()
    if failures:
        for name in ("bot.log", "nginx-error.log"):
            path = folder / name
            if path.exists():
                tail = "\n".join(path.read_text().splitlines()[-30:])
                print(f"--- {name} (last lines)\n{tail}")
        print(f"deploy check failed: {len(failures)} failure(s)")
        return 1
    if bot.returncode != 0:
        print(f"deploy check failed: socialdesk serve stopped with {bot.returncode}")
        return 1
    print("deploy check passed")
    return 0


def main() -> int:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    ports = (free_port(), free_port())
    with tempfile.TemporaryDirectory(prefix="socialdesk-deploy-") as tmp:
        folder = Path(tmp)
        (folder / "state").mkdir(mode=0o700)
        try:
            config, cert = prepare(folder, nginx, *ports)
        except CheckFailed as error:
            print(f"FAIL {error}\ndeploy check failed")
            return 1
        return asyncio.run(run(folder, nginx, config, cert, ports))


if __name__ == "__main__":
    sys.exit(main())
