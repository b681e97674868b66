#!/usr/bin/env bash
# The main job on a fresh machine: Python environment, Neo4j (installed and started), the MIKO
# benchmark loaded from ../shared/data/miko (or MIKO_DATA_DIR/miko), stats and URLs printed,
# then the GraphQL API served when it exists. Pass --no-serve to stop after loading.
# No extra: nothing is compiled (the local model's runtime comes the first time `miko build`
# needs it).
source "$(dirname "$0")/env.sh"
exec miko up "$@"
