"""The graph: ``miko db``, the loads (``load-release``, ``load-posts``, ``load``), ``stats``
and ``export sft``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kg_builder.cli.base import (
    command,
    echo_some,
    format_opt,
    images_opt,
    json_opt,
    progress_opt,
    report,
    say,
    settings_of,
)
from kg_builder.core.errors import LoadInterruptedError
from kg_builder.jobs.load import (
    LoadOutcome,
    Reader,
    load_and_score,
    posts_reader,
    release_reader,
    run_reader,
)
from kg_builder.loading.service import describe_stats, init_graph, reembed_graph, stats
from kg_builder.quality.service import export_training_data

DEFER = {"auto": None, "yes": True, "no": False}
LOAD_OPTS = (
    json_opt,
    click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
                 help="Write every rejected record (location, reason) to this JSONL file."),
    progress_opt,
    click.option("--defer-indexes", type=click.Choice(list(DEFER)), default="auto", show_default=True,
                 help="Drop miko's vector indexes during the load and rebuild them afterwards "
                 "(faster for big loads; vector search is unavailable meanwhile). auto: only "
                 "when the graph holds no post yet."),
    click.option("--bulk", is_flag=True, help="First load into an empty database: write import "
                 "files and run the server's own importer (neo4j-admin; the managed server is "
                 "restarted), then build the indexes. Refused when the database is not empty."),
    click.option("--vectors", type=click.Path(dir_okay=False, path_type=Path),
                 help="Vectors computed ahead (the vectors.sqlite of `miko build --engine ray`, "
                 "same embedding model): texts found there are not embedded again."),
)


@click.group("db")
def db_group() -> None:
    """Schema and maintenance of the graph."""


@command(db_group, "init")
def db_init(ctx: click.Context) -> None:
    """Create constraints, full-text and vector indexes (idempotent)."""
    applied, embedder = init_graph(settings_of(ctx))
    click.echo(f"Schema applied ({len(applied)} statements); embedding model "
               f"{embedder.model_name} ({embedder.dimension} dims)")


@command(db_group, "reembed", click.option("--yes", is_flag=True, help="Do not ask for confirmation."))
def db_reembed(ctx: click.Context, yes: bool) -> None:
    """Re-embed every post and intention with the configured model and rebuild vector indexes."""
    if not yes:
        click.confirm("This drops miko's vector indexes and re-embeds the whole graph. Go on?",
                      abort=True)
    counts, embedder = reembed_graph(settings_of(ctx))
    click.echo(f"Re-embedded {counts['intentions']} intentions and {counts['posts']} posts with "
               f"{embedder.model_name}")


def load(ctx: click.Context, reader: Reader, json_out: Path | None = None,
         rejects: Path | None = None, progress: bool | None = None, defer_indexes: str = "auto",
         bulk: bool | str = False, vectors: Path | None = None) -> LoadOutcome:
    """Load a reader's records and print the report; exit 1 if any record was rejected or the
    critic could not score what was loaded."""
    try:
        outcome = load_and_score(settings_of(ctx), reader, progress=progress,
                                 defer_indexes=DEFER[defer_indexes], bulk=bulk, vectors=vectors)
    except LoadInterruptedError as exc:  # what was committed, then the cause and the fix
        say("\n".join(exc.summary.describe(reader.stats)))
        raise click.ClickException(str(exc)) from exc
    summary = outcome.summary
    if rejects is not None:
        rejects.write_text("".join(r.model_dump_json() + "\n" for r in summary.rejected), "utf-8")
    echo_some([f"rejected {r.location()}: {r.reason}" for r in summary.rejected],
              f" rejected records (all in {rejects})" if rejects else
              " rejected records (pass --rejects FILE to keep them all)")
    echo_some([f"warning {w.location()}: {w.reason}" for w in reader.stats.warnings], " warnings")
    if outcome.critic_skipped:
        say(f"warning: {outcome.critic_skipped}")
    report(outcome.as_dict(), json_out, outcome.describe)
    if problems := outcome.problems():
        raise click.ClickException(problems)
    return outcome


@command(None, "load-release", click.argument("path", type=click.Path(path_type=Path), required=False),
         *LOAD_OPTS)
def load_release(ctx: click.Context, path: Path | None, **opts: Any) -> None:
    """Load a MIKO release folder (train.json, test.json) or one of its files.

    PATH defaults to MIKO_DATA_DIR/miko.
    """
    load(ctx, release_reader(settings_of(ctx), path), **opts)


@command(None, "load-posts", click.argument("file", type=click.Path(path_type=Path)), format_opt,
         click.option("--source", help="Source name stored on each post (default: per format)."),
         images_opt, *LOAD_OPTS)
def load_posts(ctx: click.Context, file: Path, fmt: str, source: str | None,
               images_dir: Path | None, **opts: Any) -> None:
    """Load posts (with intentions if the records carry them) from FILE."""
    load(ctx, posts_reader(file, fmt, source, images_dir), **opts)


@command(None, "load", click.argument("run_file", type=click.Path(path_type=Path)), *LOAD_OPTS)
def load_cmd(ctx: click.Context, run_file: Path, **opts: Any) -> None:
    """Load the output of `miko build` into the graph."""
    load(ctx, run_reader(run_file), **opts)


@command(None, "stats", json_opt)
def stats_cmd(ctx: click.Context, json_out: Path | None) -> None:
    """Counts of posts, intentions per relation and key information."""
    show_stats(ctx, json_out)


def show_stats(ctx: click.Context, json_out: Path | None = None) -> dict[str, Any]:
    st = stats(settings_of(ctx))
    report(st, json_out, lambda: describe_stats(st))
    return st


@click.group("export")
def export_group() -> None:
    """Training data from the graph."""


@command(export_group, "sft",
         click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                      help="Folder for train.jsonl, valid.jsonl and manifest.json."),
         click.option("--min-typicality", type=float,
                      help="Only intention edges the critic scored at or above this (0-1)."),
         click.option("--label", type=click.Choice(["0", "1"]),
                      help="Only intention edges with this benchmark label (1: kept)."),
         click.option("--human-label", type=click.Choice(["1", "0", "-1"]),
                      help="Only intention edges most annotators gave this score (`miko "
                      "annotate import`; 1: high typicality)."),
         click.option("--valid-fraction", type=float, default=0.05, show_default=True),
         click.option("--seed", type=int, default=0, show_default=True), json_opt)
def export_sft_cmd(ctx: click.Context, out: Path, min_typicality: float | None,
                   label: str | None, human_label: str | None, valid_fraction: float, seed: int,
                   json_out: Path | None) -> None:
    """Instruction-tuning JSONL (chat messages): one multi-turn conversation per post."""
    summary = export_training_data(
        settings_of(ctx), out, min_typicality=min_typicality,
        label=int(label) if label is not None else None,
        human_label=int(human_label) if human_label is not None else None,
        valid_fraction=valid_fraction, seed=seed)
    report(summary.as_dict(), json_out, summary.describe)


COMMANDS = (db_group, load_release, load_posts, load_cmd, stats_cmd, export_group)
