"""Renders the UI model to Block Kit.

Everything typed by a person is escaped for mrkdwn (only &, < and >: escaping quotes too would
show them literally), so a draft can never ping a channel or smuggle in a link.
"""

from __future__ import annotations

from typing import Any

from bot.core.people import Platform
from bot.core.ui import (
    Block,
    BulletList,
    Buttons,
    ButtonStyle,
    Choice,
    Confirmation,
    DateInput,
    Divider,
    Fields,
    FileInput,
    Form,
    FormInput,
    Heading,
    Inline,
    Mention,
    Message,
    MultiChoice,
    Note,
    Paragraph,
    PeoplePicker,
    Quote,
    SingleChoice,
    TextInput,
    TimeInput,
    UrlInput,
)

# Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_PER_SECTION = 10
HEADER_MAX = 150
BUTTON_TEXT_MAX = 75
OPTION_TEXT_MAX = 75
MESSAGE_BLOCKS_MAX = 50
MODAL_BLOCKS_MAX = 100
MODAL_TITLE_MAX = 24
CHECKBOX_OPTIONS_MAX = 10
RADIO_OPTIONS_MAX = 10
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30
CONFIRMED = "confirmed"

Json = dict[str, Any]


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inline(part: Inline) -> str:
    if isinstance(part, Mention):
        identity = part.person.identity_on(Platform.SLACK)
        if identity is not None:
            return f"<@{identity.external_id}>"
        return escape(part.person.name or "a colleague")
    return escape(part)


def _mrkdwn(escaped: str) -> Json:
    # verbatim: Slack shows the text as written. Without it Slack turns bare web addresses
    # and #channel names in a draft into live links; our own mentions (<@U…>) still work.
    return {"type": "mrkdwn", "text": escaped, "verbatim": True}


def _plain(text: str, limit: int) -> Json:
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return {"type": "plain_text", "text": text, "emoji": True}


def _safe_cut(escaped: str, limit: int) -> int:
    """Where to cut escaped text at most `limit` characters in, never inside an &entity;."""
    amp = escaped.rfind("&", limit - 5, limit)
    if amp != -1 and ";" not in escaped[amp:limit]:
        return amp
    return limit


def _chunks(escaped: str, limit: int) -> list[str]:
    """Split escaped mrkdwn into pieces of at most `limit` characters, at line ends where it
    can and never inside an &entity;."""
    pieces: list[str] = []
    rest = escaped
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = _safe_cut(rest, limit)
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    pieces.append(rest)
    return [p for p in pieces if p] or [" "]


def _sections(escaped: str) -> list[Json]:
    return [
        {"type": "section", "text": _mrkdwn(piece)} for piece in _chunks(escaped, SECTION_TEXT_MAX)
    ]


def _quote(text: str) -> str:
    # A line too long for one section is wrapped here, so every piece keeps its quote mark
    # when _chunks splits at line ends.
    width = SECTION_TEXT_MAX - 1
    quoted: list[str] = []
    for line in text.splitlines() or [""]:
        rest = escape(line)
        while len(rest) > width:
            cut = _safe_cut(rest, width)
            quoted.append(">" + rest[:cut])
            rest = rest[cut:]
        quoted.append(">" + rest)
    return "\n".join(quoted)


def render_blocks(blocks: tuple[Block, ...]) -> list[Json]:
    rendered: list[Json] = []
    for block in blocks:
        if isinstance(block, Heading):
            rendered.append({"type": "header", "text": _plain(block.text, HEADER_MAX)})
        elif isinstance(block, Paragraph):
            rendered.extend(_sections("".join(_inline(p) for p in block.parts)))
        elif isinstance(block, Quote):
            # The quote marks are ours; the person's own ">" was escaped and cannot nest one.
            rendered.extend(_sections(_quote(block.text)))
        elif isinstance(block, Fields):
            for start in range(0, len(block.pairs), FIELDS_PER_SECTION):
                rendered.append(
                    {
                        "type": "section",
                        "fields": [
                            {
                                "type": "mrkdwn",
                                "text": f"*{escape(label)}*\n{_inline(value)}"[:FIELD_TEXT_MAX],
                                "verbatim": True,
                            }
                            for label, value in block.pairs[start : start + FIELDS_PER_SECTION]
                        ],
                    }
                )
        elif isinstance(block, BulletList):
            lines = "\n".join(f"• {escape(item)}" for item in block.items)
            rendered.extend(_sections(f"*{escape(block.title)}*\n{lines}"))
        elif isinstance(block, Note):
            rendered.append(
                {
                    "type": "context",
                    "elements": [_mrkdwn(escape(block.text)[:SECTION_TEXT_MAX])],
                }
            )
        elif isinstance(block, Divider):
            rendered.append({"type": "divider"})
        elif isinstance(block, Buttons):
            elements = []
            for button in block.buttons:
                element: Json = {
                    "type": "button",
                    "text": _plain(button.label, BUTTON_TEXT_MAX),
                    "action_id": button.action,
                    "value": button.value,
                }
                if button.style is not ButtonStyle.DEFAULT:
                    element["style"] = button.style.value
                if button.confirm is not None:
                    element["confirm"] = {
                        "title": _plain(button.confirm.title, CONFIRM_TITLE_MAX),
                        "text": _plain(button.confirm.text, CONFIRM_TEXT_MAX),
                        "confirm": _plain(button.confirm.confirm, CONFIRM_BUTTON_MAX),
                        "deny": _plain(button.confirm.deny, CONFIRM_BUTTON_MAX),
                    }
                elements.append(element)
            rendered.append({"type": "actions", "elements": elements})
        else:
            raise TypeError(f"no Block Kit rendering for {type(block).__name__}")
    return rendered


