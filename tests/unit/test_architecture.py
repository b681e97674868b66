"""Architecture contracts: which package may import which, and where Cypher may be written.

Imports point downhill over six floors (``ALLOWED``): core; the plumbing (graph, embeddings,
inputs); the features side by side (loading, generation, quality, annotation, the API
``kg_api``); the student; the jobs that join features (``kg_builder.jobs``); the CLI
(``kg_builder.cli``, assembled by ``cli.py``). Cypher lives in
``kg_builder/graph/queries/`` (and the schema DDL in ``schema/neo4j.cypher``); tests and
benchmarks may hold Cypher to check the graph and to drive the peers they measure.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> the first-party packages it may import (besides itself). Six floors, no exception:
# 1. core; 2. graph, embeddings, inputs (the plumbing: driver, queries, pager, readers); 3. the
# features side by side on them: loading, generation, quality, annotation and the API; 4. the
# student, which trains on quality's critic and serves through generation; 5. the jobs, the
# policy that joins features (the critic after a load, a build's engine and student, `up`);
# 6. the CLI, which parses, calls a job or a service and prints (tests/unit/cli/test_thin.py).
CORE = {"kg_builder.core"}
PLUMBING = CORE | {"kg_builder.graph", "kg_builder.embeddings", "kg_builder.inputs"}
FEATURES = {"kg_builder.loading", "kg_builder.generation", "kg_builder.quality",
            "kg_builder.annotation", "kg_api"}
ALLOWED: dict[str, set[str]] = {
    "kg_builder.core": set(),
    "kg_builder.graph": CORE,
    "kg_builder.embeddings": CORE,
    "kg_builder.inputs": CORE,
    "kg_builder.loading": PLUMBING,
    "kg_builder.generation": PLUMBING,
    "kg_builder.quality": PLUMBING,
    "kg_builder.annotation": PLUMBING,
    "kg_api": PLUMBING,
    "kg_builder.student": PLUMBING | {"kg_builder.generation", "kg_builder.quality"},
    "kg_builder.jobs": PLUMBING | FEATURES | {"kg_builder.student"},
    "kg_builder.cli": PLUMBING | FEATURES | {"kg_builder.student", "kg_builder.jobs"},
}
FIRST_PARTY = ("kg_builder", "kg_api", "cli")


def modules(package_dir: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        yield name, path


def first_party_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m.split(".")[0] in FIRST_PARTY}


def owner(module: str) -> str | None:
    """The contract package a module belongs to (the longest prefix in ALLOWED)."""
    best = None
    for package in ALLOWED:
        if (module == package or module.startswith(package + ".")) and (
                best is None or len(package) > len(best)):
            best = package
    return best


def violations() -> list[str]:
    out = []
    for top in ("kg_builder", "kg_api"):
        for name, path in modules(ROOT / top):
            home = owner(name)
            if home is None:
                if name not in ("kg_builder", "kg_builder._resources"):
                    out.append(f"{name}: in no package of the contract")
                continue
            for imported in first_party_imports(path):
                target = owner(imported)
                if target != home and target not in ALLOWED[home]:
                    out.append(f"{name} imports {imported}")
    return out


def test_imports_follow_the_layers() -> None:
    assert violations() == []


def test_the_import_check_catches_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "kg_api"
    fake.mkdir()
    (fake / "bad.py").write_text("from kg_builder.generation.llm import LLMClient\n")
    (tmp_path / "kg_builder").mkdir()
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert violations() == ["kg_api.bad imports kg_builder.generation.llm"]


CYPHER = re.compile(
    r"\b(?:OPTIONAL\s+)?MATCH\s*\(|\bMERGE\s*\(|\bUNWIND\s+\$|\bCALL\s+(?:db|dbms|apoc)\.|"
    r"\bSHOW\s+(?:\w+\s+)?(?:INDEXES|CONSTRAINTS)\b|\bDROP\s+(?:INDEX|CONSTRAINT)\b|"
    r"\bCREATE\s+(?:CONSTRAINT|INDEX|VECTOR|FULLTEXT)\b|\bDETACH\s+DELETE\b|\bRETURN\s+\d")
CYPHER_HOME = ROOT / "kg_builder" / "graph" / "queries"


def string_constants(path: Path) -> Iterator[tuple[int, str]]:
    """Every string literal of a module (f-strings with their literal parts joined)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value for v in node.values
                                       if isinstance(v, ast.Constant) and isinstance(v.value, str))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def cypher_outside_home(paths: list[Path]) -> list[str]:
    return [f"{p.relative_to(ROOT)}:{line}: {text.strip()[:60]!r}"
            for p in paths if CYPHER_HOME not in p.parents
            for line, text in string_constants(p) if CYPHER.search(text)]


def product_files() -> list[Path]:
    return [ROOT / "cli.py", *sorted((ROOT / "kg_builder").rglob("*.py")),
            *sorted((ROOT / "kg_api").rglob("*.py"))]


def test_no_cypher_outside_its_home() -> None:
    assert cypher_outside_home(product_files()) == []


def test_the_cypher_check_sees_cypher() -> None:
    home = sorted(CYPHER_HOME.rglob("*.py"))
    hits = [t for p in home for _, t in string_constants(p) if CYPHER.search(t)]
    assert len(hits) >= 30  # every query function of the home is recognised
    assert CYPHER.search("MATCH (n) RETURN n") and CYPHER.search("CALL db.awaitIndexes($t)")
    assert not CYPHER.search("match the post text") and not CYPHER.search("RETURN to sender")
