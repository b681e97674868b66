"""The managed Neo4j server as ``miko neo4j`` and ``miko up`` use it."""

from __future__ import annotations

from kg_builder.core.settings import Settings
from kg_builder.graph.scratch import mark_scratch
from kg_builder.graph.server import Neo4jServer


def managed_server(settings: Settings) -> Neo4jServer | None:
    """The server miko manages; None when MIKO_NEO4J_URI names another (never touched)."""
    return Neo4jServer(settings) if settings.managed else None


def start_server(server: Neo4jServer, scratch: bool = False) -> list[str]:
    """Install (the first time) and start ``server``; ``scratch`` marks its data folder as one
    that tests and benchmarks may wipe. Returns what to print: the server and its addresses."""
    if scratch:
        mark_scratch(server.data)
    server.install()
    started = server.start()
    s = server.settings
    return [f"{'Started' if started else 'Already running'}: Neo4j (pid {server.pid()})",
            f"Bolt:    {s.bolt_uri}", f"Browser: {s.browser_url}",
            f"Memory:  {server.memory.describe()}"]


def not_managed(settings: Settings) -> str:
    return (f"MIKO_NEO4J_URI is set ({settings.neo4j_uri}): that server is not managed by miko.")
