"""The `miko` command: parse the arguments, call a service of kg_builder or kg_api, print.

Errors of the packages (``KGBuilderError``, ``KGApiError``) become click errors whose message
says what to fix; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from kg_builder.core.errors import KGBuilderError, LoadInterruptedError, SettingsError
from kg_builder.core.settings import DEFAULT_LOCAL_PASSWORD, Settings

F = TypeVar("F", bound=Callable[..., Any])
MAX_REPORTED = 100
FORMATS = ("jsonl", "sarcasm", "miko")  # the readers' formats (kg_builder.inputs.readers)
DEFER = {"auto": None, "yes": True, "no": False}


def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        try:
            obj["settings"] = Settings()
        except ValidationError as exc:
            raise click.ClickException(str(SettingsError(
                f"invalid MIKO_* setting: {exc}. Fix the environment or .env; `miko config` "
                "lists every setting"))) from exc
    settings: Settings = obj["settings"]
    return settings


def command(group: click.Group, name: str, *decorators: Callable[[Any], Any]) -> Callable[[F], Any]:
    """A subcommand that gets the context and turns the packages' errors into click errors."""

    def wrap(func: F) -> Any:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            from kg_api.errors import KGApiError

            try:
                return func(*args, **kwargs)
            except (KGBuilderError, KGApiError) as exc:
                raise click.ClickException(str(exc)) from exc

        wrapped: Any = click.pass_context(run)
        for decorator in reversed(decorators):
            wrapped = decorator(wrapped)
        return group.command(name)(wrapped)

    return wrap


json_opt = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
progress_opt = click.option("--progress/--no-progress", default=None,
                            help="Show a progress bar (default: when stderr is a terminal).")
format_opt = click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl",
                          show_default=True, help="Input format (see README).")
images_opt = click.option("--images", "images_dir", type=click.Path(file_okay=False, path_type=Path),
                          help="Folder the posts' image paths are relative to.")
out_opt = click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("run.jsonl"),
                       show_default=True, help="One JSON record per built post (loadable by `miko load`).")
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


def json_report(data: dict[str, Any], json_out: Path | None) -> bool:
    """Write a report to ``--json OUT``; True when OUT is '-' (stdout: print nothing else)."""
    if json_out is None:
        return False
    text = json.dumps(data, indent=2)
    if str(json_out) == "-":
        click.echo(text)
        return True
    json_out.write_text(text + "\n", encoding="utf-8")
    return False


def echo_some(lines: list[str], more: str = "") -> None:
    """The first MAX_REPORTED lines on stderr, then how many more there are."""
    for line in lines[:MAX_REPORTED]:
        click.echo(line, err=True)
    if len(lines) > MAX_REPORTED:
        click.echo(f"... and {len(lines) - MAX_REPORTED} more{more}", err=True)


@click.group()
@click.version_option(package_name="miko-kg")
def main() -> None:
    """Build and query the MIKO social-media intention knowledge graph on Neo4j.

    Settings come from MIKO_* environment variables or a .env file (see `miko config`).
    """


@command(main, "config")
def config_cmd(ctx: click.Context) -> None:
    """Print the effective settings as JSON (secrets masked)."""
    s = settings_of(ctx)
    click.echo(json.dumps({**s.masked(), "bolt_uri": s.bolt_uri, "managed_server": s.managed},
                          indent=2, default=str))


# --- neo4j ---------------------------------------------------------------------------------

@main.group("neo4j")
def neo4j_group() -> None:
    """Install, start, stop and inspect the Neo4j server miko manages."""


def managed_server(ctx: click.Context) -> Any:
    """The managed server, or None (after saying so) when MIKO_NEO4J_URI names another."""
    from kg_builder.graph.server import Neo4jServer

    settings = settings_of(ctx)
    if not settings.managed:
        click.echo(f"MIKO_NEO4J_URI is set ({settings.neo4j_uri}): that server is not managed by miko.")
        return None
    return Neo4jServer(settings)


@command(neo4j_group, "install",
         click.option("--force", is_flag=True, help="Reinstall even if the pinned version is present."))
def neo4j_install(ctx: click.Context, force: bool) -> None:
    """Fetch the pinned Neo4j Community release and Neo4j Browser from Maven Central."""
    if server := managed_server(ctx):
        done = server.install(force=force)
        click.echo(f"{'Installed' if done else 'Already installed'}: Neo4j in {server.home}")


@command(neo4j_group, "start", click.option(
    "--scratch", is_flag=True, help="Mark the data folder as scratch: tests and benchmarks may "
    "wipe this server's graph (they refuse any other)."))
def neo4j_start(ctx: click.Context, scratch: bool) -> None:
    """Start the server in the background and wait until Bolt answers."""
    start_neo4j(ctx, scratch)


def start_neo4j(ctx: click.Context, scratch: bool = False) -> None:
    if server := managed_server(ctx):
        if scratch:
            from kg_builder.graph.scratch import mark_scratch

            mark_scratch(server.data)
        server.install()
        started = server.start()
        s = settings_of(ctx)
        click.echo(f"{'Started' if started else 'Already running'}: Neo4j (pid {server.pid()})\n"
                   f"Bolt:    {s.bolt_uri}\nBrowser: {s.browser_url}\n"
                   f"Memory:  {server.memory.describe()}")


