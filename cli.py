"""The `miko` command, the entry point: the groups of ``kg_builder/cli/`` (one module each:
neo4j, graph, build, quality, student, annotate, serve) under one ``main``.

A command parses its arguments, calls a job (``kg_builder.jobs``) or a feature's service, and
prints the report that returns. Errors of the packages (``KGBuilderError``, ``KGApiError``)
become click errors whose message says what to fix; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import json
import sys

import click

from kg_builder.cli import annotate, build, graph, neo4j, quality, serve, student
from kg_builder.cli.base import command, settings_of


@click.group()
@click.version_option(package_name="miko-kg")
def main() -> None:
    """Build and query the MIKO social-media intention knowledge graph on Neo4j.

    Settings come from MIKO_* environment variables or a .env file (see `miko config`).
    """


@command(main, "config")
def config_cmd(ctx: click.Context) -> None:
    """Print the effective settings as JSON (secrets masked)."""
    click.echo(json.dumps(settings_of(ctx).effective(), indent=2, default=str))


for module in (neo4j, graph, build, quality, student, annotate, serve):
    for cmd in module.COMMANDS:
        main.add_command(cmd)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
