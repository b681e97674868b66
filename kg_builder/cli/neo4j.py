"""``miko neo4j``: install, start, migrate, stop and inspect the managed server."""

from __future__ import annotations

from typing import Any

import click

from kg_builder.cli.base import command, settings_of
from kg_builder.graph.service import managed_server, not_managed, start_server


@click.group("neo4j")
def neo4j_group() -> None:
    """Install, start, stop and inspect the Neo4j server miko manages."""


def server_of(ctx: click.Context) -> Any:
    """The managed server, or None (after saying so) when MIKO_NEO4J_URI names another."""
    settings = settings_of(ctx)
    server = managed_server(settings)
    if server is None:
        click.echo(not_managed(settings))
    return server


@command(neo4j_group, "install",
         click.option("--force", is_flag=True, help="Reinstall even if the pinned version is present."))
def neo4j_install(ctx: click.Context, force: bool) -> None:
    """Fetch the pinned Neo4j Community release and Neo4j Browser from Maven Central."""
    if server := server_of(ctx):
        done = server.install(force=force)
        click.echo(f"{'Installed' if done else 'Already installed'}: Neo4j in {server.home}")


@command(neo4j_group, "start", click.option(
    "--scratch", is_flag=True, help="Mark the data folder as scratch: tests and benchmarks may "
    "wipe this server's graph (they refuse any other)."))
def neo4j_start(ctx: click.Context, scratch: bool) -> None:
    """Start the server in the background and wait until Bolt answers."""
    start(ctx, scratch)


def start(ctx: click.Context, scratch: bool = False) -> None:
    if server := server_of(ctx):
        click.echo("\n".join(start_server(server, scratch)))


@command(neo4j_group, "migrate")
def neo4j_migrate(ctx: click.Context) -> None:
    """Let the pinned server upgrade a data folder of Neo4j 5.x in place at its next start
    (one way: back the folder up first)."""
    if server := server_of(ctx):
        was = server.allow_migration()
        click.echo(f"{server.data}: Neo4j {was} -> upgraded at the next `miko neo4j start`"
                   if was else f"{server.data}: nothing to migrate")


@command(neo4j_group, "stop")
def neo4j_stop(ctx: click.Context) -> None:
    """Stop the managed server."""
    if server := server_of(ctx):
        click.echo("Stopped Neo4j" if server.stop() else "Neo4j was not running")


@command(neo4j_group, "status")
def neo4j_status(ctx: click.Context) -> None:
    """Say whether the managed server is installed and running (exit 1 if not running)."""
    if server := server_of(ctx):
        st = server.status()
        click.echo(f"home:      {st.home} ({'installed' if st.installed else 'not installed'})\n"
                   f"running:   {'yes, pid ' + str(st.pid) if st.running else 'no'}\n"
                   f"bolt:      {st.bolt_uri}\nbrowser:   {st.browser_url}")
        if not st.running:
            ctx.exit(1)


COMMANDS = (neo4j_group,)