@command(neo4j_group, "migrate")
def neo4j_migrate(ctx: click.Context) -> None:
    """Let the pinned server upgrade a data folder of Neo4j 5.x in place at its next start
    (one way: back the folder up first)."""
    if server := managed_server(ctx):
        was = server.allow_migration()
        click.echo(f"{server.data}: Neo4j {was} -> upgraded at the next `miko neo4j start`"
                   if was else f"{server.data}: nothing to migrate")


@command(neo4j_group, "stop")
def neo4j_stop(ctx: click.Context) -> None:
    """Stop the managed server."""
    if server := managed_server(ctx):
        click.echo("Stopped Neo4j" if server.stop() else "Neo4j was not running")


@command(neo4j_group, "status")
def neo4j_status(ctx: click.Context) -> None:
    """Say whether the managed server is installed and running (exit 1 if not running)."""
    if server := managed_server(ctx):
        st = server.status()
        click.echo(f"home:      {st.home} ({'installed' if st.installed else 'not installed'})\n"
                   f"running:   {'yes, pid ' + str(st.pid) if st.running else 'no'}\n"
                   f"bolt:      {st.bolt_uri}\nbrowser:   {st.browser_url}")
        if not st.running:
            ctx.exit(1)


# --- db and loading ------------------------------------------------------------------------

@main.group("db")
def db_group() -> None:
    """Schema and maintenance of the graph."""


@command(db_group, "init")
def db_init(ctx: click.Context) -> None:
    """Create constraints, full-text and vector indexes (idempotent)."""
    from kg_builder.loading.service import init_graph

    applied, embedder = init_graph(settings_of(ctx))
    click.echo(f"Schema applied ({len(applied)} statements); embedding model "
               f"{embedder.model_name} ({embedder.dimension} dims)")


@command(db_group, "reembed", click.option("--yes", is_flag=True, help="Do not ask for confirmation."))
def db_reembed(ctx: click.Context, yes: bool) -> None:
    """Re-embed every post and intention with the configured model and rebuild vector indexes."""
    from kg_builder.loading.service import reembed_graph

    if not yes:
        click.confirm("This drops miko's vector indexes and re-embeds the whole graph. Go on?",
                      abort=True)
    counts, embedder = reembed_graph(settings_of(ctx))
    click.echo(f"Re-embedded {counts['intentions']} intentions and {counts['posts']} posts with "
               f"{embedder.model_name}")


def load(ctx: click.Context, reader: Any, as_json: bool = False, rejects: Path | None = None,
         progress: bool | None = None, defer_indexes: str = "auto", bulk: bool = False,
         vectors: Path | None = None) -> None:
    """Load a reader's records and print the summary; exit 1 if any record was rejected."""
    from kg_builder.loading.bulk import BulkLoadError
    from kg_builder.loading.service import load_records

    scoring: list[dict[str, Any] | None] = []  # the critic scores before the vectors are indexed
    scoring_failed: list[Exception] = []

    def score() -> None:  # a failure here must not lose the load's report: said after it
        try:
            scoring.append(score_after_load(ctx, progress))
        except Exception as exc:  # reported below, with the fix
            scoring.append(None)
            scoring_failed.append(exc)

    try:
        summary = load_records(settings_of(ctx), reader, progress=progress,
                               defer_indexes=DEFER[defer_indexes], bulk=bulk, vectors=vectors,
                               after_writes=score)
    except LoadInterruptedError as exc:  # what was committed, then the cause and the fix
        click.echo("\n".join(exc.summary.describe(reader.stats)), err=True)
        raise click.ClickException(str(exc)) from exc
    except BulkLoadError as exc:
        raise click.ClickException(str(exc)) from exc
    if rejects is not None:
        rejects.write_text("".join(r.model_dump_json() + "\n" for r in summary.rejected), "utf-8")
    echo_some([f"rejected {r.location()}: {r.reason}" for r in summary.rejected],
              f" rejected records (all in {rejects})" if rejects else
              " rejected records (pass --rejects FILE to keep them all)")
    echo_some([f"warning {w.location()}: {w.reason}" for w in reader.stats.warnings], " warnings")
    scored = scoring[0] if scoring else score_after_load(ctx, progress)
    click.echo(json.dumps({"load": summary.as_dict(), "input": reader.stats.as_dict(),
                           "critic": scored}, indent=2)
               if as_json else "\n".join(summary.describe(reader.stats)))
    if scored and not as_json:
        click.echo(f"critic {scored['critic']} {scored['version']}: {scored['edges']:,} edges "
                   f"scored (typicality) in {scored['seconds']:.1f}s")
    if scoring_failed:
        raise click.ClickException(
            f"the records are loaded, but the critic could not score their edges "
            f"({type(scoring_failed[0]).__name__}: {scoring_failed[0]}); run `miko critic score` "
            "once the cause is fixed")
    if summary.rejected:
        raise click.ClickException(
            f"{len(summary.rejected)} record(s) rejected; the rest was loaded. Fix the records "
            "listed above and load again (loading is idempotent)")


def score_after_load(ctx: click.Context, progress: bool | None) -> dict[str, Any] | None:
    """Score the edges the load wrote with the typicality critic (MIKO_CRITIC_ENABLED)."""
    settings = settings_of(ctx)
    if not settings.critic_enabled:
        return None
    from kg_builder.quality.critic import CriticError
    from kg_builder.quality.service import score_edges

    try:
        return score_edges(settings, progress=progress).as_dict()
    except CriticError as exc:  # the load itself succeeded: say why nothing was scored
        click.echo(f"warning: edges not scored by the critic: {exc}", err=True)
        return None


