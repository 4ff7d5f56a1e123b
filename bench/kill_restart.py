"""Nothing lost when the process dies: socialdesk killed with SIGKILL at random moments.

The real `socialdesk serve` runs in its own process against a fake Slack Web API and a fake
Bot Connector (Teams local mode), both in this process on ephemeral ports. Staff submit drafts
(some with a photo) and concern reports, ask policy questions and send them on, in Slack and
in Teams, while approvers approve, acknowledge and add notes; meanwhile the bot is killed
(SIGKILL: no clean shut-down) at random moments and started again. Reports are given six
seconds of working time to be acknowledged, so that their chase and escalation timers fire in
real time during the run.

A person whose request got no answer does what they would do: presses the same Submit or
button again until the bot answers. A question typed in a chat or a slash command is sent once:
Slack and Teams do not send those again.

Afterwards it checks, from the fakes and the database, and fails (exit status 1) if any fails:
- every action that got its answer is stored exactly once (one that got none, at most once);
- every message an answered action or a timer caused reached the fake Slack or Bot Connector
  (a draft's photo beneath each approver's card), nothing is left in the outbox, and each card
  shows the last change made to it (updates may repeat);
- a new message sent more than once was sent each time by a different life of the process:
  repeated at most once per kill that fell between sending it and recording it (counted);
- each report left unacknowledged was chased once and escalated once, and every timer that
  fired told the people it concerned.

Each life is forked from a process that has already imported the bot (the imports take two
seconds of the start-up; --cold starts each life as a new `python -m bot serve` instead). Items
in hand when a life is killed wait for their lease before another life sends them:
SOCIALDESK_DELIVERY_LEASE_SECONDS is set to 5 here, where the default is 5 minutes.

    .venv/bin/python -m bench.kill_restart [--kills 100] [--database sqlite|postgresql|both]

PostgreSQL needs TEST_DATABASE_URL (a fresh database is made and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import aiohttp
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bench.ack_latency import ROOT, _free_port, database, signed
from bot.handlers import reports
from bot.settings import normalise_database_url
from bot.store.models import (
    AuditEvent,
    HistoryRow,
    OutboxItem,
    PolicyQuestion,
    Post,
    PostVersion,
    Report,
    ReportEventRow,
)
from bot.teams import cards as adaptive
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import FakeTeams, card_action, cards_in, dialog_invoke, install, message
from tests.harness import (
    SIGNING_SECRET,
    click_payload,
    command_body,
    draft_payload,
    slack_file,
    view_payload,
)
from tests.report_samples import report_values
from tests.teams_client import action_titled, actions_of, draft_inputs, report_inputs, texts_of

Json = dict[str, Any]

SAM, NIA = "U0NETMGR", "U0NETDEP"
HEADS = ("U0COHEAD1", "U0COHEAD2")
DANA = "U0DSL"
CHAIR = "U0CHAIR"
TERRY = "00000000-0000-0000-0000-00000000d5a1"  # a DSL deputy who uses Teams only
# Who receives a pupil's friend request (the Network Managers and the DSLs), and whom it goes
# to when nobody acknowledges it in time (the Co-Headteachers).
PUPIL_REQUEST_TO = {("slack", SAM), ("slack", NIA), ("slack", DANA), ("teams", TERRY)}
PUPIL_REQUEST_ESCALATES_TO = {("slack", HEADS[0]), ("slack", HEADS[1])}

SCHOOL = f"""
school:
  name: Oakgreen School
  timezone: Europe/London
  policy_contact: office@oakgreen.example.sch.uk
accounts: [Facebook, Instagram, X]
reports:
  # Working time that (but for a minute at midnight) never stops, and six seconds of it to
  # acknowledge a report: the chase and the escalation fire while the bot is being killed.
  working_hours: "00:00-23:59"
  working_days: [mon, tue, wed, thu, fri, sat, sun]
  acknowledge_within: {{dsl: 0.1m, other: 0.1m}}
people:
  - {{name: Sam Network, roles: [network_manager], slack: {SAM}}}
  - {{name: Nia Deputy, roles: [network_manager], slack: {NIA}}}
  - {{name: Chris Head, roles: [co_head], slack: {HEADS[0]}}}
  - {{name: Alex Head, roles: [co_head], slack: {HEADS[1]}}}
  - {{name: Dana Safe, roles: [dsl], slack: {DANA}}}
  - {{name: Terry Teams, roles: [dsl], teams: {TERRY}}}
  - {{name: Gill Governor, roles: [chair_of_governors], slack: {CHAIR}}}
"""

# A policy of its own, so that questions get answers without the school's document.
POLICY = """Social Media Policy

Personal Use of Social Media
Staff must not post photographs of pupils on their personal social media accounts. Staff
should not accept friend requests from pupils or parents on personal accounts.

Photographs for use with social media:
Only photographs taken on school devices may be posted on the school's official accounts, and
only of pupils whose parents have given permission.

