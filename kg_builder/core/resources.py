"""Files that ship with the package: the prompt templates and the graph schema.

They live in the checkout's top-level ``prompts/`` and ``schema/`` folders; ``kg_builder/_resources``
links to them, so the wheel carries them inside the package and an installed ``miko`` finds them
wherever it runs.
"""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "_resources"
PROMPTS_DIR = RESOURCES / "prompts"
SCHEMA_DIR = RESOURCES / "schema"
NEO4J_SCHEMA = SCHEMA_DIR / "neo4j.cypher"
GRAPHQL_SCHEMA = SCHEMA_DIR / "schema.graphql"
CRITIC_FILE = RESOURCES / "critic" / "typicality.json"
