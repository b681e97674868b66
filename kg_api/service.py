"""What the CLI calls of the API: serve it, and its schema (SDL) against the committed copy."""

from __future__ import annotations

from kg_api.schema import schema_sdl
from kg_api.workers import choose_workers, run_server
from kg_builder.core.errors import KGBuilderError
from kg_builder.core.resources import GRAPHQL_SCHEMA
from kg_builder.core.settings import Settings


def serve(settings: Settings, host: str | None = None, port: int | None = None,
          workers: int = 1) -> None:
    """Serve the API on ``host:port`` (default: MIKO_API_HOST, MIKO_API_PORT) until stopped,
    in ``workers`` processes (``workers_for``)."""
    host, port = host or settings.api_host, port or settings.api_port
    try:
        run_server(settings, host, port, workers)
    except OSError as exc:
        raise KGBuilderError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another port "
            "(--port or MIKO_API_PORT)") from exc


def workers_for(settings: Settings) -> tuple[int, str]:
    """How many worker processes to serve with, and why (chosen once per ``miko serve``)."""
    return choose_workers(settings)


def address(settings: Settings, workers: int, why: str, host: str | None = None,
            port: int | None = None) -> str:
    """What ``miko serve`` prints before serving."""
    host, port = host or settings.api_host, port or settings.api_port
    return (f"GraphQL API: http://{host}:{port}/graphql"
            + ("  (GraphiQL in a browser)" if settings.api_graphiql else "")
            + f"\n  {workers} worker{'s' if workers > 1 else ''} ({why})")


def sdl(settings: Settings) -> str:
    return schema_sdl(settings)


def check_schema(settings: Settings) -> str:
    """Whether schema/schema.graphql is the API's schema: what to print, or an error with the fix."""
    if not GRAPHQL_SCHEMA.exists() or GRAPHQL_SCHEMA.read_text() != schema_sdl(settings):
        raise KGBuilderError(
            "schema/schema.graphql is out of date: run `miko api schema > schema/schema.graphql`")
    return "schema/schema.graphql is up to date"
