"""Build the Word version of the example school's policy from its Markdown source.

    .venv/bin/python scripts/build-example-docx.py [--check]

examples/policy/social-media-policy.md is the source; the .docx beside it is what a school's
policy usually is, so the example shows the bot reading Word. The Word file carries the same
words under the same headings, so the bot reads the same sections at the same version from
either. --check builds it in memory and fails if the committed file differs (the tests run it).

Only the Markdown the example uses is understood: `# ` the title, `## ` a heading, `- ` a
bullet, `1. ` a numbered step (kept as typed, so the number is part of the text in both), and
paragraphs separated by blank lines. Standard library only, no Word library.
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "examples" / "policy" / "social-media-policy.md"
TARGET = SOURCE.with_suffix(".docx")
# A fixed time for every member, so the same source always builds the same file.
STAMP = (2026, 1, 1, 0, 0, 0)

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_ITEM = re.compile(r"^(- |\d{1,2}\. )")

OPC = "http://schemas.openxmlformats.org"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
WORD_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml"
RELATIONSHIP = f"{OPC}/officeDocument/2006/relationships"


def _override(part: str, content_type: str) -> str:
    return f'<Override PartName="{part}" ContentType="{content_type}"/>'


def _relationships(*targets: tuple[str, str]) -> str:
    inner = "".join(
        f'<Relationship Id="rId{n}" Type="{kind}" Target="{target}"/>'
        for n, (kind, target) in enumerate(targets, 1)
    )
    return (
        f'{XML_DECLARATION}<Relationships xmlns="{OPC}/package/2006/relationships">'
        f"{inner}</Relationships>"
    )


CONTENT_TYPES = (
    f'{XML_DECLARATION}<Types xmlns="{OPC}/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    + _override("/word/document.xml", f"{WORD_TYPE}.document.main+xml")
    + _override("/word/styles.xml", f"{WORD_TYPE}.styles+xml")
    + _override("/word/numbering.xml", f"{WORD_TYPE}.numbering+xml")
    + _override("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml")
    + "</Types>"
)
PACKAGE_RELS = _relationships(
    (f"{RELATIONSHIP}/officeDocument", "word/document.xml"),
    (f"{OPC}/package/2006/relationships/metadata/core-properties", "docProps/core.xml"),
)
DOCUMENT_RELS = _relationships(
    (f"{RELATIONSHIP}/styles", "styles.xml"),
    (f"{RELATIONSHIP}/numbering", "numbering.xml"),
)
STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<w:styles xmlns:w="{W}">'
    '<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/>'
    '<w:pPr><w:spacing w:after="160"/></w:pPr><w:rPr><w:sz w:val="22"/></w:rPr></w:style>'
    '<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/>'
    '<w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/>'
    '<w:pPr><w:spacing w:after="240"/></w:pPr><w:rPr><w:b/><w:sz w:val="40"/></w:rPr></w:style>'
    '<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/>'
    '<w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/>'
    '<w:pPr><w:keepNext/><w:spacing w:before="240" w:after="120"/><w:outlineLvl w:val="0"/></w:pPr>'
    '<w:rPr><w:b/><w:sz w:val="28"/></w:rPr></w:style>'
    '<w:style w:type="paragraph" w:styleId="ListBullet"><w:name w:val="List Bullet"/>'
    '<w:basedOn w:val="Normal"/><w:pPr><w:numPr><w:numId w:val="1"/></w:numPr>'
    '<w:spacing w:after="80"/></w:pPr></w:style>'
    '<w:style w:type="paragraph" w:styleId="Step"><w:name w:val="Step"/>'
    '<w:basedOn w:val="Normal"/><w:pPr><w:spacing w:after="80"/>'
    '<w:ind w:left="720" w:hanging="360"/></w:pPr></w:style>'
    "</w:styles>"
)
NUMBERING = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<w:numbering xmlns:w="{W}">'
    '<w:abstractNum w:abstractNumId="0"><w:lvl w:ilvl="0"><w:start w:val="1"/>'
    '<w:numFmt w:val="bullet"/><w:lvlText w:val="\u2022"/><w:lvlJc w:val="left"/>'
    '<w:pPr><w:ind w:left="720" w:hanging="360"/></w:pPr></w:lvl></w:abstractNum>'
    '<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>'
    "</w:numbering>"
)


def paragraphs(markdown: str) -> list[tuple[str, str]]:
    """(style id, text) for each paragraph of the source, in order."""
    found: list[tuple[str, str]] = []
    for chunk in re.split(r"\n\s*\n", markdown.strip()):
        current: list[str] = []
        for line in (line.strip() for line in chunk.splitlines() if line.strip()):
            if line.startswith("## "):
                found.append(("Heading1", line[3:].strip()))
            elif line.startswith("# "):
                found.append(("Title", line[2:].strip()))
            elif _ITEM.match(line) or not current:
                current = [line]
                found.append(("", line))
            else:
                current.append(line)
                found[-1] = ("", " ".join(current))
    styled: list[tuple[str, str]] = []
    for style, text in found:
        if not style and text.startswith("- "):
            style, text = "ListBullet", text[2:]
        elif not style and _ITEM.match(text):
            style = "Step"
        styled.append((style, text))
    return styled


def document_xml(markdown: str) -> str:
    body = []
    for style, text in paragraphs(markdown):
        properties = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
        run = f'<w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r>'
        body.append(f"<w:p>{properties}{run}</w:p>")
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{W}"><w:body>{"".join(body)}'
        '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/>'
        '<w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440"/></w:sectPr>'
        "</w:body></w:document>"
    )


def core_xml(markdown: str) -> str:
    title = next((text for style, text in paragraphs(markdown) if style == "Title"), "")
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<cp:coreProperties xmlns:cp="{OPC}/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:title>{escape(title)}</dc:title><dc:creator>socialdesk example</dc:creator>"
        "</cp:coreProperties>"
    )


def members(markdown: str) -> dict[str, str]:
    """The package's parts, name to content."""
    return {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": PACKAGE_RELS,
        "docProps/core.xml": core_xml(markdown),
        "word/_rels/document.xml.rels": DOCUMENT_RELS,
        "word/document.xml": document_xml(markdown),
        "word/styles.xml": STYLES,
        "word/numbering.xml": NUMBERING,
    }