@command(main, "load-release", click.argument("path", type=click.Path(path_type=Path), required=False),
         *LOAD_OPTS)
def load_release(ctx: click.Context, path: Path | None, **opts: Any) -> None:
    """Load a MIKO release folder (train.json, test.json) or one of its files.

    PATH defaults to MIKO_DATA_DIR/miko.
    """
    from kg_builder.inputs.readers import MikoReader

    load(ctx, MikoReader(path or settings_of(ctx).data_dir / "miko"), **opts)


@command(main, "load-posts", click.argument("file", type=click.Path(path_type=Path)), format_opt,
         click.option("--source", help="Source name stored on each post (default: per format)."),
         images_opt, *LOAD_OPTS)
def load_posts(ctx: click.Context, file: Path, fmt: str, source: str | None,
               images_dir: Path | None, **opts: Any) -> None:
    """Load posts (with intentions if the records carry them) from FILE."""
    from kg_builder.inputs.readers import open_reader

    load(ctx, open_reader(file, fmt, source=source, images_dir=images_dir), **opts)


@command(main, "load", click.argument("run_file", type=click.Path(path_type=Path)), *LOAD_OPTS)
def load_cmd(ctx: click.Context, run_file: Path, **opts: Any) -> None:
    """Load the output of `miko build` into the graph."""
    from kg_builder.inputs.readers import JsonlReader

    load(ctx, JsonlReader(run_file), **opts)


# --- generation ----------------------------------------------------------------------------

BUILD_OPTS = (click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path)),
              format_opt, images_opt, out_opt, progress_opt,
              click.option("--engine", type=click.Choice(["single", "ray"]), default=None,
                           help="One process, or the stages as a Ray Data pipeline on "
                           "MIKO_RAY_WORKERS actors (default: MIKO_BUILD_ENGINE, single)."))


def build(ctx: click.Context, input_path: Path, fmt: str, images_dir: Path | None, out: Path,
          progress: bool | None, engine: str | None = None, retry_failed: bool = True,
          then: str = "") -> Any:
    """Run the stages, print the summary; exit 1 when interrupted (unless ``then`` is to come)."""
    from kg_builder.generation.build import run_build

    s = settings_of(ctx)
    if (engine or s.build_engine) == "ray":
        from kg_builder.generation.ray_engine import RayOptions, run_build_ray

        if s.student_base_url:
            click.echo("the Ray engine writes the intentions with stage 3's chat prompt on "
                       "MIKO_LLM_BASE_URL; MIKO_STUDENT* apply to the single engine", err=True)

        summary = run_build_ray(
            s, input_path, fmt, images_dir, out, retry_failed, progress,
            RayOptions(s.ray_address, s.ray_workers, s.ray_batch_size,
                       embed_workers=s.ray_embed_workers),
            notify=lambda line: click.echo(line, err=True))
    else:
        from kg_builder.student.serving import resolve_student

        def notify(line: str) -> None:
            click.echo(line, err=True)

        student = (resolve_student(s, notify) if not s.llm_base_url or s.student_base_url
                   else None)
        summary = run_build(s, input_path, fmt, images_dir, out, retry_failed, progress,
                            notify=notify, student=student)
    echo_some([f"rejected {r.location()}: {r.reason}" for r in summary.rejected_input])
    echo_some([f"dead-lettered {d['id']} at {d['stage']}: {d['reason']}" for d in summary.dead])
    click.echo("\n".join(summary.describe(out)))
    if summary.interrupted:
        raise click.ClickException(
            f"interrupted after {summary.built + len(summary.dead)} post(s){then}; run the same "
            "command again to finish (answers already made are cached)")
    return summary


@command(main, "build", *BUILD_OPTS, click.option(
    "--retry-failed/--skip-failed", default=True,
    help="Retry inputs that failed in an earlier run (default), or skip them."))
def build_cmd(ctx: click.Context, retry_failed: bool, **opts: Any) -> None:
    """Run the three MIKO stages over INPUT with the configured model server."""
    summary = build(ctx, retry_failed=retry_failed, **opts)
    if summary.dead or summary.rejected_input:
        raise click.ClickException(
            f"{len(summary.dead)} post(s) dead-lettered, {len(summary.rejected_input)} input "
            "record(s) rejected; rerun to retry (answers already made are cached)")


@command(main, "ingest", *BUILD_OPTS)
def ingest_cmd(ctx: click.Context, out: Path, progress: bool | None, **opts: Any) -> None:
    """`miko build` then `miko load`: raw posts to graph knowledge."""
    from kg_builder.generation.pipeline import dead_letter_path
    from kg_builder.inputs.readers import JsonlReader

    summary = build(ctx, out=out, progress=progress, then=", before loading", **opts)
    vectors = summary.usage.get("vectors")  # embedded on Ray by the build
    load(ctx, JsonlReader(out), progress=progress,
         vectors=Path(vectors["store"]) if vectors else None)
    if summary.dead or summary.rejected_input:
        raise click.ClickException(
            f"{len(summary.dead)} post(s) dead-lettered (see {dead_letter_path(out)}); "
            "the others are in the graph")