Monitoring and Review of This Policy
The IT Network Manager reviews this policy each year with the Co-Headteachers.
"""

ACK_NEWS = "the news of an acknowledgement, for the reporter"
# How long an item claimed by a process that was then killed waits before it is sent again.
LEASE_SECONDS = 5
# The longest a person waits for a message they need before the run calls it missing.
PATIENCE = 60.0


# --- the fakes, with the moment each delivery landed ------------------------------------------


class StampedSlack(FakeSlack):
    """The fake Slack, noting when each call landed (on this process's monotonic clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.landed: list[float] = []

    async def _api(self, request: web.Request) -> web.StreamResponse:
        response = await super()._api(request)
        # The call was recorded with no await since: this is the moment it landed.
        self.landed.extend([time.monotonic()] * (len(self.calls) - len(self.landed)))
        return response


class StampedTeams(FakeTeams):
    def __init__(self) -> None:
        super().__init__()
        self.landed: list[float] = []
        self.validate = False  # the card schema costs more than the bot's work; tests check it

    async def _send(self, request: web.Request) -> web.StreamResponse:
        response = await super()._send(request)
        self.landed.extend([time.monotonic()] * (len(self.sent) - len(self.landed)))
        return response


# --- the bot, in its own process ------------------------------------------------------------


@dataclass
class Life:
    started: float
    killed: float | None = None


# Imports the bot's modules once, then forks a fresh `socialdesk serve` for each life: the
# process killed is the real server, with its own event loop, connections and outbox worker;
# only the two seconds of imports are not paid again on every start.
_FORK_SERVER = """
import ctypes, os, signal, sys
import bot.app, bot.cli, bot.slack.edge, bot.teams.edge
log = sys.argv[1]
for line in sys.stdin:
    command, _, argument = line.strip().partition(" ")
    if command == "start":
        pid = os.fork()
        if pid == 0:
            os.setsid()
            if sys.platform == "linux":
                # Dies with this server (PR_SET_PDEATHSIG), which ends when the run does: no
                # bot is left behind by a run that was itself stopped.
                ctypes.CDLL(None).prctl(1, signal.SIGKILL)
            out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            code = bot.cli.main(["serve"])
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        print(pid, flush=True)
    elif command == "reap":
        print(os.waitpid(int(argument), 0)[1], flush=True)
"""


class BotProcess:
    """`socialdesk serve`, started again after each kill. `cold`: each life is a new
    `python -m bot serve`; otherwise a fork of a process that has imported the bot already."""

    def __init__(self, env: dict[str, str], port: int, log: Path, cold: bool = False) -> None:
        self.env = env
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.cold = cold
        self.lives: list[Life] = []
        self.pid: int | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.forks: asyncio.subprocess.Process | None = None
        self.up = asyncio.Event()
        self.startup_seconds: list[float] = []

    async def _launch(self) -> int:
        if self.cold:
            with self.log.open("ab") as log:
                self.process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    "serve",
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=log,
                )
            return self.process.pid
        if self.forks is None:
            self.forks = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _FORK_SERVER,
                str(self.log),
                cwd=ROOT,
                env=self.env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        return int(await self._ask("start"))

    async def _ask(self, command: str) -> str:
        assert self.forks is not None and self.forks.stdin and self.forks.stdout
        self.forks.stdin.write(f"{command}\n".encode())
        await self.forks.stdin.drain()
        return (await self.forks.stdout.readline()).decode().strip()

    async def start(self, http: aiohttp.ClientSession) -> None:
        with self.log.open("ab") as log:
            log.write(f"--- life {len(self.lives)}\n".encode())
        started = time.monotonic()
        self.pid = await self._launch()
        self.lives.append(Life(started))
        deadline = started + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(self.url + "/healthz", timeout=aiohttp.ClientTimeout(2)) as r:
                    if r.status == 200:
                        self.startup_seconds.append(time.monotonic() - started)
                        self.up.set()
                        return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"socialdesk did not start within 60 s; see {self.log}")

    async def _reap(self) -> None:
        if self.process is not None:
            await self.process.wait()
        elif self.pid is not None:
            await self._ask(f"reap {self.pid}")
        self.pid = None

    async def kill(self) -> None:
        assert self.pid is not None
        self.up.clear()
        self.lives[-1].killed = time.monotonic()
        os.kill(self.pid, signal.SIGKILL)
        await self._reap()

    async def stop(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            await self._reap()
        if self.forks is not None:
            assert self.forks.stdin is not None
            self.forks.stdin.close()
            await self.forks.wait()

    def life_at(self, moment: float) -> int:
        """Which life of the process sent what landed at `moment`: the one running then, or,
        between a kill and the next start, the one just killed (its last bytes in flight)."""
        index = 0
        for number, life in enumerate(self.lives):
            if life.started <= moment:
                index = number
        return index


# --- what staff and approvers did -----------------------------------------------------------


ACTION_KINDS = (
    "slack draft",
    "teams draft",
    "slack approve",
    "slack report",
    "slack acknowledge",
    "slack note",
    "slack question",
    "slack question sent on",
    "teams question",
    "teams report",
    "teams acknowledge",
)


@dataclass
class Action:
    kind: str
    marker: str
    answered: bool = False
    attempts: int = 0
    # What the run expects to see because of it, filled in as it goes.
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Expected:
    """A message someone must receive: on a platform, in a person's chat, containing `marker`."""

    platform: str
    person: str
    marker: str
    because: str


@dataclass
class Figures:
    database: str
    kills: int = 0
    actions: int = 0
    answered: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    answered_by_kind: Counter[str] = field(default_factory=Counter)
    losses: list[str] = field(default_factory=list)
    doubles: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    repeats: Counter[str] = field(default_factory=Counter)
    repeats_unexplained: list[str] = field(default_factory=list)
    # Clicks answered (acknowledged) whose note to the clicker, posted to Slack's response_url
    # after the acknowledgement, never came: nothing keeps those across a kill.
    click_replies: int = 0
    click_replies_lost: list[str] = field(default_factory=list)
    timers_fired: Counter[str] = field(default_factory=Counter)
    timer_faults: list[str] = field(default_factory=list)
    messages: int = 0
    updates: int = 0
    startup_seconds: float = 0.0
    seconds: float = 0.0
    log: Path | None = None
    repeated: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return [
            *self.losses,
            *self.doubles,
            *self.missing,
            *self.stale,
            *self.repeats_unexplained,
            *self.timer_faults,
        ]

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        kinds = ", ".join(
            f"{kind} {self.answered_by_kind[kind]}/{n}" for kind, n in sorted(self.by_kind.items())
        )
        repeats = ", ".join(f"{k} {n}" for k, n in sorted(self.repeats.items())) or "none"
        fired = ", ".join(f"{k} {n}" for k, n in sorted(self.timers_fired.items())) or "none"
        return [
            f"{self.database}: {self.kills} kills in {self.seconds:.0f} s "
            f"(start-up {self.startup_seconds:.2f} s mean)",
            f"  actions {self.actions}, answered {self.answered} ({kinds})",
            f"  losses {len(self.losses)}, done twice {len(self.doubles)}, "
            f"messages missing {len(self.missing)}, cards stale {len(self.stale)}",
            f"  new messages {self.messages} (repeats: {repeats}; not explained by a kill "
            f"{len(self.repeats_unexplained)}), card updates {self.updates}",
            f"  timers fired: {fired}; timer faults {len(self.timer_faults)}",
            f"  notes to clickers after the acknowledgement: {self.click_replies} came, "
            f"{len(self.click_replies_lost)} did not (not kept across a kill; not counted as "
            "losses)",
            *(f"  FAIL {line}" for line in self.failures),
            *([f"  the bot's log: {self.log}"] if self.log else []),
        ]


class Run:
    def __init__(
        self,
        bot: BotProcess,
        slack: StampedSlack,
        teams: StampedTeams,
        engine: AsyncEngine,
        rng: random.Random,
    ) -> None:
        self.bot = bot
        self.slack = slack
        self.teams = teams
        self.engine = engine
        self.rng = rng
        self.actions: list[Action] = []
        self.expected: list[Expected] = []
        self.http: aiohttp.ClientSession | None = None
        self.stopping = False
        self._numbers = iter(range(1, 1_000_000))

    def new(self, kind: str) -> Action:
        action = Action(kind, f"K{next(self._numbers):04d}x{uuid.uuid4().hex[:6]}")
        self.actions.append(action)
        return action

    def expect(self, platform: str, person: str, marker: str, because: str) -> None:
        self.expected.append(Expected(platform, person, marker, because))

    # --- requests ---------------------------------------------------------------------------

    async def _post(self, path: str, raw: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
        assert self.http is not None
        await self.bot.up.wait()
        try:
            async with self.http.post(
                self.bot.url + path,
                data=raw,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=15),
            ) as reply:
                return reply.status, await reply.text()
        except (aiohttp.ClientError, TimeoutError):
            return 0, ""

    async def slack_request(self, body: str) -> tuple[int, str]:
        raw, headers = signed(_pressed_anew(body))
        return await self._post("/slack/events", raw, headers)

    async def teams_request(self, activity: Mapping[str, Any]) -> tuple[int, str]:
        raw = json.dumps(activity).encode()
        return await self._post("/api/messages", raw, {"Content-Type": "application/json"})

    async def until_answered(
        self,
        action: Action,
        send: Callable[[], Awaitable[tuple[int, str]]],
        answered: Callable[[int, str], bool],
        tries: int = 60,
    ) -> str | None:
        """Send the same request again until the bot answers it, as a person presses Submit or
        the button again; the answer, or None if it never came."""
        for _ in range(tries):
            action.attempts += 1
            status, body = await send()
            if answered(status, body):
                action.answered = True
                return body
            action.facts["unanswered"] = f"HTTP {status} {body[:300]}"
            await asyncio.sleep(0.2)
        return None

    async def once(
        self,
        action: Action,
        send: Callable[[], Awaitable[tuple[int, str]]],
        answered: Callable[[int, str], bool],
    ) -> str | None:
        action.attempts += 1
        status, body = await send()
        if answered(status, body):
            action.answered = True
            return body
        action.facts["unanswered"] = f"HTTP {status} {body[:200]}"
        return None

    # --- waiting for what people receive -----------------------------------------------------

    async def slack_card(self, user: str, marker: str, button: str) -> str | None:
        """The value of `button` on the first message to `user` that mentions `marker`."""
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline and not self.stopping:
            for call in self.slack.messages_to(user):
                blocks = call.args.get("blocks")
                shown = json.loads(blocks) if isinstance(blocks, str) else blocks or []
                if marker not in json.dumps(shown):
                    continue
                for block in shown:
                    for element in block.get("elements", []) if block["type"] == "actions" else []:
                        if element.get("action_id") == button:
                            return str(element["value"])
            await asyncio.sleep(0.1)
        return None

    async def teams_card(self, aad: str, contains: str) -> tuple[Any, Json] | None:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline and not self.stopping:
            for sent in self.teams.to(aad):
                for card in cards_in(sent.activity):
                    if contains in json.dumps(card):
                        return sent, card
            await asyncio.sleep(0.1)
        return None

    # --- the scenarios ------------------------------------------------------------------------

    async def slack_draft(self, staff: str) -> None:
        """A draft from Slack; an approver approves it from the card they received."""
        draft = self.new("slack draft")
        text_ = f"Year 4 won the county maths quiz today, well done everyone ({draft.marker})"
        files = []
        if self.rng.random() < 0.5:
            # A photo of its own: fetched from Slack, kept, and shared beneath each card.
            photo = b"\x89PNG\r\n\x1a\n" + draft.marker.encode() * 200
            url = self.slack.add_file(f"{draft.marker}.png", photo)
            files = [slack_file(f"F{draft.marker}", f"{draft.marker}.png", len(photo), url)]
            draft.facts["photo"] = hashlib.sha256(photo).hexdigest()
        payload = draft_payload(staff, text_, files=files, view_id=f"V{draft.marker}")
        body = urlencode({"payload": json.dumps(payload)})
        answer = await self.until_answered(
            draft, lambda: self.slack_request(body), _form_updated("Draft sent")
        )
        if answer is None:
            return
        reference = _reference("P", answer)
        draft.facts.update(text=text_, reference=reference)
        for approver in (SAM, NIA):
            self.expect("slack", approver, draft.marker, "the approval card of a draft")
        self.expect("slack", staff, reference, "the receipt of a draft")
        await self._approve(draft, reference, "slack", staff)

    async def teams_draft(self, aad: str) -> None:
        """A draft from Teams, in the form card the bot puts in the chat."""
        draft = self.new("teams draft")
        text_ = f"Our choir sang at the town hall tonight ({draft.marker})"
        before = len(self.teams.to(aad))
        status, _ = await self.teams_request(message(self.teams, aad, "post", "A Teacher"))
        sent_forms = self.teams.to(aad)[before:]
        if status != 200 or not sent_forms:
            self.actions.remove(draft)  # no form to fill in: nothing was asked of the bot yet
            return
        sent = sent_forms[-1]
        (form,) = cards_in(sent.activity)
        button = action_titled(form, "Send for approval")
        inputs = draft_inputs(text=text_)
        click = card_action(
            self.teams,
            aad,
            button["verb"],
            {**button.get("data", {}), **inputs},
            sent.activity_id,
            "A Teacher",
        )
        answer = await self.until_answered(
            draft,
            lambda: self.teams_request(click),
            # Sent for approval; or, pressed again after a kill, already sent.
            lambda status, body: status == 200 and "sent for approval" in body,
        )
        if answer is None:
            return
        reference = _reference("P", answer)
        draft.facts.update(text=text_, reference=reference)
        for approver in (SAM, NIA):
            self.expect("slack", approver, draft.marker, "the approval card of a draft")
        self.expect("teams", aad, reference, "the receipt of a draft")
        await self._approve(draft, reference, "teams", aad)

    async def _approve(self, draft: Action, reference: str, platform: str, staff: str) -> None:
        """An approver approves the draft from the card they received."""
        approver = self.rng.choice((SAM, NIA))
        value = await self.slack_card(approver, draft.marker, "post.approve")
        if value is None:
            return
        approve = self.new("slack approve")
        approve.facts.update(post=reference, value=value)
        click = urlencode(
            {
                "payload": json.dumps(
                    click_payload(
                        approver, "post.approve", value, self.slack.response_url(approve.marker)
                    )
                )
            }
        )
        if await self.until_answered(approve, lambda: self.slack_request(click), _ok) is None:
            return
        # The submitter is told; every copy of the card loses its buttons and says so.
        self.expect(platform, staff, f"{reference} is approved", "the news of an approval")
        draft.facts["approved"] = True

    async def slack_report(self, staff: str, acknowledge: bool) -> None:
        report = self.new("slack report")
        details = f"A Year 9 pupil sent me a follow request on Instagram ({report.marker})."
        payload = view_payload(
            staff, "report.form", "", report_values(kind="pupil_request", details=details)
        )
        payload["view"]["id"] = f"V{report.marker}"
        body = urlencode({"payload": json.dumps(payload)})
        answer = await self.until_answered(
            report, lambda: self.slack_request(body), _form_updated("Report sent")
        )
        if answer is None:
            return
        reference = _reference("R", answer)
        report.facts.update(reference=reference, details=details, reporter=("slack", staff))
        for platform, person in PUPIL_REQUEST_TO:
            self.expect(platform, person, report.marker, "the card of a report")
        self.expect("slack", staff, reference, "the receipt of a report")
        if not acknowledge:
            report.facts["left_open"] = True
            return
        await self._acknowledge_and_note(report, reference, staff)

    async def _acknowledge_and_note(self, report: Action, reference: str, reporter: str) -> None:
        value = await self.slack_card(DANA, report.marker, "report.acknowledge")
        if value is None:
            return
        ack = self.new("slack acknowledge")
        ack.facts.update(report=reference)
        click = urlencode(
            {
                "payload": json.dumps(
                    click_payload(
                        DANA, "report.acknowledge", value, self.slack.response_url(ack.marker)
                    )
                )
            }
        )
        if await self.until_answered(ack, lambda: self.slack_request(click), _ok) is None:
            return
        report.facts["acknowledged"] = True
        platform, reporter = report.facts["reporter"]
        self.expect(platform, reporter, f"{reference} has been acknowledged", ACK_NEWS)
        note = self.new("slack note")
        note_text = f"Logged in the friend-request log ({note.marker})"
        note.facts.update(report=reference, text=note_text)
        payload = view_payload(
            DANA,
            "report.note_form",
            value,
            {"note": {"type": "plain_text_input", "value": note_text}},
        )
        payload["view"]["id"] = f"V{note.marker}"
        body = urlencode({"payload": json.dumps(payload)})
        if (
            await self.until_answered(note, lambda: self.slack_request(body), _form_answered)
            is None
        ):
            return
        report.facts["note"] = note_text

    async def slack_question(self, staff: str) -> None:
        question = self.new("slack question")
        asked = f"Can I put photos of pupils from the trip on my own Facebook? ({question.marker})"
        question.facts.update(text=asked)
        answer = await self.once(
            question,
            lambda: self.slack_request(command_body("/policy", staff, asked)),
            lambda status, body: status == 200 and "policy.escalate" in body,
        )
        if answer is None:
            return
        value = _button_value(json.loads(answer).get("blocks", []), "policy.escalate")
        if value is None:
            return
        send_on = self.new("slack question sent on")
        send_on.facts.update(question=question.marker)
        click = urlencode(
            {
                "payload": json.dumps(
                    click_payload(
                        staff, "policy.escalate", value, self.slack.response_url(send_on.marker)
                    )
                )
            }
        )
        if await self.until_answered(send_on, lambda: self.slack_request(click), _ok) is None:
            return
        question.facts["sent_on"] = True
        for person in (SAM, NIA):
            self.expect("slack", person, question.marker, "a question sent on")

    async def teams_question(self, aad: str) -> None:
        question = self.new("teams question")
        asked = f"Can I accept a friend request from a parent? ({question.marker})"
        question.facts.update(text=asked)
        before = len(self.teams.to(aad))
        activity = message(self.teams, aad, asked, "A Teacher")
        answered = await self.once(
            question,
            lambda: self.teams_request(activity),
            # The answer goes into the chat before the HTTP answer.
            lambda status, _: status == 200 and len(self.teams.to(aad)) > before,
        )
        if answered is None:
            return

    async def teams_report(self, aad: str) -> None:
        report = self.new("teams report")
        details = f"A pupil asked to follow me on TikTok ({report.marker})."
        data = {adaptive.VERB_KEY: reports.OPEN_FORM, adaptive.VALUE_KEY: ""}
        status, body = await self.teams_request(
            dialog_invoke(self.teams, aad, "A Teacher", True, {**data, "msteams": {}})
        )
        if status != 200:
            self.actions.remove(report)  # nothing was asked of the bot yet
            return
        form = json.loads(body)["task"]["value"]["card"]["content"]
        (submit,) = [a for a in form["actions"] if a["type"] == "Action.Submit"]
        inputs = report_inputs(
            where="TikTok",
            links="https://tiktok.com/@someone",
            seen_on="",
            seen_at="",
            details=details,
        )
        activity = dialog_invoke(self.teams, aad, "A Teacher", False, {**submit["data"], **inputs})
        answer = await self.until_answered(
            report,
            lambda: self.teams_request(activity),
            lambda status, body: status == 200 and "R-" in body,
        )
        if answer is None:
            return
        reference = _reference("R", answer)
        report.facts.update(reference=reference, details=details, reporter=("teams", aad))
        for platform, person in PUPIL_REQUEST_TO:
            self.expect(platform, person, report.marker, "the card of a report")
        self.expect("teams", aad, reference, "the receipt of a report")
        # Terry acknowledges it in Teams, on the card he received.
        found = await self.teams_card(TERRY, report.marker)
        if found is None:
            return
        sent, card = found
        ack = self.new("teams acknowledge")
        ack.facts.update(report=reference)
        button = action_titled(card, "Acknowledge")
        click = card_action(
            self.teams, TERRY, button["verb"], dict(button.get("data", {})), sent.activity_id
        )
        done = await self.until_answered(
            ack,
            lambda: self.teams_request(click),
            # The card as it is now; or, for a click again after a kill, who acknowledged it.
            lambda status, body: status == 200 and "cknowledged by" in body,
        )
        if done is not None:
            report.facts["acknowledged"] = True
            self.expect("teams", aad, f"{reference} has been acknowledged", ACK_NEWS)

    async def staff_member(self, number: int) -> None:
        """One member of staff doing one thing after another until the kills are done."""
        slack_user = f"U0STAFF{number:02d}"
        scenarios: list[Callable[[], Awaitable[None]]] = [
            lambda: self.slack_draft(slack_user),
            lambda: self.slack_report(slack_user, acknowledge=True),
            lambda: self.slack_report(slack_user, acknowledge=False),
            lambda: self.slack_question(slack_user),
            lambda: self.teams_question(_teams_staff(number, len(self.actions))),
            lambda: self.teams_report(_teams_staff(number, len(self.actions))),
            lambda: self.teams_draft(_teams_staff(number, len(self.actions))),
        ]
        while not self.stopping:
            await self.rng.choice(scenarios)()
            await asyncio.sleep(self.rng.uniform(0.0, 0.3))


def _pressed_anew(body: str) -> str:
    """An interaction as Slack sends it when a person presses Submit or a button again: the
    same form, with a trigger_id of its own (the very same request again is a replay, which
    the bot answers without acting on it)."""
    fields = parse_qs(body)
    if "payload" not in fields:
        return body
    payload = json.loads(fields["payload"][0])
    payload["trigger_id"] = f"trigger-{uuid.uuid4().hex}"
    return urlencode({"payload": json.dumps(payload)})


def _teams_staff(number: int, serial: int) -> str:
    # Each Teams question or report comes from a chat of its own, so an answer is told apart.
    return f"00000000-0000-4000-8000-{number:04d}{serial:08d}"


def _ok(status: int, _: str) -> bool:
    # A click is acknowledged once its change (or refusal) is stored.
    return status == 200


def _form_updated(title: str) -> Callable[[int, str], bool]:
    def answered(status: int, body: str) -> bool:
        if status != 200 or not body.startswith("{"):
            return False
        answer = json.loads(body)
        return answer.get("response_action") == "update" and title in json.dumps(answer)

    return answered


def _form_answered(status: int, body: str) -> bool:
    if status != 200:
        return False
    if not body:
        return True
    return json.loads(body).get("response_action") in ("update", "clear")


def _reference(prefix: str, answer: str) -> str:
    found = re.search(rf"\b{prefix}-\d{{4,}}\b", answer)
    if found is None:
        raise AssertionError(f"no {prefix}- reference in the answer: {answer[:300]}")
    return found[0]


def _button_value(blocks: list[Json], action_id: str) -> str | None:
    for block in blocks:
        if block.get("type") == "actions":
            for element in block["elements"]:
                if element.get("action_id") == action_id:
                    return str(element["value"])
    return None


# --- the checks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    platform: str
    person: str
    content: str
    landed: float


def deliveries(slack: StampedSlack, teams: StampedTeams) -> list[Delivery]:
    """Every new message the bot sent, to whom, with its content."""
    found = []
    for call, landed in zip(slack.calls, slack.landed, strict=True):
        if call.method == "chat.postMessage":
            person = str(call.args.get("channel", "")).removeprefix("D")
            content = json.dumps(
                {"text": call.args.get("text"), "blocks": call.args.get("blocks")}, sort_keys=True
            )
            found.append(Delivery("slack", person, content, landed))
        elif call.method == "files.completeUploadExternal":
            listed = call.args["files"]
            for entry in json.loads(listed) if isinstance(listed, str) else listed:
                content = hashlib.sha256(slack.uploads[entry["id"]]).hexdigest()
                person = str(call.args.get("channel_id", "")).removeprefix("D")
                thread = str(call.args.get("thread_ts"))
                found.append(Delivery("slack", person, f"file {content} under {thread}", landed))
    for sent, landed in zip(teams.sent, teams.landed, strict=True):
        person = sent.conversation_id.removeprefix("a:1personal-")
        activity = {k: v for k, v in sent.activity.items() if k not in ("id", "timestamp")}
        # What was first sent: an update since replaced the activity in the fake's record.
        found.append(Delivery("teams", person, json.dumps(activity, sort_keys=True), landed))
    return found


async def check(run: Run, figures: Figures) -> None:
    async with run.engine.connect() as db:

        async def count(statement: Any) -> int:
            return int(await db.scalar(statement) or 0)

        await _check_stored(run, figures, count)
        await _check_timers(run, figures, count)
        await _check_outbox(db, figures)

    sent = deliveries(run.slack, run.teams)
    figures.messages = len(sent)
    figures.updates = len(run.slack.calls_to("chat.update")) + len(run.teams.updates)
    _check_expected(run, figures, sent)
    _check_repeats(run, figures, sent)
    _check_cards(run, figures)
    _check_photos(run, figures, sent)
    _check_click_replies(run, figures)


async def _check_stored(run: Run, figures: Figures, count: Callable[[Any], Awaitable[int]]) -> None:
    """Each answered action is stored once; none is stored twice."""
    for action in run.actions:
        figures.actions += 1
        figures.by_kind[action.kind] += 1
        if action.answered:
            figures.answered += 1
            figures.answered_by_kind[action.kind] += 1
        else:
            figures.unanswered.append(f"{action.kind}: {action.facts.get('unanswered')}")
        stored = await _times_stored(count, action)
        if stored is None:
            continue
        label = f"{action.kind} {action.marker} ({action.attempts} attempts)"
        if action.answered and stored == 0:
            figures.losses.append(f"{label} was answered but is not stored")
        elif stored > 1:
            figures.doubles.append(f"{label} is stored {stored} times")


async def _check_timers(run: Run, figures: Figures, count: Callable[[Any], Awaitable[int]]) -> None:
    """Each report left open was chased once and escalated once, and the chase and the
    escalation are expected to reach the people they go to."""
    for action in run.actions:
        reference = action.facts.get("reference")
        if not reference or not action.kind.endswith("report"):
            continue
        fired: dict[str, int] = {}
        for timer in ("report.chased", "report.escalated"):
            times = await count(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == timer, AuditEvent.object_id == reference)
            )
            fired[timer] = times
            figures.timers_fired[timer] += times
            if times > 1:
                figures.timer_faults.append(f"{reference}: {timer} {times} times")
            if action.facts.get("left_open") and times != 1:
                figures.timer_faults.append(f"{reference} left open: {timer} {times} times")
        if fired["report.chased"]:
            for platform, person in PUPIL_REQUEST_TO:
                run.expect(platform, person, f"{reference} is waiting", "a report's chase")
        if fired["report.escalated"]:
            for platform, person in PUPIL_REQUEST_ESCALATES_TO:
                run.expect(platform, person, action.marker, "a report's escalation")


