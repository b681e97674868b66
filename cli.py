"""The `miko` command: install and run Neo4j, build and query the MIKO intention graph."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from kg_builder.errors import KGBuilderError
from kg_builder.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
MAX_REPORTED = 100


def _errors_as_click(func: F) -> F:
    """Turn our package errors into click errors whose message says what to fix."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KGBuilderError as exc:
            raise click.ClickException(str(exc)) from exc
        except Exception as exc:
            try:
                from kg_api.errors import KGApiError
            except ImportError:  # pragma: no cover
                raise exc from None
            if isinstance(exc, KGApiError):
                raise click.ClickException(str(exc)) from exc
            raise

    return wrapper  # type: ignore[return-value]


def _settings(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = Settings()
    settings: Settings = obj["settings"]
    return settings


@contextmanager
def _driver(settings: Settings) -> Iterator[Any]:
    from kg_builder.graph import connect

    driver = connect(settings)
    try:
        yield driver
    finally:
        driver.close()


def _embedder(settings: Settings) -> Any:
    from kg_builder.embeddings import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(
        settings.embedding_model, device=settings.embedding_device,
        batch_size=settings.embedding_batch_size,
    )


@click.group()
@click.version_option(package_name="miko-kg")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Build and query the MIKO social-media intention knowledge graph on Neo4j.

    Settings come from MIKO_* environment variables or a .env file (see `miko config`).
    """
    ctx.ensure_object(dict)


@main.command("config")
@click.pass_context
def config_cmd(ctx: click.Context) -> None:
    """Print the effective settings as JSON (secrets masked)."""
    s = _settings(ctx)
    out = s.masked()
    out["bolt_uri"] = s.bolt_uri
    out["managed_server"] = s.managed
    click.echo(json.dumps(out, indent=2, default=str))


# --- neo4j ---------------------------------------------------------------------------------

@main.group("neo4j")
def neo4j_group() -> None:
    """Install, start, stop and inspect the Neo4j server miko manages."""


def _server(ctx: click.Context) -> Any:
    from kg_builder.neo4j_server import Neo4jServer

    return Neo4jServer(_settings(ctx))


@neo4j_group.command("install")
@click.option("--force", is_flag=True, help="Reinstall even if the pinned version is present.")
@click.pass_context
@_errors_as_click
def neo4j_install(ctx: click.Context, force: bool) -> None:
    """Fetch Neo4j Community 5.26 LTS, Neo4j Browser and APOC Core from Maven Central."""
    settings = _settings(ctx)
    if not settings.managed:
        click.echo(f"MIKO_NEO4J_URI is set ({settings.neo4j_uri}): nothing to install.")
        return
    server = _server(ctx)
    if server.install(force=force):
        click.echo(f"Installed Neo4j in {server.home}")
    else:
        click.echo(f"Neo4j already installed in {server.home}")


@neo4j_group.command("start")
@click.pass_context
@_errors_as_click
def neo4j_start(ctx: click.Context) -> None:
    """Start the server in the background and wait until Bolt answers."""
    settings = _settings(ctx)
    if not settings.managed:
        click.echo(f"MIKO_NEO4J_URI is set ({settings.neo4j_uri}): using that server, nothing started.")
        return
    server = _server(ctx)
    server.install()
    started = server.start()
    click.echo(("Started" if started else "Already running") + f": Neo4j (pid {server.pid()})")
    click.echo(f"Bolt:    {settings.bolt_uri}")
    click.echo(f"Browser: {settings.browser_url}")


@neo4j_group.command("stop")
@click.pass_context
@_errors_as_click
def neo4j_stop(ctx: click.Context) -> None:
    """Stop the managed server."""
    if not _settings(ctx).managed:
        click.echo("MIKO_NEO4J_URI is set: that server is not managed by miko.")
        return
    click.echo("Stopped Neo4j" if _server(ctx).stop() else "Neo4j was not running")


@neo4j_group.command("status")
@click.pass_context
@_errors_as_click
def neo4j_status(ctx: click.Context) -> None:
    """Say whether the managed server is installed and running (exit 1 if not running)."""
    settings = _settings(ctx)
    if not settings.managed:
        click.echo(f"external server: {settings.neo4j_uri}")
        return
    st = _server(ctx).status()
    click.echo(f"home:      {st.home} ({'installed' if st.installed else 'not installed'})")
    click.echo(f"running:   {'yes, pid ' + str(st.pid) if st.running else 'no'}")
    click.echo(f"bolt:      {st.bolt_uri}")
    click.echo(f"browser:   {st.browser_url}")
    if not st.running:
        ctx.exit(1)


# --- db ------------------------------------------------------------------------------------

@main.group("db")
def db_group() -> None:
    """Schema and maintenance of the graph."""


@db_group.command("init")
@click.pass_context
@_errors_as_click
def db_init(ctx: click.Context) -> None:
    """Create constraints, full-text and vector indexes (idempotent)."""
    settings = _settings(ctx)
    from kg_builder.graph import init_schema

    embedder = _embedder(settings)
    with _driver(settings) as driver:
        applied = init_schema(driver, settings.neo4j_database, embedder.model_name,
                              embedder.dimension, settings.index_options)
    click.echo(f"Schema applied ({len(applied)} statements); embedding model "
               f"{embedder.model_name} ({embedder.dimension} dims)")


@db_group.command("reembed")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@_errors_as_click
def db_reembed(ctx: click.Context, yes: bool) -> None:
    """Re-embed every post and intention with the configured model and rebuild vector indexes."""
    settings = _settings(ctx)
    from kg_builder.maintenance import reembed

    if not yes:
        click.confirm("This drops the vector indexes and re-embeds the whole graph. Go on?", abort=True)
    embedder = _embedder(settings)
    with _driver(settings) as driver:
        counts = reembed(driver, settings.neo4j_database, embedder, settings.write_batch_size,
                         settings.index_options)
    click.echo(f"Re-embedded {counts['intentions']} intentions and {counts['posts']} posts with "
               f"{embedder.model_name}")


# --- loading -------------------------------------------------------------------------------

def _report(summary: Any, reader_stats: Any, as_json: bool, rejects: Path | None) -> None:
    rejected = summary.rejected
    if rejects is not None:
        with rejects.open("w", encoding="utf-8") as fh:
            for r in rejected:
                fh.write(r.model_dump_json() + "\n")
    for r in rejected[:MAX_REPORTED]:
        click.echo(f"rejected {r.location()}: {r.reason}", err=True)
    if len(rejected) > MAX_REPORTED:
        more = f" (all in {rejects})" if rejects else " (pass --rejects FILE to keep them all)"
        click.echo(f"... and {len(rejected) - MAX_REPORTED} more rejected records{more}", err=True)
    for w in reader_stats.warnings[:MAX_REPORTED]:
        click.echo(f"warning {w.location()}: {w.reason}", err=True)
    result = {"load": summary.as_dict(), "input": reader_stats.as_dict()}
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    s, q = summary, reader_stats
    click.echo(f"Loaded {s.posts_loaded} posts of {s.posts_read} read "
               f"({len(rejected)} rejected) in {s.seconds:.1f}s "
               f"(embedding {s.embed_seconds:.1f}s, writing {s.write_seconds:.1f}s"
               + (f", vector indexes rebuilt in {s.index_seconds:.1f}s" if s.deferred_indexes else "")
               + ")")
    click.echo(f"  intention edges: {sum(s.intention_edges.values())} "
               f"{dict(sorted(s.intention_edges.items()))}")
    click.echo(f"  new intention nodes: {s.intention_nodes_written}; sentences embedded: "
               f"{s.intentions_embedded} tails, {s.posts_embedded} posts")
    click.echo(f"  images linked: {s.images}; key-information links: {s.key_info_links}; "
               f"stale intentions removed: {s.stale_intentions_removed}")
    click.echo(f"  input: posts by split {dict(q.posts_by_split)}; duplicate posts merged "
               f"{q.duplicate_posts} ({q.duplicate_label_conflicts} with differing labels); "
               f"image names shared across splits {q.shared_image_names}; missing relations "
               f"{dict(q.missing_relations)}; template mismatches {dict(q.template_mismatches)}")


def _load(ctx: click.Context, reader: Any, as_json: bool, rejects: Path | None,
          progress: bool | None, defer_indexes: str = "auto") -> None:
    settings = _settings(ctx)
    from kg_builder.graph import init_schema
    from kg_builder.loader import GraphLoader

    embedder = _embedder(settings)
    with _driver(settings) as driver:
        init_schema(driver, settings.neo4j_database, embedder.model_name, embedder.dimension,
                    settings.index_options)
        loader = GraphLoader(
            driver, embedder, settings.neo4j_database, settings.write_batch_size,
            defer_vector_indexes={"auto": None, "yes": True, "no": False}[defer_indexes],
            index_options=settings.index_options,
        )
        summary = loader.load(reader, progress=progress)
    _report(summary, reader.stats, as_json, rejects)
    if summary.rejected:
        raise click.ClickException(
            f"{len(summary.rejected)} record(s) rejected; the rest was loaded. Fix the records "
            "listed above and load again (loading is idempotent)"
        )


_common_load_options = [
    click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON."),
    click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
                 help="Write every rejected record (location, reason) to this JSONL file."),
    click.option("--progress/--no-progress", default=None,
                 help="Show a progress bar (default: when stderr is a terminal)."),
    click.option("--defer-indexes", type=click.Choice(["auto", "yes", "no"]), default="auto",
                 show_default=True,
                 help="Drop the vector indexes during the load and rebuild them afterwards "
                 "(faster for big loads; vector search is unavailable meanwhile). auto: only "
                 "when the graph holds no post yet."),
]


def _load_options(func: F) -> F:
    for option in reversed(_common_load_options):
        func = option(func)
    return func


@main.command("load-release")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@_load_options
@click.pass_context
@_errors_as_click
def load_release(ctx: click.Context, path: Path | None, as_json: bool, rejects: Path | None,
                 progress: bool | None, defer_indexes: str) -> None:
    """Load a MIKO release folder (train.json, test.json) or one of its files.

    PATH defaults to MIKO_DATA_DIR/miko.
    """
    from kg_builder.readers import MikoReader

    settings = _settings(ctx)
    _load(ctx, MikoReader(path or settings.data_dir / "miko"), as_json, rejects, progress,
          defer_indexes)


@main.command("load-posts")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "sarcasm", "miko"]), default="jsonl",
              show_default=True, help="Input format (see README).")
@click.option("--source", help="Source name stored on each post (default: per format).")
@click.option("--images", "images_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder that image paths in JSONL are relative to (default: the file's folder).")
@_load_options
@click.pass_context
@_errors_as_click
def load_posts(ctx: click.Context, file: Path, fmt: str, source: str | None,
               images_dir: Path | None, as_json: bool, rejects: Path | None,
               progress: bool | None, defer_indexes: str) -> None:
    """Load posts (with intentions if the records carry them) from FILE."""
    from kg_builder.readers import open_reader

    _load(ctx, open_reader(file, fmt, source=source, images_dir=images_dir), as_json, rejects,
          progress, defer_indexes)


def _pipeline(settings: Settings, run_dir: Path, images_dir: Path | None, retry_failed: bool,
              base_url: str | None = None, model: str | None = None
              ) -> tuple[Any, list[Any], Any]:
    from kg_builder.llm import Endpoint, LLMClient
    from kg_builder.pipeline import Pipeline
    from kg_builder.prompts import load_template
    from kg_builder.stage_cache import StageCache
    from kg_builder.stages.image_description import ImageDescriptionStage
    from kg_builder.stages.intentions import IntentionsStage
    from kg_builder.stages.key_information import KeyInformationStage

    base_url = base_url or settings.llm_base_url
    model = model or settings.llm_model
    if not base_url or not model:
        raise click.ClickException(
            "no model configured: set MIKO_LLM_BASE_URL (an OpenAI-compatible /v1 URL: "
            "OpenAI, Azure, vLLM, Ollama or llama.cpp) and MIKO_LLM_MODEL")
    key = settings.llm_api_key.get_secret_value()
    mode: Any = settings.llm_structured_output

    def client(urls: str, model: str) -> LLMClient:
        return LLMClient([Endpoint(u.strip(), key, model, settings.llm_azure_api_version)
                          for u in urls.split(",") if u.strip()],
                         timeout_s=settings.llm_timeout_s, max_retries=settings.llm_max_retries,
                         concurrency=settings.llm_concurrency, structured=mode,
                         max_tokens=settings.llm_max_tokens)

    text_client = client(base_url, model)
    clients = [text_client]
    cache = StageCache(run_dir / "cache.sqlite")
    image_model = settings.llm_image_model or model
    image_stage = None
    if images_dir is not None:
        image_client = client(settings.llm_image_base_url or base_url, image_model)
        clients.append(image_client)
        image_stage = ImageDescriptionStage(
            image_client, cache, load_template("image_description", {"post_text"}), image_model)
    pipeline = Pipeline(
        KeyInformationStage(text_client, cache, load_template(
            "key_information", {"post_text", "image_description"}), model),
        IntentionsStage(text_client, cache, load_template(
            "intentions", {"relation_templates", "post_text", "image_description",
                           "key_information"}), model),
        image=image_stage, images_dir=images_dir, retry_failed=retry_failed,
        max_image_side=settings.max_image_side)
    return pipeline, clients, cache


def _build(ctx: click.Context, input_path: Path, fmt: str, images_dir: Path | None, out: Path,
           retry_failed: bool, progress: bool | None) -> Any:
    import contextlib

    settings = _settings(ctx)
    run_dir = out.parent / (out.stem + ".run")
    local: Any = contextlib.nullcontext()
    base_url = model = None
    if not settings.llm_base_url:
        from kg_builder.local_llm import DEMO_WARNING, LocalModelServer

        click.echo(f"warning: {DEMO_WARNING}", err=True)
        local = LocalModelServer()
        base_url, model = local.base_url, local.model_name
        images_dir = None
    with local:
        return _run_build(settings, run_dir, input_path, fmt, images_dir, out, retry_failed,
                          progress, base_url, model)


def _run_build(settings: Settings, run_dir: Path, input_path: Path, fmt: str,
               images_dir: Path | None, out: Path, retry_failed: bool, progress: bool | None,
               base_url: str | None, model: str | None) -> Any:
    import asyncio

    from kg_builder.readers import open_reader

    pipeline, clients, cache = _pipeline(settings, run_dir, images_dir, retry_failed, base_url,
                                         model)
    reader = open_reader(input_path, fmt, images_dir=images_dir)
    if images_dir is None:
        click.echo("no --images folder: stage 1 (image description) is skipped", err=True)
    dead = out.with_suffix(".dead.jsonl")

    async def go() -> Any:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_interrupt() -> None:
            if stop.is_set():  # second Ctrl-C: stop now
                raise KeyboardInterrupt
            click.echo("\ninterrupted: finishing the posts in flight (Ctrl-C again to abort)",
                       err=True)
            stop.set()

        try:
            loop.add_signal_handler(signal.SIGINT, on_interrupt)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests), or Windows
            pass
        try:
            return await pipeline.build(reader, out, dead, clients,
                                        in_flight=settings.llm_concurrency * 2, progress=progress,
                                        stop=stop)
        finally:
            for c in clients:
                await c.close()
            cache.close()

    summary = asyncio.run(go())
    for r in summary.rejected_input[:MAX_REPORTED]:
        click.echo(f"rejected {r.location()}: {r.reason}", err=True)
    for d in summary.dead[:MAX_REPORTED]:
        click.echo(f"dead-lettered {d['id']} at {d['stage']}: {d['reason']}", err=True)
    st = summary.as_dict()
    click.echo(f"Built {st['built']} of {st['posts']} posts in {st['seconds']:.1f}s -> {out}; "
               f"dead-lettered {st['dead_lettered']} -> {dead} {st['dead_by_reason']}")
    click.echo(f"  model calls {st['model_calls']} (retries {st['retries']}), cache hits "
               f"{st['cache_hits']}, tokens in/out {st['tokens_in']}/{st['tokens_out']}, "
               f"images skipped {st['images_skipped']}")
    return summary


@main.command("build")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "sarcasm", "miko"]), default="jsonl",
              show_default=True)
@click.option("--images", "images_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder the posts' image paths are relative to; without it stage 1 is skipped.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("run.jsonl"),
              show_default=True, help="One JSON record per built post (loadable by `miko load`).")
@click.option("--retry-failed/--skip-failed", default=True,
              help="Retry inputs that failed in an earlier run (default), or skip them.")
@click.option("--progress/--no-progress", default=None)
@click.pass_context
@_errors_as_click
def build_cmd(ctx: click.Context, input_path: Path, fmt: str, images_dir: Path | None, out: Path,
              retry_failed: bool, progress: bool | None) -> None:
    """Run the three MIKO stages over INPUT with the configured model server."""
    summary = _build(ctx, input_path, fmt, images_dir, out, retry_failed, progress)
    if summary.interrupted:
        raise click.ClickException(
            f"interrupted after {summary.built + len(summary.dead)} post(s); run the same command "
            "again to finish (answers already made are cached)")
    if summary.dead or summary.rejected_input:
        raise click.ClickException(
            f"{len(summary.dead)} post(s) dead-lettered, {len(summary.rejected_input)} input "
            "record(s) rejected; rerun to retry (answers already made are cached)")


@main.command("load")
@click.argument("run_file", type=click.Path(path_type=Path))
@_load_options
@click.pass_context
@_errors_as_click
def load_cmd(ctx: click.Context, run_file: Path, as_json: bool, rejects: Path | None,
             progress: bool | None, defer_indexes: str) -> None:
    """Load the output of `miko build` into the graph."""
    from kg_builder.readers import JsonlReader

    _load(ctx, JsonlReader(run_file), as_json, rejects, progress, defer_indexes)


@main.command("ingest")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "sarcasm", "miko"]), default="jsonl",
              show_default=True)
@click.option("--images", "images_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("run.jsonl"),
              show_default=True)
@click.option("--progress/--no-progress", default=None)
@click.pass_context
@_errors_as_click
def ingest_cmd(ctx: click.Context, input_path: Path, fmt: str, images_dir: Path | None,
               out: Path, progress: bool | None) -> None:
    """`miko build` then `miko load`: raw posts to graph knowledge."""
    from kg_builder.readers import JsonlReader

    summary = _build(ctx, input_path, fmt, images_dir, out, True, progress)
    if summary.interrupted:
        raise click.ClickException(
            "interrupted before loading; run the same command again to finish (answers already "
            "made are cached)")
    _load(ctx, JsonlReader(out), False, None, progress)
    if summary.dead or summary.rejected_input:
        raise click.ClickException(
            f"{len(summary.dead)} post(s) dead-lettered (see {out.with_suffix('.dead.jsonl')}); "
            "the others are in the graph")


@main.group("llm")
def llm_group() -> None:
    """The packaged local model (SmolLM2-135M-Instruct via llama-cpp-python)."""


@llm_group.command("serve")
@click.option("--port", type=int, default=8080, show_default=True)
@_errors_as_click
def llm_serve(port: int) -> None:
    """Keep the local model's OpenAI-compatible server up until Ctrl-C."""
    import time

    from kg_builder.local_llm import LocalModelServer

    server = LocalModelServer(port=port)
    with server:
        click.echo(f"local model up: MIKO_LLM_BASE_URL={server.base_url} "
                   f"MIKO_LLM_MODEL={server.model_name} (demo quality; Ctrl-C stops it)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("stopping the local model")


@main.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
@_errors_as_click
def stats_cmd(ctx: click.Context, as_json: bool) -> None:
    """Counts of posts, intentions per relation and key information."""
    from kg_builder.stats import graph_stats

    settings = _settings(ctx)
    with _driver(settings) as driver:
        st = graph_stats(driver, settings.neo4j_database)
    if as_json:
        click.echo(json.dumps(st, indent=2))
        return
    click.echo(f"posts: {st['posts']}   images: {st['images']}   intention nodes: "
               f"{st['intention_nodes']}   intention edges: {st['intention_edges']}")
    click.echo(f"embedding model: {st['embedding_model']} ({st['embedding_dimension']} dims)")
    click.echo(f"{'relation':<10}{'edges':>8}{'nodes':>8}  benchmark labels")
    for rel, n in st["intention_edges_per_relation"].items():
        labels = st["intention_edges_by_benchmark_label"][rel]
        click.echo(f"{rel:<10}{n:>8}{st['intention_nodes_per_relation'][rel]:>8}  "
                   + ", ".join(f"{k}: {v}" for k, v in sorted(labels.items())))
    click.echo("key information: " + ", ".join(f"{k} {v}" for k, v in st["key_info_nodes"].items()))


@main.command("serve")
@click.option("--host", help="Interface to listen on (default: MIKO_API_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: MIKO_API_PORT, 8000).")
@click.pass_context
@_errors_as_click
def serve_cmd(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql, /healthz, /readyz)."""
    import uvicorn

    from kg_api.app import create_app

    settings = _settings(ctx)
    host = host or settings.api_host
    port = port or settings.api_port
    click.echo(f"GraphQL API: http://{host}:{port}/graphql"
               + ("  (GraphiQL in a browser)" if settings.api_graphiql else ""))
    if settings.api_workers > 1:  # each worker builds the app from the same MIKO_* settings
        uvicorn.run("kg_api.app:create_app", factory=True, workers=settings.api_workers,
                    host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning",
                    timeout_graceful_shutdown=5)


@main.group("api")
def api_group() -> None:
    """The GraphQL API's schema."""


@api_group.command("schema")
@click.option("--check", is_flag=True, help="Exit 1 if schema/schema.graphql differs.")
@click.pass_context
def api_schema(ctx: click.Context, check: bool) -> None:
    """Print the GraphQL schema (SDL); `> schema/schema.graphql` to update the committed copy."""
    from kg_api.schema import schema_sdl

    sdl = schema_sdl(_settings(ctx))
    if check:
        path = Path(__file__).resolve().parent / "schema" / "schema.graphql"
        if not path.exists() or path.read_text() != sdl:
            raise click.ClickException(
                f"{path} is out of date: run `miko api schema > schema/schema.graphql`")
        click.echo("schema/schema.graphql is up to date")
        return
    click.echo(sdl, nl=False)


@main.command("up")
@click.option("--data", "data", type=click.Path(path_type=Path),
              help="MIKO release folder (default: MIKO_DATA_DIR/miko).")
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Serve the GraphQL API afterwards.")
@click.pass_context
@_errors_as_click
def up(ctx: click.Context, data: Path | None, serve: bool) -> None:
    """The main job: start Neo4j, load the MIKO benchmark, print stats and URLs, serve the API."""
    settings = _settings(ctx)
    if settings.managed:
        ctx.invoke(neo4j_start)
    from kg_builder.readers import MikoReader

    reader = MikoReader(data or settings.data_dir / "miko")
    try:
        _load(ctx, reader, False, None, None)
    except click.ClickException as exc:
        click.echo(f"warning: {exc.format_message()}", err=True)
    ctx.invoke(stats_cmd)
    click.echo(f"\nNeo4j Browser: {settings.browser_url}  (user {settings.neo4j_user}; "
               "password from MIKO_NEO4J_PASSWORD)")
    if serve:
        query = ('{"query": "{ searchIntentions(text: \\"share excitement about a concert\\", '
                 'relation: X_WANT, k: 3) { score intention { tail } } }"}')
        click.echo(f"\nTry: curl -s localhost:{settings.api_port}/graphql "
                   f"-H 'content-type: application/json' -d '{query}'")
        ctx.invoke(serve_cmd)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
