#!/usr/bin/env bash
# Runs a benchmark against a scratch Neo4j server (ports 7689/7476), never the main graph.
#   ./scripts/bench.sh benchmarks/bench_load.py [args]
export MIKO_ENV_EXTRAS="${MIKO_ENV_EXTRAS:-dev,local,annotate,ray}"  # the peers, the local model, Label Studio
source "$(dirname "$0")/env.sh"
export MIKO_NEO4J_BOLT_PORT="${MIKO_BENCH_BOLT_PORT:-7689}"
export MIKO_NEO4J_HTTP_PORT="${MIKO_BENCH_HTTP_PORT:-7476}"
export MIKO_NEO4J_DATA_DIR="${MIKO_BENCH_DATA_DIR:-$CACHE/neo4j-bench-data}"
export MIKO_BENCH_SCRATCH_GRAPH=1
unset MIKO_NEO4J_URI
miko neo4j start --scratch >&2
python "$@"