async def _check_outbox(db: AsyncConnection, figures: Figures) -> None:
    """Nothing the bot recorded is still to go, or given up on."""
    left = await db.execute(
        select(OutboxItem.kind, OutboxItem.status, func.count())
        .where(OutboxItem.status.in_(("pending", "failed", "held")))
        .group_by(OutboxItem.kind, OutboxItem.status)
    )
    for kind, status, n in left:
        figures.missing.append(f"{n} outbox {kind} item(s) still {status}")


def _check_expected(run: Run, figures: Figures, sent: list[Delivery]) -> None:
    for expected in run.expected:
        if not any(
            d.platform == expected.platform
            and d.person == expected.person
            and expected.marker in d.content
            for d in sent
        ):
            figures.missing.append(
                f"{expected.because}: nothing mentioning {expected.marker} reached "
                f"{expected.platform} {expected.person}"
            )


def _check_repeats(run: Run, figures: Figures, sent: list[Delivery]) -> None:
    """A message sent more than once must have been sent again by a later life of the process."""
    copies: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for d in sent:
        copies[(d.platform, d.person, d.content)].append(d.landed)
    for (platform, person, content), landed in copies.items():
        if len(landed) == 1:
            continue
        lives = [run.bot.life_at(moment) for moment in landed]
        figures.repeats[_kind_of(content)] += len(landed) - 1
        figures.repeated.append(f"{platform} {person} lives {lives}: {content[:200]}")
        if len(set(lives)) != len(lives):
            figures.repeats_unexplained.append(
                f"a message to {platform} {person} went {len(landed)} times from lives "
                f"{lives}: {content[:160]}"
            )


