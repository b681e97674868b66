"""Measuring the knowledge: ``miko eval``, ``miko critic`` and ``miko probe``."""

from __future__ import annotations

from pathlib import Path

import click

from kg_builder.cli.base import (
    command,
    echo_some,
    json_only,
    json_opt,
    progress_opt,
    report,
    settings_of,
)
from kg_builder.quality.service import (
    describe_critic_eval,
    describe_probe,
    describe_training,
    evaluate_critic,
    evaluate_run,
    probe_sarcasm,
    sample_sarcasm,
    score_edges,
    train_critic,
)


@command(None, "eval", click.argument("run", type=click.Path(dir_okay=False, path_type=Path)),
         click.option("--references", type=click.Path(path_type=Path), required=True,
                      help="MIKO release file with intentions and labels (e.g. train.json)."),
         click.option("--backbone", help="BERTScore backbone (default: MIKO_EVAL_BACKBONE)."),
         json_opt,
         click.option("--per-post", type=click.Path(dir_okay=False, path_type=Path),
                      help="Write every scored pair, with the baselines', to this CSV."),
         click.option("--seed", type=int, default=0, show_default=True,
                      help="Seed of the random-reference baseline and the bootstrap."),
         click.option("--retrieval/--no-retrieval", default=True, show_default=True,
                      help="Also score the retrieval baselines (nearest and medoid reference "
                      "of the most similar other posts, by post embedding)."),
         click.option("--neighbours", type=click.IntRange(1, 100), default=10, show_default=True,
                      help="Similar posts the medoid baseline chooses among."))
def eval_cmd(ctx: click.Context, run: Path, references: Path, backbone: str | None,
             json_out: Path | None, per_post: Path | None, seed: int, retrieval: bool,
             neighbours: int) -> None:
    """BERTScore F1 per relation of RUN's intentions against the kept MIKO references, with
    the baselines on the same pairs and 95% bootstrap intervals over posts (the paper's
    Table 3, 0-100)."""
    result = evaluate_run(settings_of(ctx), run, references, backbone=backbone, seed=seed,
                          retrieval=retrieval, k=neighbours)
    if per_post:
        result.write_csv(per_post)
    report(result.as_dict(), json_out, result.describe)
    if not json_only(json_out):
        echo_some(result.notes())
    if result.rejected:
        echo_some([f"{r.location()}: {r.reason}" for r in result.rejected])
        raise click.ClickException(f"{len(result.rejected)} records rejected (see above)")


@click.group("critic")
def critic_group() -> None:
    """The typicality critic: a score (0-1) on every intention edge."""


refs_opt = click.option("--references", type=click.Path(path_type=Path),
                        help="MIKO release file with labelled intentions (default: "
                        "MIKO_DATA_DIR/miko/train.json).")


@command(critic_group, "train", refs_opt,
         click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
                      help="Critic file to write (default: MIKO_CACHE_DIR/critic/typicality.json); "
                      "use it with MIKO_CRITIC."),
         click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True),
         click.option("--seed", type=int, default=0, show_default=True), json_opt)
def critic_train(ctx: click.Context, references: Path | None, out: Path | None, folds: int,
                 seed: int, json_out: Path | None) -> None:
    """Compare feature sets out of fold (split by post), train the best on every post."""
    critic, table, out = train_critic(settings_of(ctx), references, out, folds, seed)
    report({"critic": critic.name, "version": critic.version, "out": str(out), **critic.metrics},
           json_out, lambda: describe_training(critic, table, out))


@command(critic_group, "eval", refs_opt,
         click.option("--critic", "critic_path", type=click.Path(dir_okay=False, path_type=Path),
                      help="Critic file (default: MIKO_CRITIC or the packaged one)."),
         json_opt,
         click.option("--folds", type=click.IntRange(0, 20), default=5, show_default=True,
                      help="Also retrain the critic's configuration out of fold on the file "
                      "(split by post), for comparison; 0: do not."),
         click.option("--seed", type=int, default=0, show_default=True))
def critic_eval(ctx: click.Context, references: Path | None, critic_path: Path | None,
                json_out: Path | None, folds: int, seed: int) -> None:
    """ROC AUC of the critic in use on the labels of a reference file (posts it should never
    have seen), beside the same configuration retrained out of fold on that file."""
    result = evaluate_critic(settings_of(ctx), references, critic_path, folds, seed)
    report(result, json_out, lambda: describe_critic_eval(result))


@command(critic_group, "score",
         click.option("--all", "rescore_all", is_flag=True,
                      help="Score every edge again (default: only edges this critic version has "
                      "not scored)."), progress_opt, json_opt)
def critic_score(ctx: click.Context, rescore_all: bool, progress: bool | None,
                 json_out: Path | None) -> None:
    """Score the graph's intention edges (typicality, critic name and version on each edge)."""
    summary = score_edges(settings_of(ctx), rescore_all=rescore_all, progress=progress)
    report(summary.as_dict(), json_out, summary.describe)


@click.group("probe")
def probe_group() -> None:
    """Downstream probes of the knowledge."""


@command(probe_group, "sarcasm",
         click.option("--miko", "miko_path", type=click.Path(path_type=Path),
                      help="MIKO release folder or file (default: MIKO_DATA_DIR/miko)."),
         click.option("--sarcasm", "sarcasm_path", type=click.Path(dir_okay=False, path_type=Path),
                      help="Sarcasm train.txt (default: MIKO_DATA_DIR/twitter_sarcasm/train.txt)."),
         click.option("--run", "runs", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
                      help="`miko build` output over sarcasm tweets, for more tweets (repeatable)."),
         click.option("--folds", type=click.IntRange(2, 20), default=10, show_default=True),
         click.option("--seed", type=int, default=0, show_default=True),
         click.option("--sample", type=click.IntRange(2, 100_000),
                      help="Write this many sarcasm tweets (half sarcastic) to --sample-out for "
                      "`miko build`, instead of probing."),
         click.option("--sample-out", type=click.Path(dir_okay=False, path_type=Path),
                      default=Path("sarcasm-sample.jsonl"), show_default=True), json_opt)
def probe_sarcasm_cmd(ctx: click.Context, miko_path: Path | None, sarcasm_path: Path | None,
                      runs: tuple[Path, ...], folds: int, seed: int, sample: int | None,
                      sample_out: Path, json_out: Path | None) -> None:
    """Sarcasm detection with and without intentions (frozen encoder + logistic regression)."""
    settings = settings_of(ctx)
    if sample:
        click.echo("\n".join(sample_sarcasm(settings, sarcasm_path, sample, seed, sample_out)))
        return
    result = probe_sarcasm(settings, miko_path, sarcasm_path, runs, folds, seed)
    report(result, json_out, lambda: describe_probe(result))


COMMANDS = (eval_cmd, critic_group, probe_group)
