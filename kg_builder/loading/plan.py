"""One batch's plan, made once for both loaders: what a batch of records becomes in the graph,
and which records of a refused batch are at fault.

``plan_batch`` maps records to intention nodes, edges, key-information links, images and the
prunes of stale edges, with one set of de-duplication rules: an intention node per id (the first
sentence seen is its text); one edge per (post, relation, intention), a later sentence of the
post over an earlier one as ``MERGE`` + ``SET`` does (``merged``); one key-information link per
(post, kind, name), the first display seen naming the node; per (post, source), the
intentions it keeps. The online loader (``loader.GraphLoader``) writes a plan with Cypher;
the bulk path (``bulk.BulkLoader``) writes it into import files. ``isolate`` splits a refused
batch until the records at fault are found, for either sink; ``refused_alike`` tells when a
refusal is not the data's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from neo4j.exceptions import ClientError, DatabaseError, DriverError, Neo4jError

from kg_builder.core.errors import EmbeddingInputError, KGBuilderError
from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.models import ImageRef, Origin, PostRecord, Rejection
from kg_builder.core.relations import Relation, intention_id, normalise
from kg_builder.embeddings.base import Embedder
from kg_builder.embeddings.texts import TailGroup, tails_to_embed
from kg_builder.inputs.readers import ReadItem

# Refusals that are about the server, its access rules or miko itself, never about one record:
# the load stops at once instead of rejecting every record in turn.
SYSTEMIC_CODES: tuple[str, ...] = (
    "Neo.ClientError.Security.", "Neo.ClientError.Database.",
    "Neo.ClientError.General.Forbidden", "Neo.ClientError.General.ReadOnly",
    "Neo.ClientError.Statement.SyntaxError", "Neo.ClientError.Statement.ParameterMissing",
    "Neo.ClientError.Statement.AccessMode",
    "Neo.ClientError.Procedure.", "Neo.ClientError.Transaction.",
)


@dataclass(frozen=True)
class NodePlan:
    id: str
    relation: Relation
    text: str  # the first sentence of the batch with this intention
    tail: str


@dataclass(frozen=True)
class EdgePlan:
    post: str
    relation: Relation
    intention: str
    text: str
    label: int | None
    label_votes: list[int]
    source: str
    model: str | None
    prompt_version: str | None

    def row(self) -> dict[str, Any]:
        """The edge's properties and ends, as the write statements take them."""
        return {"post": self.post, "intention": self.intention, "text": self.text,
                "label": self.label, "label_votes": self.label_votes, "source": self.source,
                "model": self.model, "prompt_version": self.prompt_version}


@dataclass(frozen=True)
class KeyLink:
    post: str
    kind: KeyInfoKind
    name: str  # normalised: the node's key
    display: str  # as written


@dataclass
class BatchPlan:
    records: list[PostRecord]
    nodes: dict[str, NodePlan] = field(default_factory=dict)
    edges: list[EdgePlan] = field(default_factory=list)
    key_links: list[KeyLink] = field(default_factory=list)
    prunes: list[dict[str, Any]] = field(default_factory=list)  # {post, source, keep: [ids]}

    def images(self) -> list[tuple[PostRecord, ImageRef]]:
        return [(r, r.image) for r in self.records if r.image is not None]

    def edges_by_relation(self) -> dict[Relation, list[EdgePlan]]:
        out: dict[Relation, list[EdgePlan]] = defaultdict(list)
        for edge in self.edges:
            out[edge.relation].append(edge)
        return out

    def tails_to_embed(self, ids: Iterable[str]) -> list[TailGroup]:
        """The tails of the intentions ``ids`` (of this plan), once per normalised tail."""
        return tails_to_embed((iid, self.nodes[iid].tail) for iid in ids)


def merged(earlier: EdgePlan, later: EdgePlan) -> EdgePlan:
    """A post's second sentence of one intention over its first, as the write statement's
    ``MERGE`` + ``SET`` does: the later text, source and model; the later label unless it has
    none, the later votes unless there are none."""
    return EdgePlan(later.post, later.relation, later.intention, later.text,
                    later.label if later.label is not None else earlier.label,
                    later.label_votes or earlier.label_votes, later.source, later.model,
                    later.prompt_version)


