"""The school's policy document, split into sections by its own headings.

The document is the school's: the bot reads whatever file the configuration names (plain text,
Markdown or Word .docx) and finds the sections from the headings the school wrote, so a new
version needs no change of code. Each section and the whole document carry a digest, so what
the bot knows beyond the document can say which version of it it was written for.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.etree import ElementTree

# A heading is a short line of its own: DESIGN.md, "The sections of the policy document".
HEADING_MAX_CHARS = 100
HEADING_MAX_WORDS = 14
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022\u2013]|\(?[0-9]{1,2}[.)]|\(?[a-z]{1,4}[.)])\s+", re.I)
_SENTENCE_END = (".", ";", ",", "!")


class PolicyError(Exception):
    """The document cannot be read as a policy; the message says why, for the operator."""


@dataclass(frozen=True, slots=True)
class Passage:
    """A paragraph or one list item: what gets quoted. `lead` is the sentence that introduced
    the item's list ("...the following steps must be taken:"), so a quote makes sense alone."""

    text: str
    lead: str | None = None

    @property
    def quoted(self) -> str:
        return f"{self.lead}\n{self.text}" if self.lead else self.text

    @property
    def digest(self) -> str:
        """The passage's wording, whatever its case, spacing or list marker: a short answer
        written against this passage may be served wherever these words appear."""
        return passage_digest(self.text)


@dataclass(frozen=True, slots=True)
class Section:
    title: str  # as the heading appears in the document
    passages: tuple[Passage, ...]

    @property
    def short_title(self) -> str:
        """The title as shown to people: without a final colon (DESIGN.md allows this)."""
        return self.title.rstrip().rstrip(":").rstrip()

    @property
    def text(self) -> str:
        lines: list[str] = []
        lead: str | None = None
        for passage in self.passages:
            if passage.lead and passage.lead != lead:
                lines.append(passage.lead)
            lead = passage.lead
            lines.append(passage.text)
        return "\n".join(lines)

    @property
    def digest(self) -> str:
        """Changes when the section's title or wording changes, not its spacing."""
        return _digest(self.short_title + "\n" + self.text)


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    title: str | None
    sections: tuple[Section, ...]
    source: str  # where it was read from, for messages to the operator

    @property
    def digest(self) -> str:
        """The version of the document: every stored answer records it."""
        return _digest("\n\n".join(s.short_title + "\n" + s.text for s in self.sections))

    def section(self, title: str) -> Section | None:
        wanted = title_key(title)
        return next((s for s in self.sections if title_key(s.title) == wanted), None)

    @property
    def answerable(self) -> tuple[Section, ...]:
        """Sections with text of their own (a heading over others has none to quote)."""
        return tuple(s for s in self.sections if s.passages)


def title_key(title: str) -> str:
    """Titles compare without case, spacing, a section number or a final colon."""
    return " ".join(_SECTION_NUMBER.sub("", title.strip()).replace(":", " ").casefold().split())


PASSAGE_DIGEST_CHARS = 12


def passage_digest(text: str) -> str:
    unmarked = _LIST_ITEM.sub("", _LIST_ITEM.sub("", text, count=1), count=1)  # "- a) ..."
    return _digest(unmarked.casefold())[:PASSAGE_DIGEST_CHARS]