@main.group("llm")
def llm_group() -> None:
    """The packaged local model (SmolLM2-135M-Instruct via llama-cpp-python)."""


@command(llm_group, "serve", click.option("--port", type=int, default=8080, show_default=True))
def llm_serve(ctx: click.Context, port: int) -> None:
    """Keep the local model's OpenAI-compatible server up until Ctrl-C."""
    from kg_builder.generation.local_model import LocalModelServer, ensure_local_runtime

    ensure_local_runtime(settings_of(ctx).local_model_auto_install, say)
    with LocalModelServer(port=port) as server:
        click.echo(f"local model up: MIKO_LLM_BASE_URL={server.base_url} "
                   f"MIKO_LLM_MODEL={server.model_name} (demo quality; Ctrl-C stops it)")
        server.wait()


# --- inspecting and serving ------------------------------------------------------------------

@command(main, "stats", json_opt)
def stats_cmd(ctx: click.Context, as_json: bool) -> None:
    """Counts of posts, intentions per relation and key information."""
    show_stats(ctx, as_json)


def show_stats(ctx: click.Context, as_json: bool = False) -> dict[str, Any]:
    from kg_builder.loading.service import stats
    from kg_builder.loading.stats import describe_stats

    st = stats(settings_of(ctx))
    click.echo(json.dumps(st, indent=2) if as_json else "\n".join(describe_stats(st)))
    return st


@command(main, "eval", click.argument("run", type=click.Path(dir_okay=False, path_type=Path)),
         click.option("--references", type=click.Path(path_type=Path), required=True,
                      help="MIKO release file with intentions and labels (e.g. train.json)."),
         click.option("--backbone", help="BERTScore backbone (default: MIKO_EVAL_BACKBONE)."),
         click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
                      help="Write the report as JSON here ('-' for stdout)."),
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
    from kg_builder.embeddings import load_embedder
    from kg_builder.inputs.readers import MikoReader
    from kg_builder.quality.bertscore import BERTScorer
    from kg_builder.quality.evaluation import describe_eval, evaluate, open_run

    settings = settings_of(ctx)
    scorer = BERTScorer(backbone or settings.eval_backbone, layer=settings.eval_layer,
                        device=settings.embedding_device)
    embedder = load_embedder(settings) if retrieval else None
    report = evaluate(open_run(run), MikoReader(references), scorer, seed=seed,
                      embedder=embedder, k=neighbours)
    data = report.as_dict()
    if per_post:
        report.write_csv(per_post)
    if not json_report(data, json_out):
        click.echo("\n".join(describe_eval(data)))
        click.echo(f"the model {report.verdict()}")
        if data["unmatched_posts"]:
            click.echo(f"{data['unmatched_posts']} posts of the run have no kept reference "
                       "intention in the reference file (not scored)", err=True)
        if data["empty_references"]:
            click.echo(f"{data['empty_references']} empty reference sentences in the reference "
                       "file: no reference for those relations of those posts (not scored)",
                       err=True)
    if report.rejected:
        echo_some([f"{r.location()}: {r.reason}" for r in report.rejected])
        raise click.ClickException(f"{len(report.rejected)} records rejected (see above)")


@main.group("critic")
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
                 seed: int, as_json: bool) -> None:
    """Compare feature sets out of fold (split by post), train the best on every post."""
    from kg_builder.quality.service import train_critic

    settings = settings_of(ctx)
    out = out or settings.cache_dir / "critic" / "typicality.json"
    critic, table = train_critic(settings, references or settings.data_dir / "miko" / "train.json",
                                 out, folds, seed)
    if as_json:
        click.echo(json.dumps({"critic": critic.name, "version": critic.version, "out": str(out),
                               **critic.metrics}, indent=2))
        return
    click.echo(f"{'features':<20} {'C':>7} {'AUC':>6}  95% interval (bootstrap over posts)")
    for row in table:
        low, high = row["interval"]
        click.echo(f"{row['feature_set']:<20} {row['C']:>7g} {row['auc']:>6.3f}  [{low:.3f}, {high:.3f}]")
    ceil = critic.metrics["ceiling"]
    click.echo(f"noise ceiling: the {ceil['repeated_intentions']} intentions of repeated posts "
               f"agree on {ceil['agreeing']} ({100 * (ceil['agreement'] or 0):.0f}%)")
    click.echo(f"wrote {out} ({critic.name} {critic.version}, {critic.feature_set}); use it "
               f"with MIKO_CRITIC={out}")


@command(critic_group, "eval", refs_opt,
         click.option("--critic", "critic_path", type=click.Path(dir_okay=False, path_type=Path),
                      help="Critic file (default: MIKO_CRITIC or the packaged one)."),
         click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
                      help="Write the report as JSON here ('-' for stdout)."),
         click.option("--folds", type=click.IntRange(0, 20), default=5, show_default=True,
                      help="Also retrain the critic's configuration out of fold on the file "
                      "(split by post), for comparison; 0: do not."),
         click.option("--seed", type=int, default=0, show_default=True))
