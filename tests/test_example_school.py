"""The example school (examples/policy, socialdesk.example.yaml): the repository stands alone.
Its Word version is built from its Markdown and stays in step; what the bot knows fits it as
checked; `socialdesk serve` with the example configuration answers policy questions from it and
says once, at start-up, that it is the example's policy and not the school's."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.config import load_config
from bot.core.policy import parse_policy
from bot.core.policy_map import Basis
from bot.core.questions import PolicyIndex, answer_question
from bot.knowledge import load_knowledge
from bot.policy_source import open_policy
from tests.fakes.slack import FakeSlack
from tests.harness import (
    EXAMPLE_POLICY,
    EXAMPLE_POLICY_DOCX,
    ROOT,
    SHARED_POLICY_FILE,
    command_body,
    heading,
)
from tests.processes import clean_env, free_port, start_serve

BUILD_SCRIPT = ROOT / "scripts" / "build-example-docx.py"
EXAMPLE_CONFIG = ROOT / "socialdesk.example.yaml"


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_example_docx", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_is_a_whole_policy_of_its_own() -> None:
    document = parse_policy(EXAMPLE_POLICY.read_bytes(), EXAMPLE_POLICY.name)
    assert len(document.answerable) >= 15
    text = EXAMPLE_POLICY.read_text("utf-8")
    school = load_config(EXAMPLE_CONFIG)
    assert school.name in text and str(school.policy_contact) in text
    for role in ("IT Network Manager", "Co-Headteachers", "Designated Safeguarding Lead"):
        assert role in text


def test_the_word_version_is_built_from_the_markdown_and_reads_the_same() -> None:
    checked = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    markdown = parse_policy(EXAMPLE_POLICY.read_bytes(), EXAMPLE_POLICY.name)
    word = parse_policy(EXAMPLE_POLICY_DOCX.read_bytes(), EXAMPLE_POLICY_DOCX.name)
    assert word.title == markdown.title
    assert [(s.title, s.digest) for s in word.sections] == [
        (s.title, s.digest) for s in markdown.sections
    ]
    assert word.digest == markdown.digest  # the same version, so the same answers

    # An edit to the Markdown alone is caught.
    build = _build_script()
    edited = EXAMPLE_POLICY.read_text("utf-8") + "\n## Added later\n\nA new rule.\n"
    built = build.build(edited)
    assert build.differences(built, EXAMPLE_POLICY_DOCX.read_bytes()) == ["word/document.xml"]


@pytest.mark.parametrize("policy", [EXAMPLE_POLICY, EXAMPLE_POLICY_DOCX], ids=["md", "docx"])
def test_what_the_bot_knows_fits_the_example_as_checked(policy: Path) -> None:
    knowledge = load_knowledge()
    document = parse_policy(policy.read_bytes(), policy.name)
    index = PolicyIndex(document, knowledge)
    # Every topic's short answer rests on passages the example holds word for word, and every
    # section has some.
    answered = [p for p in index.placements.values() if p.topic.rests_on]
    assert {p.basis for p in answered} == {Basis.WORD_FOR_WORD}
    placed = {s.short_title for p in answered for s, _ in p.sections}
    assert {s.short_title for s in document.answerable} - placed == set()
    assert knowledge.is_the_example(document.digest)
    # The example's short answers are served, not held back.
    found = answer_question(index, "a Year 8 added me on Snapchat, what do I do?")
    assert found.confident and not found.held_for_review and found.topic is not None
    assert found.quoted[0].section.short_title == heading("Personal Use of Social Media", policy)


def test_a_changed_example_or_another_policy_is_not_called_the_example(tmp_path: Path) -> None:
    knowledge = load_knowledge()
    text = EXAMPLE_POLICY.read_text("utf-8").replace("Oakgreen School welcomes", "We welcome")
    assert not knowledge.is_the_example(parse_policy(text.encode(), "policy.md").digest)
    if SHARED_POLICY_FILE.exists():
        first = parse_policy(SHARED_POLICY_FILE.read_bytes(), SHARED_POLICY_FILE.name)
        assert not knowledge.is_the_example(first.digest)


def test_start_up_says_once_that_the_example_is_not_the_schools_policy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.policy_source")
    open_policy(EXAMPLE_POLICY_DOCX)
    said = [r.getMessage() for r in caplog.records if "EXAMPLE" in r.getMessage()]
    assert len(said) == 1 and "not your school's" in said[0]
    caplog.clear()
    own = tmp_path / "our-policy.md"
    own.write_text(EXAMPLE_POLICY.read_text("utf-8").replace("Oakgreen", "Ashby"), "utf-8")
    open_policy(own)
    assert not [r for r in caplog.records if "EXAMPLE" in r.getMessage()]


async def test_serve_with_the_example_configuration_answers_from_the_example_policy(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    port, secret = free_port(), "example-signing-secret"
    process = await start_serve(
        tmp_path,
        clean_env(
            PORT=str(port),
            HOST="127.0.0.1",
            SOCIALDESK_CONFIG=str(EXAMPLE_CONFIG),
            SLACK_BOT_TOKEN=fake_slack.bot_token,
            SLACK_SIGNING_SECRET=secret,
            SLACK_API_URL=fake_slack.base_url,
        ),
        stdout=asyncio.subprocess.PIPE,
    )
    answer: dict[str, Any] = {}
    try:
        body = command_body("/policy", "U0TEACH", "can I use my own phone for the trip photos?")
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(
                timestamp=stamp, body=body
            ),
        }
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not answer:
                try:
                    url = f"http://127.0.0.1:{port}/slack/events"
                    async with http.post(url, data=body, headers=headers) as response:
                        assert response.status == 200
                        answer = await response.json()
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.2)
    finally:
        if process.returncode is None:
            process.terminate()
        raw, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    output = raw.decode()
    shown = json.dumps(answer)
    assert heading("Photographs for use with social media") in shown
    assert "school cameras, tablets or phones" in shown  # quoted from the example
    assert output.count("is the EXAMPLE policy of a fictional school") == 1, output
