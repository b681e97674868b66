"""The CLI stays thin: small modules that parse, call a job or a service, and print.

A CLI module (``cli.py`` and ``kg_builder/cli/``) is at most MAX_LINES lines; it imports, of our
packages, only core, the CLI itself, the jobs, the features' ``service`` modules and the API's
errors (never a driver, a query, a loader or a client); it reads no setting (the services
choose the defaults) and calls no driver.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MAX_LINES = 200
MAY_IMPORT = ("kg_builder.core.", "kg_builder.cli.", "kg_builder.jobs.")
DRIVER_CALLS = {"execute_query", "session", "graph", "GraphDatabase", "driver"}


def cli_modules() -> list[Path]:
    return [ROOT / "cli.py", *sorted((ROOT / "kg_builder" / "cli").glob("*.py"))]


def problems(path: Path, source: str | None = None) -> list[str]:
    text = path.read_text(encoding="utf-8") if source is None else source
    name = path.name
    found = []
    if len(text.splitlines()) > MAX_LINES:
        found.append(f"{name}: {len(text.splitlines())} lines (at most {MAX_LINES})")
    for node in ast.walk(ast.parse(text)):
        modules: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        for module in modules:
            assert isinstance(node, ast.Import | ast.ImportFrom)
            ours = module.split(".")[0] in ("kg_builder", "kg_api")
            allowed = (module.startswith(MAY_IMPORT) or module.endswith(".service")
                       or module in ("kg_builder.cli", "kg_api.errors"))
            if (ours and not allowed) or module.split(".")[0] == "neo4j":
                found.append(f"{name}:{node.lineno}: imports {module}")
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in ("settings", "s") and name != "base.py"):
            found.append(f"{name}:{node.lineno}: reads the setting {node.attr}")
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in DRIVER_CALLS:
                found.append(f"{name}:{node.lineno}: calls {called}()")
    return found


def test_every_cli_module_is_thin() -> None:
    modules = cli_modules()
    assert len(modules) >= 8  # the entry point and its groups are all looked at
    assert [p for m in modules for p in problems(m)] == []


def test_the_check_sees_a_fat_command() -> None:
    fat = ("from kg_builder.graph.driver import graph\nfrom neo4j import Driver\n"
           "from kg_builder.loading.loader import GraphLoader\n"
           "from kg_builder.loading.service import stats\n"
           "def f(settings):\n    with graph(settings) as d:\n"
           "        d.execute_query('RETURN 1', database_=settings.neo4j_database)\n"
           + "x = 1\n" * MAX_LINES)
    found = problems(Path("fat.py"), fat)
    assert found == [f"fat.py: {MAX_LINES + 7} lines (at most {MAX_LINES})",
                     "fat.py:1: imports kg_builder.graph.driver", "fat.py:2: imports neo4j",
                     "fat.py:3: imports kg_builder.loading.loader",
                     "fat.py:6: calls graph()", "fat.py:7: calls execute_query()",
                     "fat.py:7: reads the setting neo4j_database"]
