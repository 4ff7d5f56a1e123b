"""Our own checks of what Slack, Teams and Adaptive Cards require of the app manifests and cards,
written from their documentation, so that a clone without the published JSON schemas (which
live beside the project, never in it) still checks the essentials. Where the schemas are beside
the project, the tests validate against them as well.

Each function returns the problems it found, as readable sentences; an empty list is a pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# --- Slack app manifest ---------------------------------------------------------------------

_HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
_BOT_NAME = re.compile(r"^[\w\-.]+$")  # letters, digits, _, - and . only


def _text(where: str, value: Any, limit: int, problems: list[str], required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not value:
        problems.append(f"{where} must be text")
    elif len(value) > limit:
        problems.append(f"{where} is {len(value)} characters; the limit is {limit}")


def _https(where: str, value: Any, problems: list[str]) -> None:
    if not isinstance(value, str) or not value.lower().startswith("https://"):
        problems.append(f"{where} must be an https:// address")
    elif len(value) > 2048:
        problems.append(f"{where} is longer than 2048 characters")


def slack_manifest_problems(manifest: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    display = manifest.get("display_information")
    if not isinstance(display, dict):
        return ["display_information is required"]
    _slack_display(display, problems)
    features = manifest.get("features", {})
    _slack_bot_user(features.get("bot_user"), problems)
    for number, command in enumerate(features.get("slash_commands", [])):
        _slack_command(command, f"features.slash_commands[{number}]", problems)
    scopes = manifest.get("oauth_config", {}).get("scopes", {}).get("bot", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        problems.append("oauth_config.scopes.bot must be a list of scope names")
    _slack_settings(manifest.get("settings", {}), problems)
    return problems


def _slack_display(display: Mapping[str, Any], problems: list[str]) -> None:
    _text("display_information.name", display.get("name"), 35, problems)
    _text("display_information.description", display.get("description"), 140, problems, False)
    long_description = display.get("long_description")
    _text("display_information.long_description", long_description, 4000, problems, False)
    colour = display.get("background_color")
    if colour is not None and not _HEX_COLOUR.match(str(colour)):
        problems.append("display_information.background_color must be #rgb or #rrggbb")


def _slack_bot_user(bot_user: Any, problems: list[str]) -> None:
    if not isinstance(bot_user, dict):
        problems.append("features.bot_user is required for a bot")
        return
    name = bot_user.get("display_name")
    _text("features.bot_user.display_name", name, 80, problems)
    if isinstance(name, str) and not _BOT_NAME.match(name):
        problems.append("features.bot_user.display_name may hold only letters, digits, _-.")


def _slack_command(command: Mapping[str, Any], where: str, problems: list[str]) -> None:
    name = command.get("command")
    _text(f"{where}.command", name, 32, problems)
    if isinstance(name, str) and not name.startswith("/"):
        problems.append(f"{where}.command must start with /")
    _text(f"{where}.description", command.get("description"), 2000, problems)
    _text(f"{where}.usage_hint", command.get("usage_hint"), 1000, problems, False)
    if "url" in command:
        _https(f"{where}.url", command["url"], problems)
    if not isinstance(command.get("should_escape", False), bool):
        problems.append(f"{where}.should_escape must be true or false")


def _slack_settings(settings: Mapping[str, Any], problems: list[str]) -> None:
    interactivity = settings.get("interactivity")
    if interactivity is not None:
        if not isinstance(interactivity.get("is_enabled"), bool):
            problems.append("settings.interactivity.is_enabled is required (true or false)")
        if "request_url" in interactivity:
            _https("settings.interactivity.request_url", interactivity["request_url"], problems)
    events = settings.get("event_subscriptions")
    if events is not None:
        if "request_url" in events:
            _https("settings.event_subscriptions.request_url", events["request_url"], problems)
        if not isinstance(events.get("bot_events", []), list):
            problems.append("settings.event_subscriptions.bot_events must be a list")
    for flag in ("org_deploy_enabled", "socket_mode_enabled", "token_rotation_enabled"):
        if flag in settings and not isinstance(settings[flag], bool):
            problems.append(f"settings.{flag} must be true or false")


# --- Teams app manifest ---------------------------------------------------------------------

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_HTML_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
TEAMS_BOT_SCOPES = {"personal", "team", "groupChat"}


def teams_manifest_problems(manifest: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    required = ("manifestVersion", "version", "id", "developer", "name", "description", "icons")
    problems += [f"{key} is required" for key in (*required, "accentColor") if key not in manifest]
    if problems:
        return problems
    if not _SEMVER.match(str(manifest["version"])):
        problems.append("version must be a semantic version such as 1.0.0")
    if not _GUID.match(str(manifest["id"])):
        problems.append("id must be a GUID")
    developer = manifest["developer"]
    _text("developer.name", developer.get("name"), 32, problems)
    for url in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        _https(f"developer.{url}", developer.get(url), problems)
    _text("name.short", manifest["name"].get("short"), 30, problems)
    _text("name.full", manifest["name"].get("full"), 100, problems, False)
    _text("description.short", manifest["description"].get("short"), 80, problems)
    _text("description.full", manifest["description"].get("full"), 4000, problems)
    for icon in ("color", "outline"):
        if not isinstance(manifest["icons"].get(icon), str):
            problems.append(f"icons.{icon} must name the icon file")
    if not _HTML_COLOUR.match(str(manifest["accentColor"])):
        problems.append("accentColor must be an HTML colour such as #2E6B4F")
    for number, bot in enumerate(manifest.get("bots", [])):
        _teams_bot(bot, f"bots[{number}]", problems)
    if not isinstance(manifest.get("validDomains", []), list):
        problems.append("validDomains must be a list")
    return problems


def _teams_bot(bot: Mapping[str, Any], where: str, problems: list[str]) -> None:
    if not _GUID.match(str(bot.get("botId", ""))):
        problems.append(f"{where}.botId must be a GUID")
    scopes = bot.get("scopes")
    if not scopes or not set(scopes) <= TEAMS_BOT_SCOPES:
        problems.append(f"{where}.scopes must be some of {sorted(TEAMS_BOT_SCOPES)}")
    for listed, command_list in enumerate(bot.get("commandLists", [])):
        at = f"{where}.commandLists[{listed}]"
        commands = command_list.get("commands", [])
        if len(commands) > 10:
            problems.append(f"{at} has more than 10 commands")
        if not set(command_list.get("scopes", [])) <= set(scopes or ()):
            problems.append(f"{at}.scopes are not the bot's")
        for index, command in enumerate(commands):
            _text(f"{at}.commands[{index}].title", command.get("title"), 32, problems)
            _text(f"{at}.commands[{index}].description", command.get("description"), 128, problems)


# --- Adaptive Cards 1.5 ---------------------------------------------------------------------

_ELEMENT = {"id", "isVisible", "separator", "spacing", "height", "fallback", "requires"}
_INPUT = _ELEMENT | {"label", "isRequired", "errorMessage"}
_ACTION = {
    "id",
    "title",
    "iconUrl",
    "style",
    "fallback",
    "tooltip",
    "isEnabled",
    "mode",
    "requires",
}
_CARD = {
    "type", "version", "body", "actions", "$schema", "fallbackText", "speak", "lang",
    "minHeight", "rtl", "selectAction", "verticalContentAlignment", "backgroundImage",
    "refresh", "authentication", "metadata",
    "msteams",  # Teams' own extension (width, mentions); the published schema does not know it
}  # fmt: skip
# Each element type: the properties it may have beyond the common ones.
_ELEMENTS: dict[str, set[str]] = {
    "TextBlock": {"text", "color", "fontType", "horizontalAlignment", "isSubtle", "maxLines",
                  "size", "weight", "wrap", "style"},
    "RichTextBlock": {"inlines", "horizontalAlignment"},
    "Image": {"url", "altText", "backgroundColor", "horizontalAlignment", "selectAction",
              "size", "style", "width"},
    "Container": {"items", "selectAction", "style", "verticalContentAlignment", "bleed",
                  "backgroundImage", "minHeight", "rtl"},
    "ColumnSet": {"columns", "selectAction", "style", "bleed", "minHeight",
                  "horizontalAlignment"},
    "FactSet": {"facts"},
    "ImageSet": {"images", "imageSize"},
    "ActionSet": {"actions"},
    "Input.Text": {"isMultiline", "maxLength", "placeholder", "style", "inlineAction", "value",
                   "regex"},
    "Input.Number": {"max", "min", "placeholder", "value"},
    "Input.Date": {"max", "min", "placeholder", "value"},
    "Input.Time": {"max", "min", "placeholder", "value"},
    "Input.Toggle": {"title", "value", "valueOff", "valueOn", "wrap"},
    "Input.ChoiceSet": {"choices", "isMultiSelect", "style", "value", "placeholder", "wrap"},
}  # fmt: skip
_ACTIONS: dict[str, set[str]] = {
    "Action.Execute": {"verb", "data", "associatedInputs"},
    "Action.Submit": {"data", "associatedInputs"},
    "Action.OpenUrl": {"url"},
    "Action.ShowCard": {"card"},
    "Action.ToggleVisibility": {"targetElements"},
}
_CHOICES: dict[tuple[str, str], set[str]] = {
    ("TextRun", "weight"): {"Default", "Lighter", "Bolder"},
    ("TextRun", "size"): {"Default", "Small", "Medium", "Large", "ExtraLarge"},
    ("TextBlock", "weight"): {"Default", "Lighter", "Bolder"},
    ("TextBlock", "size"): {"Default", "Small", "Medium", "Large", "ExtraLarge"},
    ("Container", "style"): {"default", "emphasis", "good", "attention", "warning", "accent"},
    ("Input.Text", "style"): {"text", "tel", "url", "email", "password"},
    ("Input.ChoiceSet", "style"): {"compact", "expanded", "filtered"},
    ("Action", "style"): {"default", "positive", "destructive"},
}
_TEXT_RUN = {"type", "text", "color", "fontType", "highlight", "isSubtle", "italic",
             "selectAction", "size", "strikethrough", "underline", "weight"}  # fmt: skip
_SUPPORTED = (1, 5)


def card_problems(card: Any) -> list[str]:
    """The top-level card as the bot sends it: an AdaptiveCard of version 1.5 or earlier."""
    problems: list[str] = []
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return ["not an AdaptiveCard"]
    version = str(card.get("version", ""))
    match = re.fullmatch(r"(\d+)\.(\d+)", version)
    if not match or (int(match.group(1)), int(match.group(2))) > _SUPPORTED:
        problems.append(f"version must be 1.5 or earlier, not {version!r}")
    _card(card, "card", problems)
    ids = [i for i in _input_ids(card)]
    if len(ids) != len(set(ids)):
        problems.append(f"input ids repeat: {sorted(ids)}")
    return problems


def _card(card: Mapping[str, Any], where: str, problems: list[str]) -> None:
    _unknown(where, card, _CARD, problems)
    for number, element in enumerate(_listed(card, "body", where, problems)):
        _element(element, f"{where}.body[{number}]", problems)
    for number, action in enumerate(_listed(card, "actions", where, problems)):
        _action(action, f"{where}.actions[{number}]", problems)


def _listed(node: Mapping[str, Any], key: str, where: str, problems: list[str]) -> list[Any]:
    value = node.get(key, [])
    if not isinstance(value, list):
        problems.append(f"{where}.{key} must be a list")
        return []
    return value


def _unknown(
    where: str, node: Mapping[str, Any], allowed: Iterable[str], problems: list[str]
) -> None:
    extra = sorted(set(node) - set(allowed))
    if extra:
        problems.append(f"{where} ({node.get('type')}) has properties it may not have: {extra}")


def _choice(kind: str, key: str, node: Mapping[str, Any], where: str, problems: list[str]) -> None:
    allowed = _CHOICES.get((kind, key))
    # Adaptive Cards reads these names without regard to case ("Url" is "url").
    if allowed and key in node and str(node[key]).casefold() not in {a.casefold() for a in allowed}:
        problems.append(f"{where}.{key} must be one of {sorted(allowed)}, not {node[key]!r}")


def _element(element: Any, where: str, problems: list[str]) -> None:
    kind = element.get("type") if isinstance(element, dict) else None
    if kind not in _ELEMENTS:
        problems.append(f"{where} is not an Adaptive Cards 1.5 element: {kind!r}")
        return
    common = _INPUT if kind.startswith("Input.") else _ELEMENT
    _unknown(where, element, common | _ELEMENTS[kind] | {"type"}, problems)
    for key in ("style", "weight", "size"):
        _choice(kind, key, element, where, problems)
    if kind.startswith("Input.") and not (isinstance(element.get("id"), str) and element["id"]):
        problems.append(f"{where} ({kind}) needs an id: the card's inputs are sent by id")
    if kind in _OWN_CHECKS:
        _OWN_CHECKS[kind](element, where, problems)
    _children(element, where, problems)


def _text_block(element: Mapping[str, Any], where: str, problems: list[str]) -> None:
    if not isinstance(element.get("text"), str):
        problems.append(f"{where}.text must be text")


def _rich_text_block(element: Mapping[str, Any], where: str, problems: list[str]) -> None:
    for number, run in enumerate(_listed(element, "inlines", where, problems)):
        at = f"{where}.inlines[{number}]"
        if not isinstance(run, dict) or run.get("type") != "TextRun":
            problems.append(f"{at} must be a TextRun")
            continue
        _unknown(at, run, _TEXT_RUN, problems)
        if not isinstance(run.get("text"), str):
            problems.append(f"{at}.text must be text")
        for key in ("weight", "size"):
            _choice("TextRun", key, run, at, problems)


def _choice_set(element: Mapping[str, Any], where: str, problems: list[str]) -> None:
    for number, choice in enumerate(_listed(element, "choices", where, problems)):
        if not (
            isinstance(choice, dict)
            and set(choice) <= {"title", "value"}
            and all(isinstance(choice.get(k), str) for k in ("title", "value"))
        ):
            problems.append(f"{where}.choices[{number}] must have a title and a value, as text")


def _toggle(element: Mapping[str, Any], where: str, problems: list[str]) -> None:
    for key in ("value", "valueOn", "valueOff"):
        if key in element and not isinstance(element[key], str):
            problems.append(f"{where}.{key} must be text")


def _text_input(element: Mapping[str, Any], where: str, problems: list[str]) -> None:
    if "maxLength" in element and not isinstance(element["maxLength"], int):
        problems.append(f"{where}.maxLength must be a number")


# What an element of each type must hold beyond the properties every element may have.
_OWN_CHECKS: dict[str, Callable[[Mapping[str, Any], str, list[str]], None]] = {
    "TextBlock": _text_block,
    "RichTextBlock": _rich_text_block,
    "Input.ChoiceSet": _choice_set,
    "Input.Toggle": _toggle,
    "Input.Text": _text_input,
}


def _children(element: Mapping[str, Any], where: str, problems: list[str]) -> None:
    """The elements and actions an element holds, whatever its type."""
    for number, child in enumerate(_listed(element, "items", where, problems)):
        _element(child, f"{where}.items[{number}]", problems)
    for number, column in enumerate(_listed(element, "columns", where, problems)):
        at = f"{where}.columns[{number}]"
        if not isinstance(column, dict) or column.get("type", "Column") != "Column":
            problems.append(f"{at} must be a Column")
            continue
        for index, child in enumerate(_listed(column, "items", at, problems)):
            _element(child, f"{at}.items[{index}]", problems)
    for number, action in enumerate(_listed(element, "actions", where, problems)):
        _action(action, f"{where}.actions[{number}]", problems)


def _action(action: Any, where: str, problems: list[str]) -> None:
    kind = action.get("type") if isinstance(action, dict) else None
    if kind not in _ACTIONS:
        problems.append(f"{where} is not an Adaptive Cards 1.5 action: {kind!r}")
        return
    _unknown(where, action, _ACTION | _ACTIONS[kind] | {"type"}, problems)
    _choice("Action", "style", action, where, problems)
    if kind == "Action.Execute" and "verb" in action and not isinstance(action["verb"], str):
        problems.append(f"{where}.verb must be text")
    if kind == "Action.OpenUrl" and not isinstance(action.get("url"), str):
        problems.append(f"{where}.url is required")
    if kind == "Action.ShowCard":
        shown = action.get("card")
        if not isinstance(shown, dict) or shown.get("type") != "AdaptiveCard":
            problems.append(f"{where}.card must be an AdaptiveCard")
        else:
            _card(shown, f"{where}.card", problems)


def _input_ids(node: Any) -> list[str]:
    """Every input's id, those inside Action.ShowCard included: Teams gathers them by id."""
    found: list[str] = []
    if isinstance(node, dict):
        if str(node.get("type", "")).startswith("Input.") and "id" in node:
            found.append(str(node["id"]))
        for key, value in node.items():
            if key != "data":  # a submit's data is the bot's own, not the card's
                found.extend(_input_ids(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_input_ids(value))
    return found
