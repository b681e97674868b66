#!/usr/bin/env bash
# A Neo4j home for the loading peer only: miko's installed server plus APOC Core 5.26.19, which
# neo4j-graphrag's Neo4jWriter needs (apoc.merge.relationship) and which has no 2025.x/2026.x
# release on Maven Central (it loads on 2026.09 with a version warning). miko itself runs
# without APOC. Prints the folder; use it for the peer's runs:
#   MIKO_NEO4J_HOME="$(./scripts/peer_apoc_home.sh)" ./scripts/bench.sh benchmarks/build_scale.py --peer
set -euo pipefail
source "$(dirname "$0")/env.sh" >/dev/null
APOC=5.26.19
PEER_HOME="$CACHE/neo4j-peer-apoc"
miko neo4j install >&2
HOME_DIR="$(python -c 'from kg_builder.core.settings import Settings; print(Settings().resolved_neo4j_home)')"
rm -rf "$PEER_HOME"
cp -a "$HOME_DIR" "$PEER_HOME"
for artifact in apoc-core apoc-common; do
  mvn -q -B dependency:copy -Dartifact="org.neo4j.procedure:$artifact:$APOC" \
      -DoutputDirectory="$PEER_HOME/plugins" >&2
done
echo "$PEER_HOME"