def critic_eval(ctx: click.Context, references: Path | None, critic_path: Path | None,
                json_out: Path | None, folds: int, seed: int) -> None:
    """ROC AUC of the critic in use on the labels of a reference file (posts it should never
    have seen), beside the same configuration retrained out of fold on that file."""
    from kg_builder.quality.service import evaluate_critic

    settings = settings_of(ctx)
    report = evaluate_critic(settings, references or settings.data_dir / "miko" / "train.json",
                             critic_path or settings.critic, folds, seed)
    if json_report(report, json_out):
        return
    ceil = report["ceiling"]
    click.echo(f"{report['critic']} {report['version']} ({report['feature_set']}, C={report['C']:g}), "
               f"the critic in use, on {report['posts']} posts, {report['examples']} labels")
    click.echo(f"ROC AUC {report['auc']:.3f} [{report['interval'][0]:.3f}, "
               f"{report['interval'][1]:.3f}]; the relation alone "
               f"{report['relation_only']['auc']:.3f}")
    if "retrained_out_of_fold" in report:
        oof = report["retrained_out_of_fold"]
        click.echo(f"its configuration retrained out of fold on this file ({folds} folds by post): "
                   f"{oof['auc']:.3f} [{oof['interval'][0]:.3f}, {oof['interval'][1]:.3f}]")
    click.echo(f"noise ceiling: repeated posts' labels agree on {ceil['agreeing']} of "
               f"{ceil['repeated_intentions']} intentions ({100 * (ceil['agreement'] or 0):.0f}%)")


@command(critic_group, "score",
         click.option("--all", "rescore_all", is_flag=True,
                      help="Score every edge again (default: only edges this critic version has "
                      "not scored)."), progress_opt, json_opt)
def critic_score(ctx: click.Context, rescore_all: bool, progress: bool | None,
                 as_json: bool) -> None:
    """Score the graph's intention edges (typicality, critic name and version on each edge)."""
    from kg_builder.quality.service import score_edges

    summary = score_edges(settings_of(ctx), rescore_all=rescore_all, progress=progress).as_dict()
    click.echo(json.dumps(summary, indent=2) if as_json else
               f"critic {summary['critic']} {summary['version']}: {summary['edges']:,} edges of "
               f"{summary['posts']:,} posts scored in {summary['seconds']:.1f}s")


@main.group("student")
def student_group() -> None:
    """The student: a small model distilled from the kept intentions (LoRA, offline)."""


@command(student_group, "train",
         click.option("--references", type=click.Path(path_type=Path),
                      help="Train on a MIKO release file's kept intentions instead of the "
                      "graph's (default: the graph's posts of the train split)."),
         click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                      default=Path("student"), show_default=True,
                      help="Folder for the adapter, its manifest and the resumable checkpoint."),
         click.option("--base", type=click.Path(dir_okay=False, path_type=Path),
                      help="Base model, a .gguf file (default: the packaged SmolLM2-135M)."),
         click.option("--min-typicality", type=click.FloatRange(0, 1),
                      help="Only kept intentions of at least this typicality (the graph: the "
                      "critic's score on each edge; a file: the critic in use)."),
         click.option("--epochs", type=click.IntRange(1, 100), default=2, show_default=True),
         click.option("--max-steps", type=click.IntRange(1), help="Stop after this many steps."),
         click.option("--max-minutes", type=click.FloatRange(0, min_open=True),
                      help="Time budget: checkpoint and stop past it (a rerun resumes)."),
         click.option("--batch-size", type=click.IntRange(1, 256), default=4, show_default=True),
         click.option("--learning-rate", type=click.FloatRange(0, 1, min_open=True),
                      default=3e-4, show_default=True),
         click.option("--rank", type=click.IntRange(1, 256), default=16, show_default=True,
                      help="LoRA rank (every projection)."),
         click.option("--shots", type=click.IntRange(0, 10), default=2, show_default=True,
                      help="Most similar training posts' kept intentions shown in each prompt."),
         click.option("--valid-fraction", type=click.FloatRange(0, 0.5, min_open=True),
                      default=0.1, show_default=True, help="Posts held out for validation."),
         click.option("--patience", type=click.IntRange(1), default=2, show_default=True,
                      help="Validations without improvement before stopping early."),
         click.option("--eval-every", type=click.IntRange(1),
                      help="Also validate every this many steps (default: each epoch's end)."),
         click.option("--seed", type=int, default=0, show_default=True), json_opt)
def student_train(ctx: click.Context, references: Path | None, out: Path, base: Path | None,
                  min_typicality: float | None, epochs: int, max_steps: int | None,
                  max_minutes: float | None, batch_size: int, learning_rate: float, rank: int,
                  shots: int, valid_fraction: float, patience: int, eval_every: int | None,
                  seed: int, as_json: bool) -> None:
    """Fine-tune the student (LoRA on the base) on the kept intentions (label 1) of the graph's
    train split (or of a release file), each prompted with the most similar other posts' kept
    intentions; validation split by post, early stopping, resumable checkpoints. Writes
    OUT/adapter, OUT/adapter.gguf and OUT/manifest.json."""
    from kg_builder.student.service import train_student
    from kg_builder.student.training import TrainSettings

    settings = settings_of(ctx)
    train = TrainSettings(rank=rank, alpha=2 * rank, learning_rate=learning_rate,
                          batch_size=batch_size, epochs=epochs, max_steps=max_steps,
                          patience=patience, eval_every=eval_every, seed=seed, shots=shots,
                          valid_fraction=valid_fraction, min_typicality=min_typicality)
    manifest = train_student(settings, references, out, base, train, max_minutes,
                             say=lambda line: click.echo(line, err=True))
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
        return
    click.echo(f"student {manifest['id']} in {out}: {manifest['steps']} steps "
               f"({manifest['stopped']}), best validation loss {manifest['best_valid_loss']:.4f} "
               f"at step {manifest['best_step']}, on {manifest['data']['train_examples']} examples "
               f"of {manifest['data']['train_posts']} posts ({manifest['data']['valid_posts']} "
               f"held out), {manifest['train_seconds']:.0f}s on {manifest['device']}")


