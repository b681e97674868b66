"""``miko annotate``: human judgement in Label Studio (export, import, select, report)."""

from __future__ import annotations

from pathlib import Path

import click

from kg_builder.annotation.service import (
    describe_report,
    export_to_label_studio,
    import_from_label_studio,
    judgement_report,
    select_judged,
    start_local,
    stop_local,
)
from kg_builder.cli.base import (
    command,
    echo_rejected,
    images_opt,
    json_only,
    json_opt,
    report,
    say,
    settings_of,
)
from kg_builder.core.relations import Relation


@click.group("annotate")
def annotate_group() -> None:
    """Human judgement in Label Studio: export a sample, import the judgements, select, report.

    Uses MIKO_LABEL_STUDIO_URL and MIKO_LABEL_STUDIO_TOKEN, or the local Label Studio that
    `miko annotate serve` runs (pip install 'miko-kg[annotate]').
    """


@command(annotate_group, "serve")
def annotate_serve(ctx: click.Context) -> None:
    """Start a local Label Studio on 127.0.0.1 (SQLite under the cache folder) in the background."""
    click.echo("\n".join(start_local(settings_of(ctx), say)))


@command(annotate_group, "stop")
def annotate_stop(ctx: click.Context) -> None:
    """Stop the local Label Studio."""
    click.echo("stopped" if stop_local(settings_of(ctx)) else "not running")


@command(annotate_group, "export",
         click.option("--sample", type=click.IntRange(1, 1_000_000), required=True,
                      help="Number of posts to sample."),
         click.option("--seed", type=int, default=0, show_default=True),
         click.option("--relation", help="Only this relation's intentions (default: all ten)."),
         click.option("--source", help="Only intention edges of this source (model run or release)."),
         images_opt,
         click.option("--title", help="Project title (default: from the sample's options)."),
         json_opt)
def annotate_export(ctx: click.Context, sample: int, seed: int, relation: str | None,
                    source: str | None, images_dir: Path | None, title: str | None,
                    json_out: Path | None) -> None:
    """Create or update a Label Studio project with a seeded sample of the graph's posts."""
    result = export_to_label_studio(
        settings_of(ctx), sample=sample, seed=seed,
        relation=Relation.parse(relation) if relation else None, source=source,
        images_dir=images_dir, title=title, progress=None if json_only(json_out) else say)
    report(result.as_dict(), json_out, result.describe)
    echo_rejected(result.rejected, "images")


@command(annotate_group, "import",
         click.option("--project", type=int, required=True, help="Label Studio project number."),
         json_opt)
def annotate_import(ctx: click.Context, project: int, json_out: Path | None) -> None:
    """Bring every submitted annotation of a project onto its intention edges (idempotent)."""
    result = import_from_label_studio(settings_of(ctx), project,
                                      progress=None if json_only(json_out) else say)
    report(result.as_dict(), json_out, result.describe)
    echo_rejected(result.rejected, "judgements")


@command(annotate_group, "select",
         click.option("--min-total", type=float, default=5.0, show_default=True,
                      help="Stage 2: a post is a candidate when its intentions' total score "
                      "exceeds this."),
         click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
                      help="MIKO release-format JSON file to write."), json_opt)
def annotate_select(ctx: click.Context, min_total: float, out: Path,
                    json_out: Path | None) -> None:
    """The paper's two-stage selection of the judged posts, written in the MIKO format."""
    result = select_judged(settings_of(ctx), out, min_total=min_total)
    report(result.as_dict(), json_out, result.describe)


@command(annotate_group, "report", json_opt,
         click.option("--png", type=click.Path(dir_okay=False, path_type=Path),
                      help="Draw the distribution per relation (the paper's Figure 4) here."))
def annotate_report(ctx: click.Context, json_out: Path | None, png: Path | None) -> None:
    """Judgements per relation (high / low typicality / implausible) and annotator agreement."""
    data = judgement_report(settings_of(ctx), png)
    report(data, json_out, lambda: [*describe_report(data), *([f"chart: {png}"] if png else [])])


COMMANDS = (annotate_group,)