def _check_click_replies(run: Run, figures: Figures) -> None:
    for action in run.actions:
        # Of the clicks here, only sending a question on is answered with a note (an approval
        # changes the card itself).
        if action.answered and action.kind == "slack question sent on":
            if run.slack.responses_to(action.marker):
                figures.click_replies += 1
            else:
                figures.click_replies_lost.append(f"{action.kind} {action.marker}")


def _kind_of(content: str) -> str:
    for words, kind in (
        ("file ", "shared photo"),
        ("is waiting to be acknowledged", "chase reminder"),
        ("Your report is R-", "report receipt"),
        ("has been acknowledged by", "news of an acknowledgement"),
        ("sent for approval", "draft receipt"),
        ("is approved", "news of an approval"),
        ("asked a question about the policy", "question card"),
        ("Draft post P-", "approval card"),
        ("Pupil friend request", "report card"),
        ('"title": "Acknowledge"', "report card"),
        ("report.note_form", "report card"),
        ("Sent to the IT Network Manager", "note of a question sent on"),
    ):
        if words in content:
            return kind
    return "other message"


async def _times_stored(count: Callable[[Any], Awaitable[int]], action: Action) -> int | None:
    marker = f"%{action.marker}%"
    if action.kind in ("slack draft", "teams draft"):
        return await count(
            select(func.count(func.distinct(PostVersion.post_id))).where(
                PostVersion.text.like(marker)
            )
        )
    if action.kind in ("slack report", "teams report"):
        return await count(
            select(func.count()).select_from(Report).where(Report.details.like(marker))
        )
    if action.kind in ("slack question", "teams question"):
        return await count(
            select(func.count())
            .select_from(PolicyQuestion)
            .where(PolicyQuestion.question.like(marker))
        )
    if action.kind == "slack question sent on":
        return await count(
            select(func.count())
            .select_from(AuditEvent)
            .join(PolicyQuestion, PolicyQuestion.reference == AuditEvent.object_id)
            .where(
                AuditEvent.action == "question.escalated",
                PolicyQuestion.question.like(f"%{action.facts['question']}%"),
            )
        )
    if action.kind == "slack approve":
        return await count(
            select(func.count())
            .select_from(HistoryRow)
            .join(Post, Post.id == HistoryRow.object_id)
            .where(
                HistoryRow.object_type == "post",
                HistoryRow.to_state == "approved",
                Post.reference == action.facts["post"],
            )
        )
    if action.kind in ("slack acknowledge", "teams acknowledge"):
        return await count(
            select(func.count())
            .select_from(ReportEventRow)
            .join(Report, Report.id == ReportEventRow.report_id)
            .where(
                ReportEventRow.kind == "acknowledged", Report.reference == action.facts["report"]
            )
        )
    if action.kind == "slack note":
        return await count(
            select(func.count())
            .select_from(ReportEventRow)
            .where(ReportEventRow.kind == "note", ReportEventRow.text.like(marker))
        )
    raise AssertionError(f"no check for {action.kind}")


