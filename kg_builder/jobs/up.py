"""``miko up``, the main job: what it says between its steps (start Neo4j, load the MIKO
benchmark, the graph's figures, serve the API)."""

from __future__ import annotations

import json
from typing import Any

from kg_builder.core.settings import DEFAULT_LOCAL_PASSWORD, Settings

UP_EXAMPLES = (
    '{ searchIntentions(text: "share excitement about a concert", relation: X_WANT, k: 3) '
    '{ score intention { tail } } }',
    '{ posts(first: 1) { edges { node { text intentions { relation text typicality } } } } }',
    '{ searchPosts(text: "watching the game with friends", k: 3) { score post { text } } }',
)


def steps(then_serve: bool) -> list[str]:
    """The steps' titles, in order."""
    return ["Neo4j: installed from Maven Central the first time (~130 MB, ~1 minute), started",
            "loading the MIKO benchmark from {release}: every post and intention embedded on "
            "CPU (~2 minutes the first time; a rerun finds everything in place)",
            "the graph",
            *(["serving the GraphQL API (Ctrl-C stops it; Neo4j keeps running until "
               "`miko neo4j stop`)"] if then_serve else [])]


def describe_up(settings: Settings, st: dict[str, Any], seconds: float,
                then_serve: bool) -> list[str]:
    """What is up and where: the graph's size, the URLs, three queries to paste."""
    password = settings.neo4j_password.get_secret_value()
    shown = password if password == DEFAULT_LOCAL_PASSWORD else "the one in MIKO_NEO4J_PASSWORD"
    api = f"http://{settings.api_host}:{settings.api_port}/graphql"
    lines = [
        "",
        f"miko-kg is up ({seconds:.0f}s): {st['posts']:,} posts, {st['intention_edges']:,} "
        f"intentions of 10 relations ({st['intention_nodes']:,} distinct), {st['images']:,} "
        f"images, embedded with {st['embedding_model']}",
        "",
        f"  GraphiQL       {api}" + ("" if then_serve else "  (after `miko serve`)"),
        f"  Neo4j Browser  {settings.browser_url}  (connect to {settings.bolt_uri}, user "
        f"{settings.neo4j_user}, password {shown}; with the API up it opens miko's guide)",
        "",
        "  Three queries to paste:",
    ]
    for query in UP_EXAMPLES:
        body = json.dumps({"query": query}).replace("'", "'\\''")
        lines.append(f"  curl -s localhost:{settings.api_port}/graphql -H 'content-type: "
                     f"application/json' -d '{body}'")
    return lines
