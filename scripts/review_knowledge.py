"""Print each policy section's digest beside the one bot/knowledge/policy-answers.yaml was
reviewed against, for a developer re-checking answers after the school's policy changed.

    .venv/bin/python scripts/review_knowledge.py PATH-TO-POLICY [--write]

--write records the current digests in the YAML: only after reading every changed section's
answers against the new wording.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from bot.core.policy import parse_policy
from bot.core.questions import DIGEST_CHARS, needing_review
from bot.knowledge import KNOWLEDGE_FILE, load_knowledge

KNOWLEDGE = Path(__file__).resolve().parent.parent / "bot" / "knowledge" / KNOWLEDGE_FILE


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    path = Path(sys.argv[1])
    document = parse_policy(path.read_bytes(), path.name)
    reviews = needing_review(load_knowledge(), document)
    for review in reviews:
        print(f"{review.title}: reviewed {review.reviewed}, now {review.current or 'gone'}")
    if not reviews:
        print("every section's answers match this policy")
    if "--write" in sys.argv:
        text = KNOWLEDGE.read_text("utf-8")
        for review in reviews:
            section = document.section(review.title)
            if section is None:
                continue
            text = re.sub(
                rf"(reviewed: ){review.reviewed}\b", rf"\g<1>{section.digest[:DIGEST_CHARS]}", text
            )
        KNOWLEDGE.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