def _check_cards(run: Run, figures: Figures) -> None:
    """Each card shows the last change made to it, in every chat it reached (the copy the bot
    recorded; an extra copy sent again after a kill may be left as it was first sent)."""
    for action in run.actions:
        facts = action.facts
        if facts.get("approved"):
            wanted, gone = "Approved by", "post.approve"
        elif facts.get("note"):
            wanted, gone = facts["note"], "report.acknowledge"
        elif facts.get("acknowledged"):
            wanted, gone = "Acknowledged by", "report.acknowledge"
        else:
            continue
        people = [("slack", SAM), ("slack", NIA)] if "approved" in facts else PUPIL_REQUEST_TO
        for platform, person in people:
            shown = _shown_now(run, platform, person, action.marker)
            if not shown:
                continue  # reported as missing already
            if not any(wanted in card and gone not in card for card in shown):
                figures.stale.append(
                    f"{action.kind} {action.marker}: the card in {platform} {person}'s chat does "
                    f"not show {wanted!r}"
                )


def _check_photos(run: Run, figures: Figures, sent: list[Delivery]) -> None:
    """A draft's photo is shared to each approver beneath a card of that draft."""
    for action in run.actions:
        photo = action.facts.get("photo")
        if photo is None or "reference" not in action.facts:
            continue
        for approver in (SAM, NIA):
            cards = {
                str(call.answer.get("ts"))
                for call in run.slack.messages_to(approver)
                if action.marker in json.dumps(call.args)
            }
            if not any(
                d.person == approver and d.content in {f"file {photo} under {ts}" for ts in cards}
                for d in sent
            ):
                figures.missing.append(
                    f"the photo of {action.marker} was not shared beneath {approver}'s card"
                )


