"""The shape DESIGN.md promises: a platform-free core, SQL only in storage/, time only from the Clock port."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

COMPOSITION_ROOT = {"bot/cli.py", "bot/wiring.py"}


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_composition_root_imports_adapters_and_storage() -> None:
    offenders = []
    for path in python_files("bot"):
        rel = path.relative_to(ROOT).as_posix()
        if rel in COMPOSITION_ROOT:
            continue
        bad = {m for m in imported_modules(path) if m.split(".")[0] in {"adapters", "storage"}}
        if bad:
            offenders.append((rel, sorted(bad)))
    assert offenders == []


def test_the_core_knows_no_platform_sdk() -> None:
    sdks = {"discord", "slack_bolt", "slack_sdk", "aiosqlite", "sqlite3", "aiohttp"}
    offenders = [
        (path.relative_to(ROOT).as_posix(), sorted(m for m in imported_modules(path) if m.split(".")[0] in sdks))
        for path in python_files("bot")
    ]
    assert [o for o in offenders if o[1]] == []


SQL = re.compile(r"\b(SELECT\s+[\w*(]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b")


def test_no_sql_outside_storage() -> None:
    offenders = [
        path.relative_to(ROOT).as_posix()
        for folder in ("bot", "adapters")
        for path in python_files(folder)
        if SQL.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_business_time_comes_only_from_the_clock_port() -> None:
    allowed = {"bot/ports.py", "bot/cli.py", "bot/logs.py"}
    wall_clock = re.compile(r"datetime\.now\(|datetime\.utcnow\(|time\.time\(|date\.today\(")
    offenders = [
        path.relative_to(ROOT).as_posix()
        for path in python_files("bot") + python_files("adapters")
        if path.relative_to(ROOT).as_posix() not in allowed and wall_clock.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
