"""A copy of the reference policy with every heading reworded, and its questions relabelled.

The questions in bench/questions/ name the sections that answer them by their headings. To see
whether answering depends on the wording of the headings rather than on what the sections say,
this rewrites each heading of the reference policy (shared/policy/social-media-policy.txt, beside
the repository) with different words that mean the same, leaves every paragraph as it was, and
translates a questions file's labels through the same renaming:

    python -m bench.rename_headings --out /tmp/renamed.txt \\
        --questions bench/questions/held-out.tsv --questions-out /tmp/held-out-renamed.tsv

Nothing is written into the repository: the copy goes where --out says, or to standard output.
The policy is another school's own document, so neither it nor the copy is kept here; only this
script is. The renaming is printed to standard error.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from bot.core.policy import PolicyDocument, PolicyError, parse_policy, title_key

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = REPOSITORY.parent / "shared" / "policy" / "social-media-policy.txt"

# Old heading (by title_key) -> a new heading that means the same in other words. The new
# wordings avoid the old ones' words, so a match on heading words finds nothing to lean on.
NEW_WORDING: dict[str, str] = {
    title_key("Introduction"): "Opening remarks",
    title_key("Purpose of This Policy"): "Why these rules exist",
    title_key("Who is Covered by This Policy?"): "Everyone it applies to",
    title_key("Scope and Purpose of This Policy"): "Which platforms and situations are included",
    title_key("Personnel Responsible for Implementing This Policy"): "Who leads on it day to day",
    title_key("Compliance with Related Policies and Agreements"): (
        "Other school rules still count online"
    ),
    title_key("Personal Use of Social Media"): "Your own private accounts",
    title_key("Monitoring"): "Checks on school computers and networks",
    title_key("Educational and Extra-Curricular Use of Social Media"): (
        "Online platforms for learning, clubs and outings"
    ),
    title_key("Recruitment"): "Vetting job applicants",
    title_key("Responsible Use of Social Media"): "Good conduct online",
    title_key("Photographs for use with social media:"): "Taking and sharing images",
    title_key("Staff protocol for use of social media:"): "Steps before a post goes live",
    title_key("Protecting our business reputation:"): "Guarding how the school is seen",
    title_key("Process for creating new accounts"): "Setting up an extra school profile",
    title_key("Respecting intellectual property and confidential information:"): (
        "Copyright, trademarks and sensitive material"
    ),
    title_key(
        "Respecting colleagues, pupils, parents, clients, service providers and stakeholders:"
    ): "Courtesy towards everyone in the school community",
    title_key("Monitoring and Review of This Policy"): "Keeping these rules up to date",
}

# A section number written before a heading ("4.", "3.1"), kept when the heading is reworded.
_NUMBER = re.compile(r"^\(?\d{1,2}(?:\.\d{1,2})*[.)]?\s+")
_MARKDOWN_MARK = re.compile(r"^\s*#{1,6}\s+")


class RenameError(Exception):
    """The policy cannot be renamed faithfully: a heading is missing from the table, cannot be
    found as a line of its own, or the renamed text no longer parses into the same sections."""


def _heading_text(line: str) -> str:
    """A line as the parser would see it as a heading: spacing collapsed, no Markdown mark."""
    return " ".join(_MARKDOWN_MARK.sub("", line).split())


def _reworded(line: str, new: str) -> str:
    """The heading line with its words replaced: indentation, Markdown mark, section number
    and line ending stay as written."""
    body = line.rstrip("\r\n")
    ending = line[len(body) :]
    mark = _MARKDOWN_MARK.match(body)
    prefix = mark.group() if mark else body[: len(body) - len(body.lstrip())]
    rest = body[len(prefix) :]
    number = _NUMBER.match(rest)
    return prefix + (number.group() if number else "") + new + ending


def _parse(text: str, name: str) -> PolicyDocument:
    return parse_policy(text.encode("utf-8"), name)


def renamed(text: str, name: str = "policy.txt") -> tuple[str, dict[str, str]]:
    """The policy with each section heading reworded from NEW_WORDING, and a map from each old
    short title to its new one. `name` says how to read the text (".md" for Markdown). Raises
    RenameError when a heading has no new wording, cannot be found, or when the result does not
    parse into the same sections, with the new titles and the same text."""
    before = _parse(text, name)
    lines = text.splitlines(keepends=True)
    renaming: dict[str, str] = {}
    expected: list[str] = []
    cursor = 0
    for section in before.sections:
        new = NEW_WORDING.get(title_key(section.title))
        if new is None:
            raise RenameError(f"no new wording for the heading {section.title!r}")
        index = next(
            (i for i in range(cursor, len(lines)) if _heading_text(lines[i]) == section.title),
            None,
        )
        if index is None:
            raise RenameError(f"the heading {section.title!r} is not a line of its own")
        lines[index] = _reworded(lines[index], new)
        cursor = index + 1
        new_title = _heading_text(lines[index])
        expected.append(new_title)
        renaming[section.short_title] = new_title.rstrip().rstrip(":").rstrip()

    result = "".join(lines)
    after = _parse(result, name)
    if len(after.sections) != len(before.sections):
        raise RenameError(
            f"the renamed text parses into {len(after.sections)} sections, "
            f"not {len(before.sections)}"
        )
    for old, new_section, wanted in zip(before.sections, after.sections, expected, strict=True):
        if title_key(new_section.title) != title_key(wanted):
            raise RenameError(
                f"{old.title!r} was renamed {wanted!r} but parses as {new_section.title!r}"
            )
        if new_section.passages != old.passages:
            raise RenameError(f"the text under {old.title!r} changed when it was renamed")
    if after.title != before.title:
        raise RenameError(f"the document's title changed: {before.title!r} -> {after.title!r}")
    return result, renaming


def relabel(tsv_text: str, renaming: dict[str, str]) -> str:
    """A questions file (question<TAB>title|title) with each title translated by `renaming`.
    Comments and blank lines are kept. Raises RenameError for a title the renaming lacks."""
    by_key = {title_key(old): new for old, new in renaming.items()}
    out: list[str] = []
    for number, line in enumerate(tsv_text.splitlines(keepends=True), start=1):
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        if not body.strip() or body.lstrip().startswith("#"):
            out.append(line)
            continue
        question, tab, labels = body.partition("\t")
        if not tab:
            raise RenameError(f"line {number} has no tab between the question and its titles")
        titles: list[str] = []
        for label in labels.split("|"):
            new = by_key.get(title_key(label))
            if new is None:
                raise RenameError(f"line {number}: no heading {label.strip()!r} in the policy")
            titles.append(new)
        out.append(f"{question}\t{'|'.join(titles)}{ending}")
    return "".join(out)


def _inside_repository(path: Path) -> bool:
    return path.resolve().is_relative_to(REPOSITORY)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Reword every heading of a policy and relabel a questions file to match."
    )
    parser.add_argument(
        "--policy", type=Path, default=DEFAULT_POLICY, help="policy text (default: %(default)s)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write the renamed policy, outside the repository "
        "(default: standard output, unless --questions is given)",
    )
    parser.add_argument("--questions", type=Path, help="a questions TSV to relabel")
    parser.add_argument(
        "--questions-out",
        type=Path,
        help="where to write the relabelled questions (default: standard output)",
    )
    args = parser.parse_args(argv)
    if args.out is not None and _inside_repository(args.out):
        parser.error(f"{args.out} is inside the repository; write the renamed policy elsewhere")

    try:
        text = args.policy.read_bytes().decode("utf-8-sig")
        result, renaming = renamed(text, args.policy.name)
        questions = (
            relabel(args.questions.read_text(encoding="utf-8"), renaming)
            if args.questions is not None
            else None
        )
    except (OSError, UnicodeDecodeError, PolicyError, RenameError) as error:
        print(f"rename_headings: {error}", file=sys.stderr)
        return 1

    for old, new in renaming.items():
        print(f"{old}  ->  {new}", file=sys.stderr)
    if args.out is not None:
        args.out.write_text(result, encoding="utf-8", newline="")
    elif questions is None:
        sys.stdout.write(result)
    if questions is not None:
        if args.questions_out is not None:
            args.questions_out.write_text(questions, encoding="utf-8", newline="")
        else:
            sys.stdout.write(questions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
