"""Serving: ``miko serve``, ``miko api schema`` and ``miko up`` (the main job)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from kg_api.service import address, check_schema, sdl, workers_for
from kg_api.service import serve as serve_api
from kg_builder.cli.base import command, settings_of
from kg_builder.cli.graph import load, show_stats
from kg_builder.cli.neo4j import start
from kg_builder.jobs.load import BulkLoadError, release_reader
from kg_builder.jobs.up import describe_up, steps


@command(None, "serve", click.option("--host", help="Interface (default: MIKO_API_HOST, 127.0.0.1)."),
         click.option("--port", type=int, help="Port (default: MIKO_API_PORT, 8000)."))
def serve_cmd(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql, /healthz, /readyz)."""
    serve(ctx, host, port)


def serve(ctx: click.Context, host: str | None = None, port: int | None = None) -> None:
    settings = settings_of(ctx)
    workers, why = workers_for(settings)
    click.echo(address(settings, workers, why, host, port))
    serve_api(settings, host, port, workers)


@click.group("api")
def api_group() -> None:
    """The GraphQL API's schema."""


@command(api_group, "schema", click.option("--check", is_flag=True,
                                           help="Exit 1 if schema/schema.graphql differs."))
def api_schema(ctx: click.Context, check: bool) -> None:
    """Print the GraphQL schema (SDL); `> schema/schema.graphql` to update the committed copy."""
    settings = settings_of(ctx)
    click.echo(check_schema(settings) if check else sdl(settings), nl=check)


@command(None, "up", click.option("--data", type=click.Path(path_type=Path),
                                  help="MIKO release folder (default: MIKO_DATA_DIR/miko)."),
         click.option("--serve/--no-serve", "then_serve", default=True, show_default=True,
                      help="Serve the GraphQL API afterwards."),
         click.option("--bulk", is_flag=True, help="Load through the server's importer when the "
                      "database is empty (see `miko load --bulk`); a graph already there is "
                      "kept and loaded into online."))
def up(ctx: click.Context, data: Path | None, then_serve: bool, bulk: bool) -> None:
    """The main job: start Neo4j, load the MIKO benchmark, print stats and URLs, serve the API."""
    settings = settings_of(ctx)
    reader = release_reader(settings, data)
    titles = steps(then_serve)
    started = time.monotonic()

    def step(n: int) -> None:
        text = titles[n - 1].format(release=reader.path)
        click.echo(f"\n== [{n}/{len(titles)}] {text} [t={time.monotonic() - started:.0f}s]")

    step(1)
    start(ctx)
    step(2)
    try:
        load(ctx, reader, bulk="if empty" if bulk else False)
    except click.ClickException as exc:  # the load's own report said what; the rest goes on
        click.echo(f"warning: {exc.format_message()}", err=True)
    except BulkLoadError as exc:  # --bulk refused: said, and the rest goes on
        click.echo(f"warning: {exc}", err=True)
    step(3)
    st = show_stats(ctx)
    click.echo("\n".join(describe_up(settings, st, time.monotonic() - started, then_serve)))
    if then_serve:
        step(4)
        serve(ctx)


COMMANDS = (serve_cmd, api_group, up)
