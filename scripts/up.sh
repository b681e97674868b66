#!/usr/bin/env bash
# The main job on a fresh machine: Python environment, Neo4j (installed and started), the MIKO
# benchmark loaded from ../shared/data/miko (or MIKO_DATA_DIR/miko), stats and URLs printed,
# then the GraphQL API served when it exists. Pass --no-serve to stop after loading.
source "$(dirname "$0")/env.sh"
miko neo4j start
exec miko up "$@"
