"""Every rule the bot carries names a section of the school's policy; those sections exist, in
the first school's policy (beside the project) and, through the headings the knowledge gives
for them, in the example school's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.policy import parse_policy
from bot.core.posts import CHECKLIST, PHOTOGRAPHS, RESPECTING_OTHERS, STAFF_PROTOCOL
from bot.core.reports import KINDS, PERSONAL_USE, PERSONNEL, REPUTATION
from tests.harness import EXAMPLE_POLICY, EXAMPLE_POLICY_DOCX, heading


def _cited() -> set[str]:
    cited = {STAFF_PROTOCOL, PHOTOGRAPHS, RESPECTING_OTHERS, PERSONNEL, REPUTATION, PERSONAL_USE}
    cited |= {item.section for item in CHECKLIST}
    cited |= {rules.section for rules in KINDS.values()}
    return cited


def _headings(policy: str) -> set[str]:
    lines = [line.strip() for line in policy.splitlines()]
    found = set()
    for index, line in enumerate(lines):
        if line and len(line) < 120 and not line.endswith(".") and not line.startswith("-"):
            following = next((nxt for nxt in lines[index + 1 :] if nxt), "")
            if following:
                found.add(re.sub(r":$", "", line))
    return found


def test_every_cited_section_is_a_heading_of_the_policy(shared_dir: Path) -> None:
    headings = _headings((shared_dir / "policy" / "social-media-policy.txt").read_text())
    cited = _cited()
    assert cited <= headings, cited - headings


@pytest.mark.parametrize("policy", [EXAMPLE_POLICY, EXAMPLE_POLICY_DOCX], ids=["md", "docx"])
def test_every_cited_section_is_a_section_of_the_example_policy(policy: Path) -> None:
    document = parse_policy(policy.read_bytes(), policy.name)
    for cited in _cited():
        section = document.section(heading(cited, policy))
        assert section is not None and section.passages, cited
