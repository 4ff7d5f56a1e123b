"""The Teams app package: the manifest with the bot's app id, the school's own pages and the
version, and its two icons, zipped flat as Teams admin centre expects."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.config import TeamsApp
from bot.settings import SettingsError

ICONS = ("color.png", "outline.png")
# The manifest schema's pattern for an app id: a GUID.
APP_ID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# The developer's pages in the manifest, by the names `teams_app:` and the flags give them.
PAGES = {"website": "websiteUrl", "privacy": "privacyUrl", "terms": "termsOfUseUrl"}
# The placeholder manifests/teams/manifest.json carries: staff who open the app's details in
# Teams must find the school's pages, not an address nobody answers.
EXAMPLE_HOST = "socialdesk.example.sch.uk"


def checked_app_id(app_id: str | None, named: str) -> str:
    """The app id the package names the bot by; `named` is where it came from."""
    if app_id is None:
        raise SettingsError(
            "MICROSOFT_APP_ID is missing (or give --app-id): the package names the bot by the "
            "app id of its Azure Bot registration"
        )
    if not APP_ID.match(app_id):
        raise SettingsError(
            f"{named} must be the GUID of the Azure Bot registration (its Application (client) "
            f"ID), not {app_id!r}"
        )
    return app_id


def build_package(
    source: Path, app_id: str, app: TeamsApp, allow_example: bool = False
) -> tuple[bytes, str]:
    """The zip, and the version it carries. What `app` leaves unset keeps the manifest's."""
    manifest = _manifest(source)
    manifest["id"] = app_id
    for bot in manifest.get("bots", []):
        bot["botId"] = app_id
    developer = manifest.setdefault("developer", {})
    for key, field in PAGES.items():
        given = getattr(app, key)
        if given is not None:
            developer[field] = given
    if app.version is not None:
        manifest["version"] = app.version
    left = [key for key, field in PAGES.items() if _is_example(developer.get(field))]
    if left and not allow_example:
        raise SettingsError(
            f"the package would give staff the example's address ({EXAMPLE_HOST}) for "
            f"{', '.join(left)}: set teams_app: {', '.join(left)} in the YAML configuration "
            f"(or {', '.join('--' + key for key in left)}) to the school's own pages "
            "(--allow-example only for a trial)"
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2) + "\n")
        for icon in ICONS:
            try:
                package.writestr(icon, (source / icon).read_bytes())
            except OSError as error:
                raise SettingsError(f"cannot read the icon {source / icon}: {error}") from error
    return buffer.getvalue(), str(manifest.get("version"))


def _manifest(source: Path) -> dict[str, Any]:
    manifest_path = source / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SettingsError(
            f"cannot read {manifest_path}: {error} (name the folder with --source)"
        ) from error
    if not isinstance(manifest, dict):
        raise SettingsError(f"{manifest_path} is not a Teams app manifest (a JSON object)")
    return manifest


def _is_example(address: Any) -> bool:
    try:
        host = urlsplit(str(address)).hostname or ""
    except ValueError:
        return False
    return host == EXAMPLE_HOST or host.endswith("." + EXAMPLE_HOST)