@main.group("export")
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
                   as_json: bool) -> None:
    """Instruction-tuning JSONL (chat messages): one multi-turn conversation per post."""
    from kg_builder.graph.driver import graph
    from kg_builder.quality.export import export_sft

    settings = settings_of(ctx)
    with graph(settings) as driver:
        summary = export_sft(driver, settings.neo4j_database, out, min_typicality=min_typicality,
                             label=int(label) if label is not None else None,
                             human_label=int(human_label) if human_label is not None else None,
                             valid_fraction=valid_fraction, seed=seed)
    data = summary.as_dict()
    click.echo(json.dumps(data, indent=2) if as_json else
               f"wrote {data['posts']['train']:,} train and {data['posts']['valid']:,} validation "
               f"conversations ({data['assistant_turns']:,} answers) to {out}; "
               f"{data['skipped_posts']:,} posts had no intention passing the filters")


@main.group("probe")
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
                      default=Path("sarcasm-sample.jsonl"), show_default=True),
         click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
                      help="Write the report as JSON here ('-' for stdout)."))
def probe_sarcasm(ctx: click.Context, miko_path: Path | None, sarcasm_path: Path | None,
                  runs: tuple[Path, ...], folds: int, seed: int, sample: int | None,
                  sample_out: Path, json_out: Path | None) -> None:
    """Sarcasm detection with and without intentions (frozen encoder + logistic regression)."""
    import itertools

    from kg_builder.embeddings import load_embedder
    from kg_builder.inputs.readers import JsonlReader, MikoReader, SarcasmReader
    from kg_builder.quality.probe import balanced_sample, run_probe, sarcasm_labels, tweets

    settings = settings_of(ctx)
    labels = sarcasm_labels(SarcasmReader(
        sarcasm_path or settings.data_dir / "twitter_sarcasm" / "train.txt"))
    if sample:
        rows = balanced_sample(labels, sample, seed)
        sample_out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                              encoding="utf-8")
        click.echo(f"wrote {len(rows)} tweets ({sum(r['sarcasm_label'] for r in rows)} sarcastic) "
                   f"to {sample_out}; next: miko build {sample_out} --out run.jsonl, then "
                   "miko probe sarcasm --run run.jsonl")
        return
    items, source = tweets(MikoReader(miko_path or settings.data_dir / "miko"), labels,
                           itertools.chain.from_iterable(JsonlReader(r) for r in runs))
    report = run_probe(items, load_embedder(settings), folds, seed)
    report["intentions_from"] = source
    if json_report(report, json_out):
        return
    click.echo(f"{report['tweets']} tweets ({report['sarcastic']} sarcastic), {report['folds']}-fold "
               f"cross-validation by tweet; {report['encoder']} (frozen) + logistic regression")
    click.echo(f"{'input':<26} {'accuracy':>9} {'95% interval':>15} {'F1':>7} {'95% interval':>15}")
    for name, v in report["variants"].items():
        acc_lo, acc_hi = v["accuracy_interval"]
        f1_lo, f1_hi = v["f1_interval"]
        click.echo(f"{name:<26} {v['accuracy']:>9.2f} [{acc_lo:>5.1f}, {acc_hi:>5.1f}] "
                   f"{v['f1']:>7.2f} [{f1_lo:>5.1f}, {f1_hi:>5.1f}]")


@main.group("annotate")
def annotate_group() -> None:
    """Human judgement in Label Studio: export a sample, import the judgements, select, report.

    Uses MIKO_LABEL_STUDIO_URL and MIKO_LABEL_STUDIO_TOKEN, or the local Label Studio that
    `miko annotate serve` runs (pip install 'miko-kg[annotate]').
    """


def echo_rejected(rejected: list[Any], what: str) -> None:
    """Each rejected item with its location and reason, then a non-zero exit."""
    if rejected:
        echo_some([f"{r.location()}: {r.reason}" for r in rejected])
        raise click.ClickException(f"{len(rejected)} {what} rejected (see above); the rest was done")


def label_studio(ctx: click.Context) -> Any:
    from kg_builder.annotation.client import LabelStudioClient
    from kg_builder.annotation.server import endpoint

    return LabelStudioClient(endpoint(settings_of(ctx)))


def say(message: str) -> None:
    click.echo(message, err=True)