def plan_batch(records: list[PostRecord]) -> BatchPlan:
    """What ``records`` become in the graph (the rules in the module's docstring)."""
    plan = BatchPlan(records)
    for rec in records:
        keep: dict[str, list[str]] = defaultdict(list)
        edges: dict[tuple[Relation, str], EdgePlan] = {}
        for intent in rec.intentions:
            iid = intention_id(intent.relation, intent.tail)
            source = intent.source or rec.source
            keep[source].append(iid)
            plan.nodes.setdefault(iid, NodePlan(iid, intent.relation, intent.text, intent.tail))
            edge = EdgePlan(rec.id, intent.relation, iid, intent.text, intent.label,
                            intent.label_votes, source, intent.model, intent.prompt_version)
            if (earlier := edges.get((intent.relation, iid))) is not None:
                edge = merged(earlier, edge)
            edges[(intent.relation, iid)] = edge
        plan.edges.extend(edges.values())
        plan.prunes.extend({"post": rec.id, "source": src, "keep": ids} for src, ids in keep.items())
        if rec.key_info is not None:
            linked: set[tuple[KeyInfoKind, str]] = set()
            for kind, display in rec.key_info.items():
                name = normalise(display)
                if name and (kind, name) not in linked:
                    linked.add((kind, name))
                    plan.key_links.append(KeyLink(rec.id, kind, name, display))
    return plan


# --- refusals -------------------------------------------------------------------------------

class SystemicRefusal(Exception):
    """The graph or the embedder refused a batch for a reason that is not its records'."""


def systemic_code(exc: BaseException) -> str | None:
    """The code of a graph refusal that is about the server, its access rules or miko itself."""
    if isinstance(exc, Neo4jError) and exc.code and exc.code.startswith(SYSTEMIC_CODES):
        return exc.code
    return None


def about_the_records(exc: BaseException) -> bool:
    """Whether a batch's failure may be its records' fault, so that splitting the batch finds
    them: a refusal by the graph (other than a systemic one) or the embedder, or anything raised
    while a record's rows were made or sent (a value the driver cannot pack, a bug a record
    triggers). Not: connectivity (the driver's errors, transient errors), systemic refusals,
    miko's own errors about its set-up, or interrupts."""
    if not isinstance(exc, Exception) or isinstance(exc, SystemicRefusal):
        return False
    if isinstance(exc, Neo4jError):
        return isinstance(exc, ClientError | DatabaseError) and systemic_code(exc) is None
    if isinstance(exc, EmbeddingInputError):
        return True
    return not isinstance(exc, DriverError | KGBuilderError)


def refusal_of(exc: BaseException) -> tuple[str, str]:
    """(code, reason) of a record's refusal, for its rejection and the systemic check."""
    if isinstance(exc, Neo4jError):
        return exc.code or type(exc).__name__, exc.message or str(exc)
    if isinstance(exc, EmbeddingInputError):
        return type(exc).__name__, str(exc)
    return type(exc).__name__, f"{type(exc).__name__}: {exc}"


def isolate(records: list[PostRecord], attempt: Callable[[list[PostRecord]], None],
            rejected: list[Rejection], refused_by: str) -> list[tuple[str, str]]:
    """Run ``attempt`` on the batch; when it fails for a reason about the records, split the
    batch until the records at fault are found, reject those (where they came from, and why:
    "refused by ``refused_by``") and run the rest. A systemic graph refusal stops the load
    (``SystemicRefusal``); other failures are raised as they are. Returns (code, reason) of
    each refusal."""
    try:
        attempt(records)
    except Exception as exc:
        code, reason = refusal_of(exc)
        if systemic_code(exc) is not None:
            raise SystemicRefusal(f"the graph refused the load ({code}: {reason[:300]})") from exc
        if not about_the_records(exc):
            raise
        if len(records) == 1:
            where = records[0].origin or Origin(file="input")
            rejected.append(Rejection(**where.model_dump(), reason=(
                f"post {records[0].id!r} refused by {refused_by}: {reason[:300]}")))
            return [(code, reason)]
        middle = len(records) // 2
        return (isolate(records[:middle], attempt, rejected, refused_by)
                + isolate(records[middle:], attempt, rejected, refused_by))
    return []


def refused_alike(records: list[PostRecord], refusals: list[tuple[str, str]]) -> str:
    """When every record of a batch was refused for the same reason it is not the data's
    fault: the reason (empty when it may be the records')."""
    if len(records) > 1 and len(refusals) == len(records) and len({c for c, _ in refusals}) == 1:
        code, reason = refusals[0]
        return (f"every one of the {len(records)} posts of a batch was refused for the same "
                f"reason, so it is not about the data ({code}: {reason[:300]})")
    return ""


def embed_checked(embedder: Embedder, texts: list[str]) -> Any:
    """The texts' vectors; EmbeddingInputError when the tokenizer or the model refuses them."""
    try:
        return embedder.embed(texts)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise EmbeddingInputError(f"the embedder refused the text: {type(exc).__name__}: "
                                  f"{str(exc)[:200]}") from exc


def chunks(items: Iterable[ReadItem], size: int) -> Iterator[list[ReadItem]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
