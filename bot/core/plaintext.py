"""Renders the UI model as plain text, for the command line and for tests."""

from __future__ import annotations

from bot.core.ui import (
    Block,
    BulletList,
    Buttons,
    Confirmation,
    Divider,
    Fields,
    Form,
    Heading,
    Inline,
    Mention,
    Message,
    MultiChoice,
    Note,
    Paragraph,
    Quote,
    SingleChoice,
)


def _inline(part: Inline) -> str:
    if isinstance(part, Mention):
        return part.person.name or part.person.key
    return part


def render_blocks(blocks: tuple[Block, ...]) -> str:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += [block.text, "=" * len(block.text)]
        elif isinstance(block, Paragraph):
            lines.append("".join(_inline(p) for p in block.parts))
        elif isinstance(block, Quote):
            lines += [f"  | {line}" for line in block.text.splitlines() or [""]]
        elif isinstance(block, Fields):
            lines += [f"{label}: {_inline(value)}" for label, value in block.pairs]
        elif isinstance(block, BulletList):
            lines.append(f"{block.title}:")
            lines += [f"  - {item}" for item in block.items]
        elif isinstance(block, Note):
            lines.append(f"({block.text})")
        elif isinstance(block, Divider):
            lines.append("-" * 40)
        elif isinstance(block, Buttons):
            lines.append("  ".join(f"[{b.label}]" for b in block.buttons))
    return "\n".join(lines)


def render_message(message: Message) -> str:
    return render_blocks(message.blocks)


def render_form(form: Form) -> str:
    lines = [form.title, "=" * len(form.title), render_blocks(form.intro)]
    for item in form.inputs:
        if isinstance(item, Confirmation):
            lines.append(f"[ ] {item.statement}")
        elif isinstance(item, MultiChoice):
            choices = ", ".join(c.label for c in item.choices)
            lines.append(f"{item.label}: one or more of {choices}")
        elif isinstance(item, SingleChoice):
            choices = ", ".join(c.label for c in item.choices)
            lines.append(f"{item.label}: one of {choices}")
        else:
            lines.append(f"{item.label}: ____")
    lines.append(f"<{form.submit_label}>")
    return "\n".join(lines)