@command(annotate_group, "serve")
def annotate_serve(ctx: click.Context) -> None:
    """Start a local Label Studio on 127.0.0.1 (SQLite under the cache folder) in the background."""
    from kg_builder.annotation.server import LocalLabelStudio

    settings = settings_of(ctx)
    if settings.label_studio_url:
        click.echo(f"MIKO_LABEL_STUDIO_URL is set ({settings.label_studio_url}): miko uses that "
                   "Label Studio and starts none")
        return
    local = LocalLabelStudio(settings)
    started = local.start(progress=say)
    default = settings.label_studio_password.get_secret_value() == DEFAULT_LOCAL_PASSWORD
    click.echo(f"Label Studio {'started' if started else 'already running'}: {local.url}\n"
               f"  log in as {settings.label_studio_user} with the password in "
               f"MIKO_LABEL_STUDIO_PASSWORD{f' ({DEFAULT_LOCAL_PASSWORD})' if default else ''}\n"
               f"  data and log: {local.data}; API token in {local.tokenfile}\n"
               "  stop it with `miko annotate stop`")


@command(annotate_group, "stop")
def annotate_stop(ctx: click.Context) -> None:
    """Stop the local Label Studio."""
    from kg_builder.annotation.server import LocalLabelStudio

    click.echo("stopped" if LocalLabelStudio(settings_of(ctx)).stop() else "not running")


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
                    as_json: bool) -> None:
    """Create or update a Label Studio project with a seeded sample of the graph's posts."""
    from kg_builder.annotation.service import export_sample
    from kg_builder.core.relations import Relation
    from kg_builder.graph.driver import graph

    settings = settings_of(ctx)
    rel = Relation.parse(relation) if relation else None
    with label_studio(ctx) as client, graph(settings) as driver:
        result = export_sample(driver, settings.neo4j_database, client, sample=sample, seed=seed,
                               relation=rel, source=source, images_dir=images_dir, title=title,
                               progress=None if as_json else say)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(f"project {result.project_id} ({result.title!r}, "
                   f"{'created' if result.created else 'updated'}): {result.tasks:,} tasks of "
                   f"{result.posts:,} posts, {result.added:,} new; {result.images:,} new with their "
                   f"image\n  annotate at {result.url}\n  then: miko annotate import --project "
                   f"{result.project_id}")
    echo_rejected(result.rejected, "images")


@command(annotate_group, "import",
         click.option("--project", type=int, required=True, help="Label Studio project number."),
         json_opt)
def annotate_import(ctx: click.Context, project: int, as_json: bool) -> None:
    """Bring every submitted annotation of a project onto its intention edges (idempotent)."""
    from kg_builder.annotation.service import import_annotations
    from kg_builder.graph.driver import graph

    settings = settings_of(ctx)
    with label_studio(ctx) as client, graph(settings) as driver:
        result = import_annotations(driver, settings.neo4j_database, client, project,
                                    progress=None if as_json else say)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(f"project {project}: {result.read:,} annotations read from {result.tasks:,} "
                   f"tasks; {result.annotations:,} judgements on {result.intentions:,} intention "
                   f"edges now ({result.changed:,} edges changed by this import)")
    echo_rejected(result.rejected, "judgements")


@command(annotate_group, "select",
         click.option("--min-total", type=float, default=5.0, show_default=True,
                      help="Stage 2: a post is a candidate when its intentions' total score "
                      "exceeds this."),
         click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
                      help="MIKO release-format JSON file to write."), json_opt)
def annotate_select(ctx: click.Context, min_total: float, out: Path, as_json: bool) -> None:
    """The paper's two-stage selection of the judged posts, written in the MIKO format."""
    from kg_builder.annotation.service import select
    from kg_builder.graph.driver import graph

    settings = settings_of(ctx)
    with graph(settings) as driver:
        result = select(driver, settings.neo4j_database, out, min_total=min_total)
    data = result.as_dict()
    click.echo(json.dumps(data, indent=2) if as_json else
               f"{result.candidates:,} of {result.judged_posts:,} judged posts total more than "
               f"{min_total:g}; {result.kept_intentions:,} intentions kept (judged high typicality "
               f"by most annotators); written to {out}\n  read it back: miko load-release {out}; "
               f"score a run against it: miko eval RUN --references {out}")


@command(annotate_group, "report", json_opt,
         click.option("--png", type=click.Path(dir_okay=False, path_type=Path),
                      help="Draw the distribution per relation (the paper's Figure 4) here."))
def annotate_report(ctx: click.Context, as_json: bool, png: Path | None) -> None:
    """Judgements per relation (high / low typicality / implausible) and annotator agreement."""
    from kg_builder.annotation.service import chart, report
    from kg_builder.graph.driver import graph

    settings = settings_of(ctx)
    with graph(settings) as driver:
        data = report(driver, settings.neo4j_database)
    if png:
        try:
            chart(data, png)
        except ImportError as exc:
            raise click.ClickException(f"the chart needs matplotlib: pip install "
                                       f"'miko-kg[annotate]' ({exc})") from exc
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    click.echo(f"{data['annotated_intentions']:,} judged intentions, {data['annotators']} annotators")
    click.echo(f"{'relation':<9} {'n':>6} {'high':>7} {'low':>7} {'implaus.':>8} {'agree':>7} {'alpha':>6}")
    for rel, v in data["relations"].items():
        n = v["judgements"]
        if not n:
            continue
        alpha = "-" if v["alpha"] is None else f"{v['alpha']:.2f}"
        click.echo(f"{rel:<9} {n:>6} {pct(v['high'] / n):>7} {pct(v['low'] / n):>7} "
                   f"{pct(v['implausible'] / n):>8} {pct(v['pairwise_agreement']):>7} {alpha:>6}")
    agreement = data["agreement"]
    alpha = "-" if agreement["alpha"] is None else f"{agreement['alpha']:.2f}"
    click.echo(f"agreement over {agreement['intentions_with_2_or_more']:,} intentions with two or "
               f"more judgements: pairwise {pct(agreement['pairwise'])}, Krippendorff's alpha {alpha}")
    if png:
        click.echo(f"chart: {png}")


