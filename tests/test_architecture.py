"""The core and the handlers stay platform-neutral: no platform SDK, web framework or ORM; and
no test or benchmark takes its helpers from a test module."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = (
    "slack_bolt",
    "slack_sdk",
    "botbuilder",
    "botframework",
    "aiohttp",
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "aiosqlite",
    "yaml",
)
NEUTRAL = ("bot/core", "bot/handlers")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_module_of_the_core_or_handlers_imports_a_platform_library() -> None:
    offenders = []
    for folder in NEUTRAL:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for name in _imports(path):
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_importing_the_core_and_handlers_loads_no_platform_library() -> None:
    # Catches indirect imports too: load every neutral module in a fresh interpreter.
    modules = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for folder in NEUTRAL
        for path in sorted((ROOT / folder).rglob("*.py"))
    ]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
    )
    assert [name for name in FORBIDDEN if name in loaded] == []


def test_every_botbuilder_import_stays_in_the_teams_edge() -> None:
    # botbuilder reached end of support on 2025-12-31: moving to its successor (the Microsoft
    # 365 Agents SDK) must touch bot/teams/ only.
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "bot").rglob("*.py"))
        if "teams" not in path.relative_to(ROOT / "bot").parts[:1]
        for name in _imports(path)
        if name.split(".")[0] in ("botbuilder", "botframework", "msrest")
    ]
    assert offenders == []


EDGES = ("bot/slack", "bot/teams", "bot/terminal")
STORAGE = ("sqlalchemy", "alembic", "asyncpg", "aiosqlite")
# What an edge may take from the handlers: the workflow tables, their neutral shapes and the
# context every handler shares; never a workflow's own module.
HANDLERS_FOR_EDGES = {"bot.handlers.HandlerContext", "bot.handlers.routes", "bot.handlers.workflow"}


def _imported_names(path: Path) -> set[str]:
    """Every module or name imported, spelled in full (`from a import b` gives `a.b`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_edges_hold_no_sql_and_import_nothing_from_the_store() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for folder in EDGES
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name in _imported_names(path)
        if name.split(".")[0] in STORAGE or name.startswith("bot.store")
    ]
    assert offenders == []


def test_the_edges_dispatch_from_the_workflow_tables_and_name_no_workflow() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for folder in EDGES
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name in _imported_names(path)
        if name.startswith("bot.handlers.")
        and not any(
            name == allowed or name.startswith(f"{allowed}.") for allowed in HANDLERS_FOR_EDGES
        )
    ]
    assert offenders == []


def _modules_named(path: Path) -> set[str]:
    """Every module an import in `path` may load: `from tests import test_x` names
    `tests.test_x`, and a relative import is resolved against the file's package."""
    package = path.relative_to(ROOT).parent.parts
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join((*base, *(node.module or "").split("."))).strip(".")
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_no_test_or_benchmark_takes_helpers_from_a_test_module() -> None:
    # What tests share lives in the harness modules (tests/harness.py, tests/teams_client.py, ...):
    # a helper kept in one test module and imported by another moves whenever that test does.
    offenders = sorted(
        {
            f"{path.relative_to(ROOT)} imports {'.'.join(name.split('.')[:2])}"
            for folder in ("tests", "bench")
            for path in (ROOT / folder).rglob("*.py")
            for name in _modules_named(path)
            if name.startswith("tests.test_")
        }
    )
    assert offenders == []
