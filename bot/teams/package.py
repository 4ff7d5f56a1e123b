"""The Teams app package: the manifest with the bot's app id, and its two icons, zipped flat
as Teams admin centre expects."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

from bot.settings import SettingsError

ICONS = ("color.png", "outline.png")
# The manifest schema's pattern for an app id: a GUID.
APP_ID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def build_package(source: Path, app_id: str) -> bytes:
    if not APP_ID.match(app_id):
        raise SettingsError(
            f"MICROSOFT_APP_ID must be the GUID of the Azure Bot registration, not {app_id!r}"
        )
    manifest_path = source / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SettingsError(
            f"cannot read {manifest_path}: {error} (name the folder with --source)"
        ) from error
    manifest["id"] = app_id
    for bot in manifest.get("bots", []):
        bot["botId"] = app_id
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2) + "\n")
        for icon in ICONS:
            try:
                package.writestr(icon, (source / icon).read_bytes())
            except OSError as error:
                raise SettingsError(f"cannot read the icon {source / icon}: {error}") from error
    return buffer.getvalue()