@command(main, "serve", click.option("--host", help="Interface (default: MIKO_API_HOST, 127.0.0.1)."),
         click.option("--port", type=int, help="Port (default: MIKO_API_PORT, 8000)."))
def serve_cmd(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql, /healthz, /readyz)."""
    serve(ctx, host, port)


def serve(ctx: click.Context, host: str | None = None, port: int | None = None) -> None:
    from kg_api.workers import run_server

    s = settings_of(ctx)
    host, port = host or s.api_host, port or s.api_port
    click.echo(f"GraphQL API: http://{host}:{port}/graphql"
               + ("  (GraphiQL in a browser)" if s.api_graphiql else "")
               + (f"  ({s.api_workers} workers)" if s.api_workers > 1 else ""))
    try:
        run_server(s, host, port)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another port "
            "(--port or MIKO_API_PORT)") from exc


@main.group("api")
def api_group() -> None:
    """The GraphQL API's schema."""


@command(api_group, "schema", click.option("--check", is_flag=True,
                                           help="Exit 1 if schema/schema.graphql differs."))
def api_schema(ctx: click.Context, check: bool) -> None:
    """Print the GraphQL schema (SDL); `> schema/schema.graphql` to update the committed copy."""
    from kg_api.schema import schema_sdl
    from kg_builder.core.resources import GRAPHQL_SCHEMA

    sdl = schema_sdl(settings_of(ctx))
    if not check:
        click.echo(sdl, nl=False)
    elif not GRAPHQL_SCHEMA.exists() or GRAPHQL_SCHEMA.read_text() != sdl:
        raise click.ClickException(
            "schema/schema.graphql is out of date: run `miko api schema > schema/schema.graphql`")
    else:
        click.echo("schema/schema.graphql is up to date")


def graph_is_empty(ctx: click.Context) -> bool:
    """Whether the database holds no node but miko's embedding-model record."""
    from kg_builder.graph.driver import graph
    from kg_builder.graph.queries import admin

    with graph(settings_of(ctx)) as driver:
        records, _, _ = driver.execute_query(admin.count_foreign_nodes(),
                                             database_=settings_of(ctx).neo4j_database)
    return int(records[0]["n"]) == 0


@command(main, "up", click.option("--data", type=click.Path(path_type=Path),
                                  help="MIKO release folder (default: MIKO_DATA_DIR/miko)."),
         click.option("--serve/--no-serve", "then_serve", default=True, show_default=True,
                      help="Serve the GraphQL API afterwards."),
         click.option("--bulk", is_flag=True, help="Load through the server's importer when the "
                      "database is empty (see `miko load --bulk`); a graph already there is "
                      "kept and loaded into online."))
def up(ctx: click.Context, data: Path | None, then_serve: bool, bulk: bool) -> None:
    """The main job: start Neo4j, load the MIKO benchmark, print stats and URLs, serve the API."""
    from kg_builder.inputs.readers import MikoReader

    settings = settings_of(ctx)
    release = data or settings.data_dir / "miko"
    steps = 4 if then_serve else 3
    started = time.monotonic()

    def step(n: int, text: str) -> None:
        click.echo(f"\n== [{n}/{steps}] {text} [t={time.monotonic() - started:.0f}s]")

    step(1, "Neo4j: installed from Maven Central the first time (~130 MB, ~1 minute), started")
    start_neo4j(ctx)
    step(2, f"loading the MIKO benchmark from {release}: every post and intention embedded on "
         "CPU (~2 minutes the first time; a rerun finds everything in place)")
    try:
        load(ctx, MikoReader(release), bulk=bulk and graph_is_empty(ctx))
    except click.ClickException as exc:
        click.echo(f"warning: {exc.format_message()}", err=True)
    step(3, "the graph")
    st = show_stats(ctx)
    password = settings.neo4j_password.get_secret_value()
    shown = password if password == DEFAULT_LOCAL_PASSWORD else "the one in MIKO_NEO4J_PASSWORD"
    api = f"http://{settings.api_host}:{settings.api_port}/graphql"
    lines = [
        "",
        f"miko-kg is up ({time.monotonic() - started:.0f}s): {st['posts']:,} posts, "
        f"{st['intention_edges']:,} intentions of 10 relations ({st['intention_nodes']:,} distinct), "
        f"{st['images']:,} images, embedded with {st['embedding_model']}",
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
    click.echo("\n".join(lines))
    if then_serve:
        step(4, "serving the GraphQL API (Ctrl-C stops it; Neo4j keeps running until "
             "`miko neo4j stop`)")
        serve(ctx)


UP_EXAMPLES = (
    '{ searchIntentions(text: "share excitement about a concert", relation: X_WANT, k: 3) '
    '{ score intention { tail } } }',
    '{ posts(first: 1) { edges { node { text intentions { relation text typicality } } } } }',
    '{ searchPosts(text: "watching the game with friends", k: 3) { score post { text } } }',
)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