def build(markdown: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members(markdown).items():
            info = zipfile.ZipInfo(name, date_time=STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content.encode("utf-8"))
    return buffer.getvalue()


def differences(built: bytes, committed: bytes) -> list[str]:
    """Parts that differ, compared by content (compressed bytes may vary with zlib)."""
    with (
        zipfile.ZipFile(io.BytesIO(built)) as new,
        zipfile.ZipFile(io.BytesIO(committed)) as old,
    ):
        names = set(new.namelist()) | set(old.namelist())
        return sorted(
            name
            for name in names
            if name not in new.namelist()
            or name not in old.namelist()
            or new.read(name) != old.read(name)
        )


def main(argv: list[str]) -> int:
    built = build(SOURCE.read_text("utf-8"))
    relative = TARGET.relative_to(ROOT)
    if "--check" in argv:
        if not TARGET.exists():
            print(f"{relative} is missing: run scripts/build-example-docx.py", file=sys.stderr)
            return 1
        try:
            changed = differences(built, TARGET.read_bytes())
        except zipfile.BadZipFile:
            changed = ["the whole file (not a readable Word document)"]
        if changed:
            print(
                f"{relative} is out of date with {SOURCE.name} ({', '.join(changed)}): "
                "run scripts/build-example-docx.py",
                file=sys.stderr,
            )
            return 1
        print(f"{relative} matches {SOURCE.name}")
        return 0
    TARGET.write_bytes(built)
    print(f"wrote {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