def render_message(message: Message) -> Json:
    blocks = render_blocks(message.blocks)
    if len(blocks) > MESSAGE_BLOCKS_MAX:
        raise ValueError(
            f"{len(blocks)} blocks: a Slack message holds at most {MESSAGE_BLOCKS_MAX}"
        )
    return {"text": escape(message.summary), "blocks": blocks}


def _input(item: FormInput) -> Json:
    element = _element(item)
    # Optional to Slack, so that a missing choice or tick reaches us and is refused with our
    # reason (for a tick, the policy's) rather than Slack's generic "required".
    optional = isinstance(item, SingleChoice | Confirmation) or not item.required
    label = item.statement if isinstance(item, Confirmation) else item.label
    block: Json = {
        "type": "input",
        "block_id": item.name,
        "optional": optional,
        "label": _plain(label, 2000),
        "element": element,
    }
    if item.hint:
        block["hint"] = _plain(item.hint, 2000)
    return block


def _element(item: FormInput) -> Json:
    if isinstance(item, TextInput):
        return _text_element(item)
    if isinstance(item, MultiChoice):
        return _multi_choice_element(item)
    if isinstance(item, SingleChoice):
        return _single_choice_element(item)
    if isinstance(item, PeoplePicker):
        return {"type": "multi_users_select", "action_id": item.name}
    if isinstance(item, TimeInput):
        return {"type": "timepicker", "action_id": item.name}
    if isinstance(item, Confirmation):
        return {
            "type": "checkboxes",
            "action_id": item.name,
            "options": [
                {"text": _plain(f"Confirmed: {item.label}", OPTION_TEXT_MAX), "value": CONFIRMED}
            ],
        }
    if isinstance(item, UrlInput):
        return {"type": "url_text_input", "action_id": item.name}
    if isinstance(item, DateInput):
        return _date_element(item)
    if isinstance(item, FileInput):
        return _file_element(item)
    raise TypeError(f"no Block Kit input for {type(item).__name__}")


def _text_element(item: TextInput) -> Json:
    element: Json = {
        "type": "plain_text_input",
        "action_id": item.name,
        "multiline": item.multiline,
    }
    if item.max_length:
        element["max_length"] = item.max_length
    if item.initial:
        element["initial_value"] = item.initial
    if item.placeholder:
        element["placeholder"] = _plain(item.placeholder, 150)
    return element


def _options(choices: tuple[Choice, ...]) -> list[Json]:
    return [
        {"text": _plain(choice.label, OPTION_TEXT_MAX), "value": choice.value} for choice in choices
    ]


def _multi_choice_element(item: MultiChoice) -> Json:
    options = _options(item.choices)
    kind = "checkboxes" if len(options) <= CHECKBOX_OPTIONS_MAX else "multi_static_select"
    element: Json = {"type": kind, "action_id": item.name, "options": options}
    initial = [o for o in options if o["value"] in item.initial]
    if initial:
        element["initial_options"] = initial
    return element


def _single_choice_element(item: SingleChoice) -> Json:
    # Radio buttons hold ten; a longer list (a policy's sections) is a menu.
    radios = _options(item.choices)
    kind = "radio_buttons" if len(radios) <= RADIO_OPTIONS_MAX else "static_select"
    element: Json = {"type": kind, "action_id": item.name, "options": radios}
    for radio in radios:
        if radio["value"] == item.initial:
            element["initial_option"] = radio
    return element


def _date_element(item: DateInput) -> Json:
    element: Json = {"type": "datepicker", "action_id": item.name}
    if item.initial:
        element["initial_date"] = item.initial
    return element


def _file_element(item: FileInput) -> Json:
    element: Json = {"type": "file_input", "action_id": item.name, "max_files": item.max_files}
    if item.file_types:
        element["filetypes"] = list(item.file_types)
    return element


def render_modal(form: Form) -> Json:
    blocks = render_blocks(form.intro) + [_input(item) for item in form.inputs]
    if len(blocks) > MODAL_BLOCKS_MAX:
        raise ValueError(f"{len(blocks)} blocks: a Slack modal holds at most {MODAL_BLOCKS_MAX}")
    return {
        "type": "modal",
        "callback_id": form.form_id,
        "title": _plain(form.title, MODAL_TITLE_MAX),
        "submit": _plain(form.submit_label, MODAL_TITLE_MAX),
        "close": _plain("Cancel", MODAL_TITLE_MAX),
        "private_metadata": form.context,
        "blocks": blocks,
    }


def render_result_modal(title: str, message: Message) -> Json:
    """What the modal turns into after a successful submission."""
    return {
        "type": "modal",
        "title": _plain(title, MODAL_TITLE_MAX),
        "close": _plain("Done", MODAL_TITLE_MAX),
        "blocks": render_blocks(message.blocks),
    }