def _digest(text: str) -> str:
    normalised = " ".join(text.split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


# --- reading ------------------------------------------------------------------------------


SAVE_AS = "save the policy as Word (.docx), Markdown (.md) or plain text (.txt)"


def parse_policy(data: bytes, name: str) -> PolicyDocument:
    """Read a document by its file name's ending: .docx, .md/.markdown, anything else text.
    What is none of these is refused by its content, whatever its name: a PDF or a binary
    file read as text would give sections of gibberish."""
    lowered = name.lower()
    if data.startswith(b"%PDF"):
        raise PolicyError(f"{name} is a PDF, which socialdesk cannot read: {SAVE_AS}")
    if lowered.endswith(".docx"):
        blocks = _docx_blocks(data, name)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise PolicyError(
                f"{name} is not UTF-8 text ({error.reason} at byte {error.start}): {SAVE_AS}"
            ) from error
        if "\x00" in text:
            raise PolicyError(f"{name} is not a text file (it holds binary data): {SAVE_AS}")
        if lowered.endswith((".md", ".markdown")):
            blocks = _markdown_blocks(text)
        else:
            blocks = _text_blocks(text)
    document = _sections_of(blocks, name)
    if not document.answerable:
        raise PolicyError(f"{name} has no headings followed by text, so no sections were found")
    return document


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    heading: bool | None = None  # None: decide by the shape of the text
    title: bool = False  # the document's own title (Word's Title style, a Markdown h1)


def _clean(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split())


def _text_blocks(text: str) -> list[_Block]:
    """Paragraphs are separated by blank lines; a list item on its own line is a paragraph."""
    blocks: list[_Block] = []
    for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [line.strip() for line in chunk.split("\n") if line.strip()]
        current: list[str] = []
        for line in lines:
            if current and _LIST_ITEM.match(line):
                blocks.append(_Block(_clean(" ".join(current))))
                current = []
            current.append(line)
        if current:
            blocks.append(_Block(_clean(" ".join(current))))
    return blocks


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# Underscores mark emphasis only at word edges: my_school_account stays as written.
_MD_EMPHASIS = re.compile(r"(\*\*|\*|`|(?<!\w)__|(?<!\w)_)(?=\S)(.+?)(?<=\S)\1(?!\w)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


def _markdown_inline(text: str) -> str:
    return _MD_EMPHASIS.sub(r"\2", _MD_LINK.sub(r"\1", text))


def _markdown_blocks(text: str) -> list[_Block]:
    lines = text.replace("\r\n", "\n").split("\n")
    has_atx = any(_MD_HEADING.match(line) for line in lines)
    blocks: list[_Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            for block in _text_blocks("\n".join(paragraph)):
                blocks.append(_Block(_markdown_inline(block.text), None if not has_atx else False))
            paragraph.clear()

    for index, line in enumerate(lines):
        heading = _MD_HEADING.match(line)
        underline = index + 1 < len(lines) and re.fullmatch(r"\s*(=+|-+)\s*", lines[index + 1])
        if heading:
            flush()
            level = len(heading.group(1))
            text = _clean(_markdown_inline(heading.group(2)))
            blocks.append(_Block(text, heading=True, title=level == 1 and not blocks))
        elif underline and line.strip() and not paragraph:
            flush()
            blocks.append(_Block(_clean(_markdown_inline(line)), heading=True))
        elif re.fullmatch(r"\s*(=+|-+)\s*", line) and blocks and blocks[-1].heading:
            continue
        elif not line.strip():
            flush()
        else:
            paragraph.append(line)
    flush()
    return blocks


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_blocks(data: bytes, name: str) -> list[_Block]:
    document, styles = _docx_parts(data, name)
    paragraphs = _docx_paragraphs(document, _docx_style_names(styles))
    styled = any(s.startswith("heading") or s == "title" for _, s, _ in paragraphs)
    blocks: list[_Block] = []
    for text, style, numbered in paragraphs:
        heading_style = style.startswith("heading") or style == "title"
        if (numbered or "list" in style) and not (styled and heading_style):
            text = f"- {text}"
        if not styled:
            blocks.append(_Block(text))
        elif style == "title":
            blocks.append(_Block(text, heading=True, title=True))
        else:
            blocks.append(_Block(text, heading=style.startswith("heading")))
    return blocks


def _docx_parts(data: bytes, name: str) -> tuple[ElementTree.Element, ElementTree.Element | None]:
    """The document's body and, when it has them, its style definitions."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            document = ElementTree.fromstring(archive.read("word/document.xml"))  # noqa: S314
            styles = (
                ElementTree.fromstring(archive.read("word/styles.xml"))  # noqa: S314
                if "word/styles.xml" in archive.namelist()
                else None
            )
    # A damaged file fails in many ways: a bad zip, a missing part, bad XML, bad compression.
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, zlib.error) as error:
        raise PolicyError(f"{name} is not a readable Word document ({error})") from error
    except (RuntimeError, NotImplementedError, ValueError, EOFError) as error:
        raise PolicyError(f"{name} is not a readable Word document ({error})") from error
    return document, styles


def _docx_style_names(styles: ElementTree.Element | None) -> dict[str, str]:
    """Style id to casefolded style name: ids are localised ("Heading1", "berschrift1");
    names are not."""
    style_names: dict[str, str] = {}
    if styles is not None:
        for definition in styles.iter(f"{_W}style"):
            style_id = definition.get(f"{_W}styleId")
            named = definition.find(f"{_W}name")
            if style_id and named is not None:
                style_names[style_id] = (named.get(f"{_W}val") or "").casefold()
    return style_names


def _docx_paragraphs(
    document: ElementTree.Element, style_names: dict[str, str]
) -> list[tuple[str, str, bool]]:
    """Each paragraph with text: its text, its style's name, and whether Word numbers it."""
    paragraphs: list[tuple[str, str, bool]] = []
    for paragraph in document.iter(f"{_W}p"):
        text = _docx_text(paragraph)
        if not text:
            continue
        properties = paragraph.find(f"{_W}pPr")
        style_id = ""
        numbered = False
        if properties is not None:
            chosen = properties.find(f"{_W}pStyle")
            style_id = (chosen.get(f"{_W}val") or "") if chosen is not None else ""
            numbered = properties.find(f"{_W}numPr") is not None
        paragraphs.append((text, style_names.get(style_id, style_id.casefold()), numbered))
    return paragraphs


def _docx_text(paragraph: ElementTree.Element) -> str:
    parts: list[str] = []
    for node in paragraph.iter():
        if node.tag == f"{_W}t" and node.text:
            parts.append(node.text)
        elif node.tag in (f"{_W}tab", f"{_W}br"):
            parts.append(" ")
    return _clean("".join(parts))


# "1. Introduction", "3.1 Photographs": a section number before a heading.
_SECTION_NUMBER = re.compile(r"^\(?\d{1,2}(?:\.\d{1,2})*[.)]?\s+")


def _continues(previous: _Block | None, number: str) -> bool:
    """Whether `number` ("4.") follows the item before it ("3. ...") in one list."""
    if previous is None:
        return False
    before = re.match(r"^\(?(\d{1,2})[.)]\s", previous.text)
    this = re.match(r"^\(?(\d{1,2})[.)]?\s*$", number)
    return bool(before and this and int(this.group(1)) == int(before.group(1)) + 1)


def _looks_like_heading(
    block: _Block, following: _Block | None, previous: _Block | None = None
) -> bool:
    text = block.text
    if following is None:
        return False
    numbered = _SECTION_NUMBER.match(text)
    if numbered:
        # A numbered line that starts or carries on a numbered list is an item, not a section.
        if _LIST_ITEM.match(following.text) or _continues(previous, numbered.group()):
            return False
        text = text[numbered.end() :]
    elif _LIST_ITEM.match(text):
        return False
    if len(text) > HEADING_MAX_CHARS or len(text.split()) > HEADING_MAX_WORDS:
        return False
    if text.endswith(_SENTENCE_END) or not text[:1].isupper():
        return False
    # "...defamatory statements about:" leads into a list; a heading ending in a colon is
    # followed by prose (DESIGN.md).
    return not (text.endswith(":") and _LIST_ITEM.match(following.text))


def _sections_of(blocks: Sequence[_Block], name: str) -> PolicyDocument:
    headings = [
        block.heading
        if block.heading is not None
        else _looks_like_heading(
            block,
            blocks[i + 1] if i + 1 < len(blocks) else None,
            blocks[i - 1] if i else None,
        )
        for i, block in enumerate(blocks)
    ]
    title: str | None = None
    start = 0
    if blocks and blocks[0].title:
        title, start = blocks[0].text, 1
    elif len(blocks) > 1 and headings[0] and headings[1] and not blocks[1].title:
        # A first heading with no text before the next heading names the document.
        title, start = blocks[0].text, 1

    sections: list[tuple[str, list[str]]] = []
    preamble: list[str] = []
    for block, heading in zip(blocks[start:], headings[start:], strict=True):
        if heading:
            sections.append((block.text, []))
        elif sections:
            sections[-1][1].append(block.text)
        else:
            preamble.append(block.text)
    if not sections:
        raise PolicyError(f"{name} has no headings followed by text, so no sections were found")
    if preamble:
        # Text before the first heading: under the document's title, as the reader sees it.
        sections.insert(0, (title or "Introduction", preamble))

    built = tuple(Section(heading, tuple(_passages(texts))) for heading, texts in sections)
    return PolicyDocument(title=title, sections=built, source=name)


def _passages(paragraphs: Iterable[str]) -> Iterable[Passage]:
    lead: str | None = None
    led = False  # whether the pending lead has had a list item
    for paragraph in paragraphs:
        if _LIST_ITEM.match(paragraph):
            yield Passage(paragraph, lead)
            led = True
            continue
        if lead is not None and not led:
            yield Passage(lead)  # a sentence ending in a colon with no list after it
        lead, led = (paragraph, False) if paragraph.endswith(":") else (None, False)
        if lead is None:
            yield Passage(paragraph)
    if lead is not None and not led:
        yield Passage(lead)
