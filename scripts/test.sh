#!/usr/bin/env bash
# The test command: Python environment, Neo4j started, then lint, types and the whole suite
# against the real server. Arguments go to pytest.
source "$(dirname "$0")/env.sh"
miko neo4j start
ruff check .
mypy
pytest "$@"
