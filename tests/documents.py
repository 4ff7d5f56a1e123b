"""Documents built in the tests, as a school's own files would be."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape


def word_document(
    paragraphs: list[tuple[str, str | None]],
    styles: bool = True,
    numbered: frozenset[str] = frozenset(),
) -> bytes:
    """A minimal Word document: (text, style id) paragraphs; those in `numbered` carry Word's
    automatic numbering, as a numbered heading or list item does."""

    def properties(text: str, style: str | None) -> str:
        inner = (f'<w:pStyle w:val="{style}"/>' if style else "") + (
            '<w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>' if text in numbered else ""
        )
        return f"<w:pPr>{inner}</w:pPr>" if inner else ""

    body = "".join(
        f"<w:p>{properties(text, style)}<w:r><w:t>{escape(text)}</w:t></w:r></w:p>"
        for text, style in paragraphs
    )
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        archive.writestr(
            "word/document.xml", f"<w:document {ns}><w:body>{body}</w:body></w:document>"
        )
        if styles:
            archive.writestr(
                "word/styles.xml",
                f'<w:styles {ns}><w:style w:styleId="Titel"><w:name w:val="Title"/></w:style>'
                f'<w:style w:styleId="berschrift1"><w:name w:val="heading 1"/></w:style>'
                "</w:styles>",
            )
    return buffer.getvalue()
