#!/usr/bin/env bash
# Re-vendors the GraphiQL page's assets into kg_api/static/graphiql from the npm registry, at the
# versions strawberry's own GraphiQL page pins, so /graphql works without any CDN. Run it to move
# to other versions (change them here and in kg_api/static/graphiql/index.html), then commit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/kg_api/static/graphiql"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
npm pack --silent react@18.2.0 react-dom@18.2.0 graphiql@3.8.3 @graphiql/plugin-explorer@1.0.2 >/dev/null
for f in *.tgz; do mkdir -p "${f%.tgz}"; tar xzf "$f" -C "${f%.tgz}"; done
mkdir -p "$OUT/licenses"
cp react-18.2.0/package/umd/react.production.min.js "$OUT/"
cp react-dom-18.2.0/package/umd/react-dom.production.min.js "$OUT/"
cp graphiql-3.8.3/package/graphiql.min.js graphiql-3.8.3/package/graphiql.min.css "$OUT/"
cp graphiql-plugin-explorer-1.0.2/package/dist/index.umd.js "$OUT/plugin-explorer.umd.js"
cp graphiql-plugin-explorer-1.0.2/package/dist/style.css "$OUT/plugin-explorer.css"
sed -i '/sourceMappingURL=/d' "$OUT/graphiql.min.js" "$OUT/graphiql.min.css"  # no map requests
cp react-18.2.0/package/LICENSE "$OUT/licenses/react.LICENSE"
cp react-dom-18.2.0/package/LICENSE "$OUT/licenses/react-dom.LICENSE"
cp graphiql-3.8.3/package/LICENSE "$OUT/licenses/graphiql.LICENSE"
# The explorer plugin's package ships no licence file; it is MIT, from the same repository.
cp graphiql-3.8.3/package/LICENSE "$OUT/licenses/plugin-explorer.LICENSE"
(cd "$OUT" && sha256sum ./*.js ./*.css > SHA256SUMS)
echo "vendored into $OUT"
