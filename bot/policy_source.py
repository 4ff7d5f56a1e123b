"""The school's policy document, read from the path the configuration names, and read again
when the file changes, so a new version needs neither new code nor a restart."""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

from bot.core.policy import PolicyError, parse_policy
from bot.core.policy_map import Basis
from bot.core.questions import Knowledge, PolicyIndex
from bot.knowledge import load_knowledge
from bot.settings import SettingsError

log = logging.getLogger(__name__)


class PolicySource:
    def __init__(self, path: Path | None, knowledge: Knowledge) -> None:
        self.path = path
        self.knowledge = knowledge
        self._index: PolicyIndex | None = None
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of the version read

    def load(self) -> PolicyIndex | None:
        """Read the document now; PolicyError says why it cannot be (for start-up)."""
        if self.path is None:
            return None
        try:
            status = self.path.stat()
            data = self.path.read_bytes()
        except OSError as error:
            raise PolicyError(f"cannot read the policy {self.path}: {error.strerror}") from error
        index = PolicyIndex(parse_policy(data, self.path.name), self.knowledge)
        self._index, self._seen = index, (status.st_mtime_ns, status.st_size)
        log.info("policy: %s", placement_summary(index))
        return index

    def current(self) -> PolicyIndex | None:
        if self.path is None:
            return None
        try:
            status = os.stat(self.path)
        except OSError:
            return self._index  # gone for a moment (being replaced): keep the last version
        if (status.st_mtime_ns, status.st_size) != self._seen:
            try:
                self.load()
                log.info("policy: read the new version of %s", self.path)
            except Exception as error:
                # Keep answering from the version that worked, whatever is wrong with the new
                # one; say so once per change rather than failing every question.
                self._seen = (status.st_mtime_ns, status.st_size)
                log.error("policy: the new version cannot be read, keeping the last: %r", error)
        return self._index


def placement_summary(index: PolicyIndex) -> str:
    """One line on where the knowledge was found in this document, for the operator."""
    answered = [p for p in index.placements.values() if p.topic.answer]
    counts = Counter(p.basis for p in answered)
    waiting = counts[Basis.CONTENT] + counts[Basis.CHANGED]
    parts = [f"{counts[Basis.WORD_FOR_WORD]} of {len(answered)} short answers found word for word"]
    if counts[Basis.DECIDED]:
        parts.append(f"{counts[Basis.DECIDED]} placed by the school's review")
    if waiting:
        parts.append(
            f"{waiting} found by content, answered in the document's own words until reviewed "
            "(socialdesk policy review)"
        )
    if counts[Basis.NOT_COVERED]:
        parts.append(f"{counts[Basis.NOT_COVERED]} not covered by this document")
    others = [p for p in index.placements.values() if not p.topic.answer]
    found = sum(p.basis is not Basis.NOT_COVERED for p in others)
    parts.append(f"{found} of {len(others)} topics with no short answer found by content")
    return "; ".join(parts)


ENV_SETTING = "SOCIALDESK_POLICY"


def policy_setting(from_env: Path | None, config_path: Path) -> str:
    """Which setting named the document, for a message about it: SOCIALDESK_POLICY when set
    (it overrides the YAML), else the YAML's `policy:`."""
    return ENV_SETTING if from_env is not None else f"{config_path}: policy"


def open_policy(path: Path | None, setting: str = ENV_SETTING) -> PolicySource:
    """The school's policy document, read now, so a document that cannot be read stops
    start-up with a reason rather than leaving every question unanswerable. `setting` is
    what named it (see policy_setting), for that reason's first words."""
    source = PolicySource(path, load_knowledge())
    if path is None:
        log.warning(
            "no policy document configured (SOCIALDESK_POLICY or policy: in the YAML): "
            "policy questions will be answered with 'no policy loaded'"
        )
        return source
    try:
        index = source.load()
    except PolicyError as error:
        raise SettingsError(f"{setting}: {error}") from error
    if index is not None:
        log.info(
            "policy: %s, %d sections, version %s",
            path,
            len(index.document.sections),
            index.document.digest[:8],
        )
        if source.knowledge.is_the_example(index.document.digest):
            log.warning(
                "policy: %s is the EXAMPLE policy of a fictional school (examples/policy), not "
                "your school's: staff get its answers until policy: in socialdesk.yaml (or "
                "SOCIALDESK_POLICY) names your own document",
                path,
            )
    return source