def _shown_now(run: Run, platform: str, person: str, marker: str) -> list[str]:
    if platform == "slack":
        return [
            json.dumps(card["blocks"])
            for card in run.slack.cards_of(person).values()
            if marker in json.dumps(card["blocks"])
        ]
    return [
        texts_of(card) + json.dumps([a.get("verb") for a in actions_of(card)])
        for card in run.teams.cards_to(person)
        if marker in json.dumps(card)
    ]


# --- the run --------------------------------------------------------------------------------


async def settle(engine: AsyncEngine, within: float) -> None:
    """Until the outbox holds nothing more to do (every timer fired, every message sent)."""
    deadline = time.monotonic() + within
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        async with engine.connect() as db:
            pending = await db.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "pending")
            )
        if pending:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.0:
            return
        await asyncio.sleep(0.2)


async def run(
    database_url: str,
    kills: int,
    *,
    label: str,
    seed: int | None = None,
    staff: int = 6,
    gap: tuple[float, float] = (0.1, 1.0),
    log: Path | None = None,
    cold: bool = False,
) -> Figures:
    seed = seed if seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    figures = Figures(f"{label} (seed {seed})")
    started = time.monotonic()
    slack = await StampedSlack().start()
    teams = await StampedTeams().start()
    engine = create_async_engine(normalise_database_url(database_url))
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder, "school.yaml")
        policy = Path(folder, "policy.txt")
        for path, content in ((config, SCHOOL), (policy, POLICY)):
            path.write_text(content)
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SOCIALDESK_"))},
            "DATABASE_URL": database_url,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.base_url,
            # Teams in local mode beside Slack, sending to the fake Bot Connector.
            "SOCIALDESK_TEAMS_LOCAL": "1",
            "SOCIALDESK_CONFIG": str(config),
            "SOCIALDESK_POLICY": str(policy),
            "SOCIALDESK_RETRY_BASE_SECONDS": "0.2",
            "SOCIALDESK_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        bot = BotProcess(env, port, log or Path(folder, "bot.log"), cold)
        checker = Run(bot, slack, teams, engine, rng)
        try:
            async with aiohttp.ClientSession() as http:
                checker.http = http
                await bot.start(http)
                # Terry has the app in Teams, so his reports reach him there.
                status, _ = await checker.teams_request(install(teams, TERRY, "Terry Teams"))
                assert status == 200, status
                workers = [asyncio.create_task(checker.staff_member(n + 1)) for n in range(staff)]
                for _ in range(kills):
                    await asyncio.sleep(rng.uniform(*gap))
                    await bot.kill()
                    figures.kills += 1
                    await bot.start(http)
                # The burst ends; what was started finishes, with the bot up.
                checker.stopping = True
                await asyncio.wait_for(asyncio.gather(*workers), timeout=PATIENCE * 3)
                await settle(engine, within=60)
                await check(checker, figures)
        finally:
            await bot.stop()
            await engine.dispose()
            await slack.stop()
            await teams.stop()
            figures.startup_seconds = sum(bot.startup_seconds) / max(1, len(bot.startup_seconds))
            figures.seconds = time.monotonic() - started
            if not figures.ok and log is None:
                kept = Path(tempfile.gettempdir(), f"kill_restart-{label}-{seed}.log")
                shutil.copyfile(bot.log, kept)
                figures.log = kept
    return figures


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kills", type=int, default=100, help="kills per database")
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "both"), default="both", help="which"
    )
    parser.add_argument("--seed", type=int, default=None, help="to repeat a run")
    parser.add_argument("--staff", type=int, default=6, help="people at work at once")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="start each life as a new `python -m bot serve` (slower) rather than a fork of a "
        "process that has imported the bot",
    )
    return parser.parse_args()


async def main_async(args: argparse.Namespace) -> int:
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if "postgresql" in kinds and not os.environ.get("TEST_DATABASE_URL"):
        if args.database == "postgresql":
            print("TEST_DATABASE_URL is not set", file=sys.stderr)
            return 2
        kinds.remove("postgresql")
    failed = False
    for kind in kinds:
        async with database(kind) as url:
            figures = await run(
                url, args.kills, label=kind, seed=args.seed, staff=args.staff, cold=args.cold
            )
        print("\n".join(figures.lines()), flush=True)
        failed |= not figures.ok
    return 1 if failed else 0


def main() -> None:
    sys.exit(asyncio.run(main_async(arguments())))


if __name__ == "__main__":
    main()
