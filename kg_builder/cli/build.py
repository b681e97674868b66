"""Generation: ``miko build``, ``miko ingest`` (build, then load) and ``miko llm``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kg_builder.cli.base import command, echo_some, format_opt, images_opt, progress_opt, say, settings_of
from kg_builder.cli.graph import load
from kg_builder.generation.service import serve_local_model
from kg_builder.jobs.build import BuildRequest, BuildSummary, build, dead_letter_path
from kg_builder.jobs.load import run_reader

BUILD_OPTS = (
    click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path)),
    format_opt, images_opt,
    click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
                 default=Path("run.jsonl"), show_default=True,
                 help="One JSON record per built post (loadable by `miko load`)."),
    progress_opt,
    click.option("--engine", type=click.Choice(["single", "ray"]), default=None,
                 help="One process, or the stages as a Ray Data pipeline on MIKO_RAY_WORKERS "
                 "actors (default: MIKO_BUILD_ENGINE, single)."))


def run(ctx: click.Context, request: BuildRequest, then: str = "") -> BuildSummary:
    """Run the build and print its summary; exit 1 when interrupted (``then``: what the
    interruption also stops)."""
    summary = build(settings_of(ctx), request, notify=say)
    echo_some([f"rejected {r.location()}: {r.reason}" for r in summary.rejected_input])
    echo_some([f"dead-lettered {d['id']} at {d['stage']}: {d['reason']}" for d in summary.dead])
    click.echo("\n".join(summary.describe(request.out)))
    if summary.interrupted:
        raise click.ClickException(
            f"interrupted after {summary.built + len(summary.dead)} post(s){then}; run the same "
            "command again to finish (answers already made are cached)")
    return summary


@command(None, "build", *BUILD_OPTS, click.option(
    "--retry-failed/--skip-failed", default=True,
    help="Retry inputs that failed in an earlier run (default), or skip them."))
def build_cmd(ctx: click.Context, **opts: Any) -> None:
    """Run the three MIKO stages over INPUT with the configured model server."""
    summary = run(ctx, BuildRequest(**opts))
    if summary.dead or summary.rejected_input:
        raise click.ClickException(
            f"{len(summary.dead)} post(s) dead-lettered, {len(summary.rejected_input)} input "
            "record(s) rejected; rerun to retry (answers already made are cached)")


@command(None, "ingest", *BUILD_OPTS)
def ingest_cmd(ctx: click.Context, **opts: Any) -> None:
    """`miko build` then `miko load`: raw posts to graph knowledge."""
    request = BuildRequest(**opts)
    summary = run(ctx, request, then=", before loading")
    load(ctx, run_reader(request.out), progress=request.progress, vectors=summary.vector_store)
    if summary.dead or summary.rejected_input:
        raise click.ClickException(
            f"{len(summary.dead)} post(s) dead-lettered (see {dead_letter_path(request.out)}); "
            "the others are in the graph")


@click.group("llm")
def llm_group() -> None:
    """The packaged local model (SmolLM2-135M-Instruct via llama-cpp-python)."""


@command(llm_group, "serve", click.option("--port", type=int, default=8080, show_default=True))
def llm_serve(ctx: click.Context, port: int) -> None:
    """Keep the local model's OpenAI-compatible server up until Ctrl-C."""
    serve_local_model(settings_of(ctx), port, say, click.echo)


COMMANDS = (build_cmd, ingest_cmd, llm_group)
