#!/usr/bin/env bash
# The test command: Python environment, Neo4j started, then lint, types and the whole suite
# against the real server. Arguments go to pytest.
export MIKO_ENV_EXTRAS="${MIKO_ENV_EXTRAS:-dev,local,annotate,ray,student}"  # the suite needs every extra
source "$(dirname "$0")/env.sh"
# The suite wipes the graph it uses: it gets a scratch server of its own (own ports and data
# folder, same installed Neo4j), never the one `miko up` loads.
export MIKO_NEO4J_BOLT_PORT="${MIKO_TEST_BOLT_PORT:-7688}"
export MIKO_NEO4J_HTTP_PORT="${MIKO_TEST_HTTP_PORT:-7475}"
export MIKO_NEO4J_DATA_DIR="${MIKO_TEST_DATA_DIR:-$CACHE/neo4j-test-data}"
export MIKO_NEO4J_HEAP=1g MIKO_NEO4J_PAGECACHE=1g
# The browser test serves the API here: the scratch server's Neo4j Browser loads its guide from it.
export MIKO_API_PORT="${MIKO_TEST_API_PORT:-8010}"
unset MIKO_NEO4J_URI
miko neo4j start --scratch
# The scratch server is stopped at the end (its heap and page cache freed), whatever the outcome;
# MIKO_TEST_KEEP_SERVERS=1 keeps it (and the tests' Label Studio) running for fast reruns.
if [ "${MIKO_TEST_KEEP_SERVERS:-0}" != 1 ]; then
  trap 'miko neo4j stop >/dev/null 2>&1 || true' EXIT
fi
ruff check .
mypy
pytest "$@"
