"""One typed settings object for every command, test and server (environment prefix ``MIKO_``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_LOCAL_PASSWORD = "miko-local-dev"
# The newest Neo4j Community calendar release whose server jars resolve from Maven Central
# (2026.10.0 and 2026.11.0 did not on 2026-12-07). It needs Java 21 or newer.
NEO4J_VERSION = "2026.09.0"
NEO4J_JAVA_MAJOR = 21
# Browser is not published per server release: 5.24.0 is the newest on Maven Central.
NEO4J_BROWSER_VERSION = "5.24.0"
# APOC Core is installed only where a release matching the server resolves from Maven Central;
# none of 2025.x/2026.x does (404 on 2026-12-07), so the server runs without it. No query of
# miko's uses APOC.
APOC_VERSION: str | None = None


@dataclass(frozen=True)
class IndexOptions:
    """Build parameters of the HNSW vector indexes."""

    hnsw_m: int = 32
    hnsw_ef_construction: int = 100
    quantization: str = "SCALAR"


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "miko"


class Settings(BaseSettings):
    """Every setting of miko-kg. Environment names are ``MIKO_`` + the field name in capitals."""

    model_config = SettingsConfigDict(
        env_prefix="MIKO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- Neo4j connection -------------------------------------------------------------
    neo4j_uri: str | None = Field(
        default=None,
        description="Bolt URI of an existing server. Unset: the server managed by `miko neo4j`.",
    )
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr = SecretStr(DEFAULT_LOCAL_PASSWORD)
    neo4j_database: str = "neo4j"
    neo4j_connect_timeout_s: float = 10.0

    # --- managed Neo4j server ---------------------------------------------------------
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    neo4j_home: Path | None = Field(
        default=None, description="Install folder of the managed server (default: CACHE_DIR/neo4j-VERSION)."
    )
    neo4j_data_dir: Path | None = Field(
        default=None, description="Data folder of the managed server (default: CACHE_DIR/neo4j-data)."
    )
    neo4j_bolt_port: int = 7687
    neo4j_http_port: int = 7474
    neo4j_listen_address: str = "127.0.0.1"
    neo4j_heap: str = Field(default="auto", description="JVM heap of the managed server: auto "
                            "(a sixth of the memory, 1-16 GiB) or a size such as 4g.")
    neo4j_pagecache: str = Field(default="auto", description="Page cache of the managed server: "
                                 "auto (a quarter of the memory, 0.5-64 GiB) or a size such as 6g.")
    neo4j_vector_build_buffer_mb: float = Field(
        default=16.0, ge=1.0, le=1024.0, description="Lucene's indexing buffer while a vector "
        "index is built (Neo4j's internal population_ram_buffer_size, Neo4j's default 1): one "
        "segment per buffer full, each searched on its own by every query.")
    neo4j_vector_build_merge_factor: int = Field(
        default=10, ge=2, le=1000, description="Segments of one size merged into one while a "
        "vector index is built (Neo4j's internal population_merge_factor, Neo4j's default 1000: "
        "no merges).")
    neo4j_start_timeout_s: float = 120.0
    java_home: Path | None = Field(
        default=None, description="JDK (21 or newer) that runs the managed server. Unset: "
        "JAVA_HOME, then `java` on the PATH, then the JDKs in /usr/lib/jvm, the first of "
        "version 21 or newer.")

    # --- embeddings -------------------------------------------------------------------
    embedding_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="A sentence-transformers model name or folder; all-MiniLM-L6-v2 is the packaged one.",
    )
    embedding_device: str = "cpu"
    embedding_batch_size: int = 64

    vector_hnsw_m: int = Field(
        default=IndexOptions.hnsw_m, ge=2, le=512, description="HNSW links per vector: 32 "
        "found more of the true top-10 than 16 at 1.36M vectors (recall@10 0.987 against "
        "0.953 with 100 candidates; BENCHMARKS.md) for a longer build.")
    vector_hnsw_ef_construction: int = Field(default=IndexOptions.hnsw_ef_construction, ge=1,
                                             le=3200)
    vector_quantization: Literal["none", "scalar", "binary"] = Field(
        default="scalar", description="How the vector indexes keep their vectors for the graph "
        "walk (Neo4j 2026.x: NONE, SCALAR int8, BINARY 1 bit, Neo4j's default); the float32 "
        "embeddings on the nodes give every answer its exact score either way.")

    # --- loading ----------------------------------------------------------------------
    write_batch_size: int = 2000
    data_dir: Path = Field(
        default=Path("../shared/data"), description="Folder holding miko/ and twitter_sarcasm/."
    )

    # --- model servers (miko build / ingest) -------------------------------------------------
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL(s), comma-separated for replicas.")
    llm_api_key: SecretStr = SecretStr("")
    llm_model: str | None = None
    llm_image_base_url: str | None = Field(
        default=None, description="Base URL(s) of the multimodal model (default: MIKO_LLM_BASE_URL).")
    llm_image_model: str | None = Field(
        default=None, description="Multimodal model for image description (default: MIKO_LLM_MODEL).")
    llm_azure_api_version: str | None = Field(
        default=None, description="Set for Azure OpenAI: MIKO_LLM_BASE_URL is the resource "
        "endpoint (https://NAME.openai.azure.com) and MIKO_LLM_MODEL the deployment name.")
    llm_timeout_s: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=4, ge=0, le=20)
    llm_concurrency: int = Field(default=64, ge=1)
    llm_max_tokens: int = Field(default=1024, ge=16)
    llm_structured_output: str = Field(
        default="auto", description="json_schema, json_object, none, or auto (try json_schema, "
        "fall back once per endpoint).")
    llm_grammar: bool = Field(
        default=False, description="The server takes llama.cpp grammars (llama.cpp, "
        "llama-cpp-python): the stages constrain the answers with them. On for the local model.")
    llm_stream: bool = Field(
        default=False, description="Stream the answers: MIKO_LLM_TIMEOUT_S then bounds a pause "
        "in an answer, not the whole answer. On for the local model.")
    max_image_side: int = Field(default=1024, ge=64)
    build_engine: Literal["single", "ray"] = Field(
        default="single", description="`miko build`: one process, or Ray Data actors.")
    ray_address: str = Field(default="", description="Ray cluster address; empty starts a "
                             "local Ray on this machine for the run.")
    ray_workers: int = Field(default=2, ge=1, description="Ray actors running the stages.")
    ray_batch_size: int = Field(default=16, ge=1, description="Posts per Ray Data batch.")
    ray_embed_workers: int = Field(
        default=1, ge=0, le=64, description="Ray actors embedding the built posts' texts and "
        "tails into <out>.run/vectors.sqlite for `miko load --vectors`; 0: no embedding stage.")
    local_model_auto_install: bool = Field(
        default=True, description="Without MIKO_LLM_BASE_URL, install the packaged local "
        "model's runtime (llama-cpp-python, compiled; SmolLM2) the first time it is needed.")

    # --- the student (miko build / ingest without MIKO_LLM_BASE_URL) --------------------------
    student: str = Field(default="packaged", min_length=1, max_length=4096, description=(
        "Who writes the intentions offline: `packaged` (the student shipped in the package), a "
        "folder written by `miko student train`, `base` (the student's few-shot prompts on the "
        "base model without an adapter), or `off` (the chat prompt of stage 3 on the base)."))
    student_examples: str = Field(default="graph", min_length=1, max_length=4096, description=(
        "The student's in-context examples: `graph` (the kept intentions of the graph's "
        "train-split posts most similar to each post), a MIKO release file's kept intentions, "
        "or `none` (no examples)."))
    student_shots: int = Field(default=2, ge=0, le=10, description=(
        "Similar posts' intentions shown in each of the student's prompts (it was trained "
        "with 2)."))
    student_base_url: str | None = Field(default=None, max_length=4096, description=(
        "A server that has the student loaded (vLLM with --enable-lora): the student's "
        "completions go there instead of a local llama.cpp server."))
    student_api_key: SecretStr = Field(default=SecretStr(""), description=(
        "The API key for MIKO_STUDENT_BASE_URL (MIKO_LLM_API_KEY is never sent there)."))
    student_model: str = Field(default="miko-student", min_length=1, max_length=200, description=(
        "The name to ask MIKO_STUDENT_BASE_URL (or the local student server) for."))

    # --- GraphQL API (miko serve) ---------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = Field(default=0, ge=0, description=(
        "API worker processes; one acceptor hands each connection to the worker with the "
        "fewest open. 0: chosen from the machine (one a core, up to 8, as many as memory "
        "holds at ~1.2 GiB a worker (its peak with the embedding model); `miko serve` says what it "
        "chose)."))
    api_graphiql: bool = Field(default=True, description="Serve GraphiQL at /graphql (development).")
    api_introspection: bool = Field(default=True, description=(
        "Answer introspection queries (__schema, __type): GraphiQL needs them; turn off for a "
        "public server."))
    api_suggestions: bool = Field(default=True, description=(
        "\"Did you mean ...?\" in validation errors (they reveal field names): turn off for a "
        "public server."))
    api_max_depth: int = Field(default=10, ge=1, description="Fields nested in fields, fragments "
                               "expanded.")
    api_max_nesting: int = Field(default=40, ge=2, le=200, description=(
        "Selection sets nested, fragment spreads and inline fragments counted (bounds the "
        "recursive parts of validation and execution)."))
    api_max_tokens: int = Field(default=2000, ge=10, description="Tokens of a query document "
                                "(the parser stops past it).")
    api_max_aliases: int = Field(default=30, ge=1, description="Aliased fields, fragments "
                                 "expanded.")
    api_max_fields: int = Field(default=500, ge=10, description="Field selections, fragments "
                                "expanded (introspection's not counted).")
    api_max_header_bytes: int = Field(default=65_536, ge=1_024, description=(
        "Largest request line and headers; larger ones get 431 and the connection closed."))
    api_body_timeout_s: float = Field(default=10.0, gt=0, description=(
        "A GraphQL request body must arrive within this long of its headers (a slow body gets "
        "408), before the request takes a running slot."))
    api_max_k: int = Field(default=100, ge=1, description="Cap on every `k` and `first` argument.")
    api_request_timeout_s: float = Field(default=10.0, gt=0)
    api_max_body_bytes: int = Field(default=100_000, ge=1_000,
                                    description="Largest request body; larger ones get 413.")
    api_max_string_chars: int = Field(default=2_000, ge=10,
                                      description="Longest string argument or variable.")
    api_max_cost: int = Field(
        default=100_000, ge=1, description="Largest query cost: over every field, the product of "
        "the `first`/`k` arguments along its path, summed; counted before execution.")
    api_max_concurrent: int = Field(
        default=32, ge=1, description="GraphQL requests run at once per worker; more wait in the "
        "queue.")
    api_queue_size: int = Field(default=512, ge=0, description=(
        "GraphQL requests that may wait for a running slot (or for cost room) per worker; past "
        "it, 503 with Retry-After."))
    api_queue_wait_s: float = Field(default=5.0, ge=0, description=(
        "Longest wait in the queue before a 503 with Retry-After."))
    api_max_running_cost: int = Field(default=400_000, ge=1, description=(
        "Total cost of the costly queries (cost over a tenth of MIKO_API_MAX_COST) running at "
        "once per worker; a costly query waits for room (MIKO_API_QUEUE_WAIT_S), then is shed "
        "with 503, while cheaper ones pass."))
    api_header_timeout_s: float = Field(default=10.0, gt=0, description=(
        "A connection whose request line and headers have not all arrived this long after it "
        "opened (or after its previous response) is closed."))
    api_query_cache_size: int = Field(default=1024, ge=0, description="Embedded query texts kept.")
    api_embed_batch_wait_ms: float = Field(default=0.0, ge=0, le=100, description=(
        "How long a search's text that finds the encoder idle waits for other requests' texts "
        "(0: not at all; texts that arrive while a batch is being encoded always go together "
        "as the next batch)."))
    api_embed_batch_max: int = Field(default=32, ge=1, le=256, description=(
        "Texts embedded together at most (a full batch goes at once)."))
    api_search_candidates: int = Field(
        default=100, ge=1, le=10_000, description="Neighbours asked of a vector index per search "
        "at least (HNSW's search beam), of which the best k are answered: higher recall, slower "
        "searches (the recall/latency table in BENCHMARKS.md).")
    api_key_info_scan_max: int = Field(
        default=50_000, ge=1, le=10_000_000, description="Most intentions (or posts) a search "
        "filtered by key information scores exactly (the index cannot filter on key "
        "information: it is a pattern, not a property); a broader filter is refused, naming "
        "how many matched.")
    api_document_cache_size: int = Field(
        default=256, ge=0, description="Valid GraphQL query texts kept parsed and validated "
        "(texts up to 8,192 characters; 0 turns the cache off).")
    api_query_embed_threads: int = Field(
        default=1, ge=1, le=64, description="Threads of one query embedding (the ONNX embedder; "
        "one embedding runs at a time per worker). On 2 cores, 2 threads cut the embedding alone "
        "from ~9 to ~6 ms when nothing else ran, lost while Neo4j was busy, and gained within "
        "noise in the search benchmark (BENCHMARKS.md): for low concurrency on spare cores.")
    api_query_embedder: str = Field(
        default="auto",
        description="Query embedder: onnx (fp32 ONNX Runtime export), torch, or auto (onnx if "
        "its vectors agree with torch's, else torch).",
    )

    # --- quality (miko eval, miko critic) ---------------------------------------------------
    eval_backbone: str = Field(
        default="all-MiniLM-L6-v2",
        description="BERTScore backbone: a local transformers model folder or the packaged "
        "all-MiniLM-L6-v2. Figures from different backbones never compare.")
    eval_layer: int | None = Field(
        default=None, ge=1, description="Backbone layer whose token vectors BERTScore compares "
        "(default: the last).")
    critic: Path | None = Field(
        default=None, description="Typicality critic file (`miko critic train --out`); default: "
        "the critic shipped in the package, trained on the MIKO train labels.")
    critic_enabled: bool = Field(
        default=True, description="Score every intention edge with the critic at load and ingest.")

    # --- human judgement (miko annotate) ---------------------------------------------------
    label_studio_url: str | None = Field(
        default=None, description="An existing Label Studio (http://HOST:PORT). Unset: the one "
        "`miko annotate serve` runs on 127.0.0.1.")
    label_studio_token: SecretStr = Field(
        default=SecretStr(""), description="API token of that Label Studio (Account & Settings); "
        "the local one's is made and kept by `miko annotate serve`.")
    label_studio_data_dir: Path | None = Field(
        default=None, description="Data folder of the local Label Studio (default: "
        "CACHE_DIR/label-studio).")
    label_studio_port: int = Field(default=8089, ge=1, le=65535,
                                   description="Port of the local Label Studio.")
    label_studio_user: str = Field(default="admin@miko.local",
                                   description="Login (e-mail) of the local Label Studio.")
    label_studio_password: SecretStr = Field(
        default=SecretStr(DEFAULT_LOCAL_PASSWORD), description="Password of that login, set when "
        "the local Label Studio first starts.")
    label_studio_start_timeout_s: float = Field(default=180.0, gt=0)

    @field_validator("neo4j_heap", "neo4j_pagecache")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        if not re.fullmatch(r"auto|\d+(\.\d+)?[kmgt]?", value.strip().lower()):
            raise ValueError(f"{value!r} is neither auto nor a size such as 4g or 512m")
        return value.strip().lower()

    @field_validator("write_batch_size", "embedding_batch_size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    # --- derived ----------------------------------------------------------------------
    @property
    def index_options(self) -> IndexOptions:
        return IndexOptions(hnsw_m=self.vector_hnsw_m,
                            hnsw_ef_construction=self.vector_hnsw_ef_construction,
                            quantization=self.vector_quantization.upper())

    @property
    def managed(self) -> bool:
        """True when miko runs the Neo4j server itself (no MIKO_NEO4J_URI given)."""
        return self.neo4j_uri is None

    @property
    def neo4j_host(self) -> str:
        """Where the managed server is reached: its listen address, loopback for a wildcard."""
        return "127.0.0.1" if self.neo4j_listen_address in ("0.0.0.0", "") else self.neo4j_listen_address

    @property
    def bolt_uri(self) -> str:
        return self.neo4j_uri or f"bolt://{self.neo4j_host}:{self.neo4j_bolt_port}"

    @property
    def browser_url(self) -> str:
        return f"http://localhost:{self.neo4j_http_port}/browser/"

    @property
    def browser_guide_url(self) -> str:
        """Where Neo4j Browser fetches miko's guide and style: the API (`miko serve`)."""
        return f"http://localhost:{self.api_port}/neo4j-browser/"

    @property
    def resolved_neo4j_home(self) -> Path:
        return self.neo4j_home or self.cache_dir / f"neo4j-{NEO4J_VERSION}"

    @property
    def resolved_neo4j_data_dir(self) -> Path:
        return self.neo4j_data_dir or self.cache_dir / "neo4j-data"

    def effective(self) -> dict[str, object]:
        """What `miko config` prints: every setting (secrets masked) and what follows from them."""
        return {**self.masked(), "bolt_uri": self.bolt_uri, "managed_server": self.managed}

    def masked(self) -> dict[str, object]:
        """Settings as a dict with secrets masked (for `miko config` and logs)."""
        out: dict[str, object] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                out[name] = "**********"
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        return out

