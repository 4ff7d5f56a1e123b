"""Renders the UI model to Adaptive Cards 1.5 for Teams.

Every piece of text is a TextRun in a RichTextBlock. Unlike a TextBlock, a TextRun is never
read as markdown, so a draft cannot smuggle in a link (`[Click](…)`), emphasis or a list, and
no card text carries Teams' `<at>` mention markup with the entities that would make it ping.

Buttons are `Action.Execute`: Teams sends the click to the bot as an `adaptiveCard/action`
invoke, the bot answers the clicker with the updated card in the invoke response, and the
other copies are replaced through the Bot Connector. A button that asks for something first
(a reason, a live link, a confirmation) opens it inside the card with `Action.ShowCard`, the
card's own equivalent of Slack's modal; the answer comes back through the same invoke.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.ui import (
    Block,
    BulletList,
    Button,
    Buttons,
    ButtonStyle,
    Confirmation,
    DateInput,
    Divider,
    Fields,
    FileInput,
    Form,
    FormErrors,
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

Json = dict[str, Any]

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.5"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# Reserved keys in an Action.Execute's data; an input's id never starts with this prefix.
RESERVED_PREFIX = "sd_"
FORM_KEY = "sd_form"
PREFIX_KEY = "sd_prefix"
CONTEXT_KEY = "sd_context"
# Set when files sent with the form's `post` are kept on the server under its form key.
FILES_KEPT_KEY = "sd_files_kept"
FORM_ID_KEY = "sd_form_key"
# The key files sent in the chat are kept under, when it is not the form's own (a report).
UPLOADS_KEY = "sd_uploads"
VALUE_KEY = "sd_value"
# A button that opens a dialog (a Teams task module) names what it does here.
VERB_KEY = "sd_verb"
# The verb of every form's submit button: which form it is travels in the data.
SUBMIT_VERB = "socialdesk.form"
CONFIRMED = "confirmed"
NOT_CONFIRMED = "not_confirmed"

_STYLES = {ButtonStyle.PRIMARY: "positive", ButtonStyle.DANGER: "destructive"}


def _run(text: str, **style: Any) -> Json:
    return {"type": "TextRun", "text": text, **style}


def _rich(*runs: Json, **extra: Any) -> Json:
    return {"type": "RichTextBlock", "inlines": list(runs), **extra}


class CardRenderer:
    # --- messages ----------------------------------------------------------------------

    def activity(self, message: Message) -> Json:
        """A message activity carrying the card, as the delivery worker sends it."""
        return {
            "type": "message",
            "summary": message.summary,
            "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": self.card(message)}],
        }

    def card(self, message: Message) -> Json:
        body: list[Json] = []
        actions: list[Json] = []
        for block in message.blocks:
            if isinstance(block, Buttons):
                actions.extend(self._action(b) for b in block.buttons)
            else:
                body.extend(self._block(block))
        return self._card(body, actions, message.summary)

    def _card(self, body: list[Json], actions: list[Json], summary: str) -> Json:
        card: Json = {
            "type": "AdaptiveCard",
            "$schema": SCHEMA,
            "version": CARD_VERSION,
            "fallbackText": summary,
            "speak": summary,
            "body": body,
            "msteams": {"width": "Full"},
        }
        if actions:
            card["actions"] = actions
        return card

    def _inline(self, part: Inline) -> str:
        if isinstance(part, Mention):
            # Plain names: a Teams mention would need `<at>` markup and entities, and would
            # ping the person named on every copy of the card.
            return part.person.name or "a member of staff"
        return part

    def _block(self, block: Block) -> list[Json]:
        if isinstance(block, Heading):
            return [_rich(_run(block.text, weight="Bolder", size="Medium"))]
        if isinstance(block, Paragraph):
            return [_rich(_run("".join(self._inline(p) for p in block.parts)))]
        if isinstance(block, Quote):
            return [
                {
                    "type": "Container",
                    "style": "emphasis",
                    "items": [_rich(_run(line or " ")) for line in block.text.split("\n")],
                }
            ]
        if isinstance(block, Fields):
            return [
                _rich(_run(f"{label}: ", weight="Bolder"), _run(self._inline(value)))
                for label, value in block.pairs
            ]
        if isinstance(block, BulletList):
            return [
                _rich(_run(block.title, weight="Bolder")),
                *(_rich(_run(f"• {item}")) for item in block.items),
            ]
        if isinstance(block, Note):
            return [_rich(_run(block.text, size="Small", isSubtle=True))]
        if isinstance(block, Divider):
            return [{"type": "Container", "separator": True, "spacing": "Medium", "items": []}]
        return []  # Buttons are the card's actions

    def _action(self, button: Button) -> Json:
        execute: Json = {
            "type": "Action.Execute",
            "title": button.label,
            "verb": button.action,
            "data": {VALUE_KEY: button.value},
        }
        if button.style in _STYLES:
            execute["style"] = _STYLES[button.style]
        if button.dialog:
            # Action.Execute cannot open a dialog; Action.Submit with msteams task/fetch does.
            return {
                "type": "Action.Submit",
                "title": button.label,
                "data": {
                    "msteams": {"type": "task/fetch"},
                    VERB_KEY: button.action,
                    VALUE_KEY: button.value,
                },
            }
        if button.form is not None:
            # Two forms in one card (a reason to return, a reason to reject) must not share
            # input ids, so each form's inputs are named after its button.
            form = self.form_card(button.form, inline=True, prefix=f"{button.action}.")
            return {"type": "Action.ShowCard", "title": button.label, "card": form}
        if button.confirm is not None:
            confirm = button.confirm
            execute["title"] = confirm.confirm
            return {
                "type": "Action.ShowCard",
                "title": button.label,
                "card": {
                    "type": "AdaptiveCard",
                    "body": [
                        _rich(_run(confirm.title, weight="Bolder")),
                        _rich(_run(confirm.text)),
                    ],
                    "actions": [execute],
                },
            }
        return execute

    # --- forms -------------------------------------------------------------------------

    def form_card(
        self,
        form: Form,
        *,
        values: Mapping[str, Any] | None = None,
        errors: FormErrors | None = None,
        files: Sequence[str] = (),
        form_key: str | None = None,
        inline: bool = False,
        prefix: str = "",
        dialog: bool = False,
        uploads_key: str | None = None,
    ) -> Json:
        """The form as a card: sent in the chat, shown in place of a card, or (`inline`)
        inside another card's Action.ShowCard. `values` refill it after a refusal; `files`
        are what the person sent in the chat with the command, carried with the submission."""
        values = values or {}
        problems = errors.by_input if errors else {}
        body: list[Json] = []
        if not inline:
            body.append(_rich(_run(form.title, weight="Bolder", size="Medium")))
        for block in form.intro:
            if inline and isinstance(block, Quote):
                continue  # the card it opens inside already shows the text
            body.extend(self._block(block))
        general = problems.get("")
        if general:
            body.append(_rich(_run(general, color="Attention")))
        for item in form.inputs:
            body.extend(self._input(item, prefix + item.name, values.get(item.name), files))
            if item.name in problems:
                body.append(_rich(_run(problems[item.name], color="Attention")))
        data: Json = {FORM_KEY: form.form_id, CONTEXT_KEY: form.context}
        if prefix:
            data[PREFIX_KEY] = prefix
        if form_key:
            data[FORM_ID_KEY] = form_key
        if files:
            data[FILES_KEPT_KEY] = True
        if uploads_key:
            data[UPLOADS_KEY] = uploads_key
        submit: Json = {
            "type": "Action.Execute",
            "title": form.submit_label,
            "verb": SUBMIT_VERB,
            "data": data,
            "style": "positive",
        }
        if dialog:
            # Inside a dialog (task module) the submit is Action.Submit: Teams sends task/submit.
            submit = {"type": "Action.Submit", "title": form.submit_label, "data": data}
        card: Json = {"type": "AdaptiveCard", "body": body, "actions": [submit]}
        if inline:
            return card
        return self._card(body, [submit], form.title)

    def _input(
        self, item: FormInput, input_id: str, value: Any, files: Sequence[str]
    ) -> list[Json]:
        shown: list[Json]
        if isinstance(item, TextInput | UrlInput):
            shown = [_text_input(item, input_id, value)]
        elif isinstance(item, MultiChoice):
            shown = [_multi_choice_input(item, input_id, value)]
        elif isinstance(item, SingleChoice | PeoplePicker):
            shown = [_single_choice_input(item, input_id, value)]
        elif isinstance(item, TimeInput):
            element: Json = {"type": "Input.Time", "id": input_id, "label": item.label}
            if isinstance(value, str) and value:
                element["value"] = value
            shown = [element]
        elif isinstance(item, Confirmation):
            shown = [_confirmation_input(item, input_id, value)]
        elif isinstance(item, DateInput):
            element = {"type": "Input.Date", "id": input_id, "label": item.label}
            date = value if isinstance(value, str) and value else item.initial
            if date:
                element["value"] = date
            shown = [element]
        elif isinstance(item, FileInput):
            shown = [_rich(_run(_files_note(item, files)))]
        else:
            shown = []
        if item.hint:
            shown.append(_rich(_run(item.hint, size="Small", isSubtle=True)))
        return shown


def _text_input(item: TextInput | UrlInput, input_id: str, value: Any) -> Json:
    element: Json = {
        "type": "Input.Text",
        "id": input_id,
        "label": item.label,
        "isRequired": item.required,
    }
    if isinstance(item, TextInput):
        element["isMultiline"] = item.multiline
        if item.max_length:
            element["maxLength"] = item.max_length
        if item.placeholder:
            element["placeholder"] = item.placeholder
        initial = item.initial
    else:
        element["style"] = "Url"
        initial = None
    if item.required:
        element["errorMessage"] = f"{item.label} is needed."
    text = value if isinstance(value, str) else initial
    if text:
        element["value"] = text
    return element


def _multi_choice_input(item: MultiChoice, input_id: str, value: Any) -> Json:
    chosen = value if isinstance(value, str) else ",".join(item.initial)
    element: Json = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": item.label,
        "isMultiSelect": True,
        "style": "expanded",
        "isRequired": item.required,
        "choices": [{"title": c.label, "value": c.value} for c in item.choices],
    }
    if chosen:
        element["value"] = chosen
    if item.required:
        element["errorMessage"] = f"Choose at least one: {item.label}."
    return element


EXPANDED_CHOICES_MAX = 10


def _single_choice_input(item: SingleChoice | PeoplePicker, input_id: str, value: Any) -> Json:
    """One choice, or (where the platform has no people picker of its own) people to name
    from the configured ones."""
    single = isinstance(item, SingleChoice)
    element: Json = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": item.label,
        "isMultiSelect": not single,
        # Radio buttons for a few choices; a longer list (a policy's sections) is a menu.
        "style": "expanded" if single and len(item.choices) <= EXPANDED_CHOICES_MAX else "compact",
        "choices": [{"title": c.label, "value": c.value} for c in item.choices],
    }
    preset = item.initial if isinstance(item, SingleChoice) else None
    picked = value if isinstance(value, str) else preset
    if picked:
        element["value"] = picked
    return element


def _confirmation_input(item: Confirmation, input_id: str, value: Any) -> Json:
    return {
        "type": "Input.Toggle",
        "id": input_id,
        "label": item.label,
        "title": item.statement,
        "valueOn": CONFIRMED,
        "valueOff": NOT_CONFIRMED,
        "value": CONFIRMED if value == CONFIRMED else NOT_CONFIRMED,
        "wrap": True,
    }


def _files_note(item: FileInput, files: Sequence[str]) -> str:
    """What a form says in place of a file input: Adaptive Cards have none, so photos come as
    attachments in the chat."""
    if files:
        return f"{item.label}: {', '.join(files)} (sent with your message)."
    return f"{item.label}: a card cannot take files. {item.elsewhere}".strip()


def dialog_card(title: str, card: Json) -> Json:
    """The body of a task/fetch or task/submit invoke response that shows `card` in the dialog."""
    return {
        "task": {
            "type": "continue",
            "value": {
                "title": title,
                "width": "large",
                "height": "large",
                "card": {"contentType": CARD_CONTENT_TYPE, "content": card},
            },
        }
    }


def dialog_message(text: str) -> Json:
    """A task module response that closes the dialog with a short message."""
    return {"task": {"type": "message", "value": text}}


def invoke_card(card: Json) -> Json:
    """The body of an adaptiveCard/action invoke response that replaces the clicker's card."""
    return {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": card}


def invoke_message(text: str) -> Json:
    """An invoke response that leaves the card as it is and tells the clicker `text`."""
    return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}


def invoke_error(status: int, code: str, message: str) -> Json:
    """An adaptiveCard/action response for a request that cannot be handled (Universal
    Actions: type application/vnd.microsoft.error, its value an error's code and message)."""
    return {
        "statusCode": status,
        "type": "application/vnd.microsoft.error",
        "value": {"code": code, "message": message},
    }
