"""Renders the UI model as plain text, for the command line, the terminal chat and tests.

Where a person presses buttons by typing (the terminal chat), each button is shown with its
number, `[3] Approve`: `first_button` numbers a message's buttons from there, in the order
`buttons_of` gives them.
"""

from __future__ import annotations

from bot.core.ui import (
    Block,
    BulletList,
    Button,
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


def buttons_of(blocks: tuple[Block, ...]) -> tuple[Button, ...]:
    """Every button in the blocks, in the order they are shown."""
    return tuple(b for block in blocks if isinstance(block, Buttons) for b in block.buttons)


def render_blocks(blocks: tuple[Block, ...], first_button: int | None = None) -> str:
    lines: list[str] = []
    number = first_button
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
            if number is None:
                lines.append("  ".join(f"[{b.label}]" for b in block.buttons))
            else:
                shown = [f"[{number + i}] {b.label}" for i, b in enumerate(block.buttons)]
                lines.append("  ".join(shown))
                number += len(block.buttons)
    return "\n".join(lines)


def render_message(message: Message, first_button: int | None = None) -> str:
    return render_blocks(message.blocks, first_button)


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
