"""Async, read-only access to the intention graph, returning typed rows.

Every Cypher call of the API goes through ``GraphRepository.read``; the statements come from
``kg_builder.graph.queries`` and the rows are the types of ``kg_builder.graph.rows``. Batch
methods (for the dataloaders) take a list of keys and return one result per key, in order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import neo4j
from neo4j import AsyncDriver
from neo4j.exceptions import (
    ClientError,
    DatabaseUnavailable,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
)

from kg_api.errors import BadInputError, GraphUnavailableError, RequestTimeoutError
from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import Relation
from kg_builder.graph.queries import admin
from kg_builder.graph.queries import read as q
from kg_builder.graph.queries.write import Rows
from kg_builder.graph.rows import (
    ImageRow,
    IntentionHitRow,
    IntentionLinkRow,
    IntentionRow,
    KeyInfoRow,
    PostHitRow,
    PostRow,
    RelationStatRow,
    TopIntentionRow,
)

PostsOfKey = tuple[str, str | None, int]  # intention id, cursor, limit
SimilarIntentionsKey = tuple[str, Relation | None, int, float | None]  # id, scope, k, min typicality


@dataclass(frozen=True, slots=True)
class LinkProjection:
    """Which properties of a post's intention edges a query sends (see
    ``queries.read.intentions_of_posts``); the rows' other fields are then absent (None, or ""
    for the intention's text and tail), so only what the caller asked for may be read."""

    edge: frozenset[str] = frozenset(q.LINK_EDGE_PROPS)
    node: frozenset[str] = frozenset(q.LINK_NODE_PROPS)
    edge_text: bool = True


ALL_OF_LINKS = LinkProjection()
# (post, relation, min typicality, benchmark label, min human score, human label, projection)
PostIntentionsKey = tuple[str, Relation | None, float | None, int | None, float | None, int | None,
                          LinkProjection]
def candidates_for(k: int, candidates: int) -> int:
    """How many neighbours to ask of a vector index for the best ``k``: at least ``candidates``
    (HNSW's search beam: recall rises with it, BENCHMARKS.md). Filters are applied inside the
    index, so a filtered search needs no more."""
    return max(k, candidates)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a shielded query's exception as seen when nobody awaits it any more."""
    if not task.cancelled():
        task.exception()


def _key_params(key_info: dict[KeyInfoKind, str]) -> dict[str, str]:
    return {f"key_{kind.value}": name for kind, name in key_info.items()}


class GraphRepository:
    """Runs the API's Cypher in read transactions with a server-side time limit.

    ``round_trips`` counts the statements sent, so tests can assert that nested fields are
    batched.
    """

    def __init__(self, driver: AsyncDriver, database: str, timeout_s: float,
                 candidates: int) -> None:
        self.driver = driver
        self.database = database
        self.timeout_s = timeout_s
        self.candidates = candidates  # MIKO_API_SEARCH_CANDIDATES: one default, in Settings
        self.round_trips = 0

    async def read(self, statement: str, **params: Any) -> list[dict[str, Any]]:
        self.round_trips += 1
        try:
            # Shielded: when a request is cancelled (time limit, or GraphQL abandoning a sibling
            # field after an error), the query still finishes inside the driver, so its
            # connection goes back to the pool instead of being dropped mid-message (the async
            # driver then leaks the socket). Neo4j's transaction timeout bounds that work.
            query = asyncio.ensure_future(self.driver.execute_query(
                neo4j.Query(statement, timeout=self.timeout_s), params,
                database_=self.database, routing_=neo4j.RoutingControl.READ,
            ))
            query.add_done_callback(_retrieve)
            records, _, _ = await asyncio.shield(query)
        except (ServiceUnavailable, SessionExpired, DatabaseUnavailable, OSError) as exc:
            raise GraphUnavailableError("the graph database does not answer; retry later") from exc
        except ClientError as exc:
            code = exc.code or ""
            if "TransactionTimedOut" in code or "Terminated" in code:
                raise RequestTimeoutError(
                    f"the query ran past the time limit of {self.timeout_s:g}s") from exc
            if "Schema.IndexNotFound" in code or (
                    "Procedure.ProcedureCallFailed" in code and "index" in (exc.message or "").lower()):
                raise GraphUnavailableError(
                    "a vector index is not online yet (is a load rebuilding it?); retry later"
                ) from exc
            raise
        except Neo4jError as exc:
            if "TransactionTimedOut" in (exc.code or ""):
                raise RequestTimeoutError(
                    f"the query ran past the time limit of {self.timeout_s:g}s") from exc
            raise
        return [dict(r) for r in records]

    # -- nodes -----------------------------------------------------------------------------
    async def post(self, post_id: str) -> PostRow | None:
        rows = await self.read(q.posts_by_ids(), ids=[post_id])
        return PostRow.from_map(rows[0]["post"]) if rows else None

    async def intention(self, intention_id: str) -> IntentionRow | None:
        rows = await self.read(q.intentions_by_ids(), ids=[intention_id])
        return IntentionRow.from_map(rows[0]["intention"]) if rows else None

    async def key_info_node(self, kind: KeyInfoKind, name: str) -> KeyInfoRow | None:
        rows = await self.read(q.key_info_node(kind), name=name)
        return KeyInfoRow.from_map(rows[0]["k"], kind) if rows else None

    # -- pages -------------------------------------------------------------------------------
    async def posts_page(
        self, *, after: str | None, limit: int, text: str | None, source: str | None,
        has_image: bool | None, key_info: dict[KeyInfoKind, str],
    ) -> list[PostRow]:
        stmt = q.posts_page(text=text is not None, source=source is not None,
                            has_image=has_image, key_kinds=sorted(key_info), after=after is not None)
        rows = await self.read(stmt, after=after, limit=limit, text=text, source=source,
                               **_key_params(key_info))
        return [PostRow.from_map(r["post"]) for r in rows]

    async def posts_page_with_links(
        self, *, after: str | None, limit: int, text: str | None, source: str | None,
        has_image: bool | None, key_info: dict[KeyInfoKind, str], links: LinkProjection,
    ) -> list[tuple[PostRow, list[IntentionLinkRow]]]:
        """``posts_page`` and each post's intention links (unfiltered), in one statement."""
        stmt = q.with_links(
            q.posts_page(text=text is not None, source=source is not None, has_image=has_image,
                         key_kinds=sorted(key_info), after=after is not None),
            links.edge, links.node, links.edge_text)
        rows = await self.read(stmt, after=after, limit=limit, text=text, source=source,
                               **_key_params(key_info))
        return [(PostRow.from_map(r["post"]), [IntentionLinkRow.from_map(m) for m in r["links"]])
                for r in rows]

    async def posts_count(
        self, *, text: str | None, source: str | None, has_image: bool | None,
        key_info: dict[KeyInfoKind, str],
    ) -> int:
        stmt = q.posts_count(text=text is not None, source=source is not None,
                             has_image=has_image, key_kinds=sorted(key_info))
        rows = await self.read(stmt, text=text, source=source, **_key_params(key_info))
        return int(rows[0]["n"])

    async def intentions_page(
        self, relation: Relation | None, after: str | None, limit: int
    ) -> list[IntentionRow]:
        rows = await self.read(q.intentions_page(relation, after is not None), after=after,
                               limit=limit, prefix=f"{relation.value}:" if relation else None)
        return [IntentionRow.from_map(r["intention"]) for r in rows]

    async def intentions_count(self, relation: Relation | None) -> int:
        rows = await self.read(q.intentions_count(relation))
        return int(rows[0]["n"])

    async def posts_of_key_info(
        self, kind: KeyInfoKind, name: str, after: str | None, limit: int
    ) -> list[PostRow]:
        rows = await self.read(q.posts_of_key_info(kind), name=name, after=after, limit=limit)
        return [PostRow.from_map(r["post"]) for r in rows]

    async def count_posts_of_key_info(self, kind: KeyInfoKind, name: str) -> int:
        rows = await self.read(q.count_posts_of_key_info(kind), name=name)
        return int(rows[0]["n"])

    # -- batched nested fields: one result per key, in order ----------------------------------
    async def intentions_of_posts(
        self, keys: list[PostIntentionsKey]
    ) -> list[list[IntentionLinkRow]]:
        found: dict[PostIntentionsKey, list[IntentionLinkRow]] = {}
        for projection in dict.fromkeys(k[6] for k in keys):  # one statement per projection
            stmt = q.intentions_of_posts(projection.edge, projection.node, projection.edge_text)
            rows = await self.read(stmt, keys=Rows(
                {"post": post, "type": rel.rel_type if rel else None, "min_typicality": low,
                 "label": label, "min_human": human, "human_label": human_label}
                for post, rel, low, label, human, human_label, p in keys if p == projection))
            types = {r.rel_type: r for r in Relation}
            for r in rows:
                rel = types.get(r["type"]) if r["type"] is not None else None
                found[(r["post"], rel, r["min_typicality"], r["label"], r["min_human"],
                       r["human_label"], projection)] = [
                    IntentionLinkRow.from_map(link) for link in r["links"]]
        return [found.get(key, []) for key in keys]

    async def key_info_of_posts(self, ids: list[str]) -> list[list[KeyInfoRow]]:
        rows = await self.read(q.key_info_of_posts(), ids=ids)
        found = {r["id"]: r["items"] for r in rows}
        return [[KeyInfoRow.from_map(item) for item in found.get(i, [])] for i in ids]

    async def images_of_posts(self, ids: list[str]) -> list[ImageRow | None]:
        rows = await self.read(q.images_of_posts(), ids=ids)
        found = {r["id"]: r["image"] for r in rows}
        return [ImageRow.from_map(found[i]) if i in found else None for i in ids]

    async def posts_of_intentions(self, keys: list[PostsOfKey]) -> list[list[PostRow]]:
        rows = await self.read(q.posts_of_intentions(), keys=Rows(
            {"id": i, "after": a, "limit": n} for i, a, n in keys))
        found = {(r["id"], r["after"], r["limit"]): r["posts"] for r in rows}
        return [[PostRow.from_map(p) for p in found.get(k, [])] for k in keys]

    async def posts_of_intentions_count(self, ids: list[str]) -> list[int]:
        rows = await self.read(q.posts_of_intentions_count(), ids=ids)
        found = {r["id"]: int(r["n"]) for r in rows}
        return [found.get(i, 0) for i in ids]

    async def similar_intentions(
        self, keys: list[SimilarIntentionsKey]
    ) -> list[list[IntentionHitRow]]:
        """One statement per filter shape (same relation or not, a typicality floor or not),
        each for all of its keys; the index returns the nearest that match the filters."""
        shapes: dict[tuple[bool, bool], list[SimilarIntentionsKey]] = {}
        for key in keys:
            shapes.setdefault((key[1] is not None, key[3] is not None), []).append(key)
        found: dict[tuple[bool, str, int, float | None], Any] = {}
        for (same, typical), group in shapes.items():
            rows = await self.read(
                q.similar_intentions(same, typical),
                fetch=max(candidates_for(k, self.candidates) for _, _, k, _ in group) + 1,
                keys=Rows({"id": i, "k": k, "min_typicality": low} for i, _, k, low in group))
            found.update(((same, r["id"], r["k"], r["min_typicality"]), r["hits"]) for r in rows)
        return [[IntentionHitRow.from_map(h) for h in found.get((rel is not None, i, k, low), [])]
                for i, rel, k, low in keys]

    async def similar_posts(self, keys: list[tuple[str, int]]) -> list[list[PostHitRow]]:
        rows = await self.read(
            q.similar_posts(), keys=Rows({"id": i, "k": k} for i, k in keys),
            fetch=max((candidates_for(k, self.candidates) for _, k in keys), default=1) + 1)
        found = {(r["id"], r["k"]): r["hits"] for r in rows}
        return [[PostHitRow.from_map(h) for h in found.get(key, [])] for key in keys]

    # -- vector search ---------------------------------------------------------------------------
    async def search_intentions(
        self, vector: list[float], relation: Relation | None, k: int, min_score: float,
        min_typicality: float | None = None,
    ) -> list[IntentionHitRow]:
        rows = await self.read(q.search_intentions(relation is not None, min_typicality is not None),
                               vector=vector, k=k, fetch=candidates_for(k, self.candidates),
                               min_score=min_score, min_typicality=min_typicality,
                               relation=relation.value if relation is not None else None)
        return [IntentionHitRow.from_map(r) for r in rows]

    async def search_intentions_by_key_info(
        self, vector: list[float], key_info: dict[KeyInfoKind, str], relation: Relation | None,
        k: int, min_score: float, min_typicality: float | None, cap: int,
    ) -> list[IntentionHitRow]:
        """Exact search among the intentions of the posts with the key information; refused
        (BadInputError) when more than ``cap`` intentions match."""
        kinds = list(key_info)
        params = {**_key_params(key_info), "min_typicality": min_typicality,
                  "relation": relation.value if relation is not None else None}
        shape = (kinds, relation is not None, min_typicality is not None)
        counted = await self.read(q.count_intentions_by_key_info(*shape), cap=cap + 1, **params)
        if int(counted[0]["n"]) > cap:
            raise BadInputError(
                f"the key information matches more than {cap:,} intentions, more than an exact "
                "search scores (MIKO_API_KEY_INFO_SCAN_MAX): add a relation, a typicality floor "
                "or another piece of key information")
        rows = await self.read(q.search_intentions_by_key_info(*shape), vector=vector, k=k,
                               min_score=min_score, **params)
        return [IntentionHitRow.from_map(r) for r in rows]

    async def search_posts_by_key_info(
        self, vector: list[float], key_info: dict[KeyInfoKind, str], k: int, min_score: float,
        filters: dict[str, str | bool], cap: int,
    ) -> list[PostHitRow]:
        kinds = list(key_info)
        params = {**_key_params(key_info), **filters}
        counted = await self.read(q.count_posts_by_key_info(kinds, filters), cap=cap + 1, **params)
        if int(counted[0]["n"]) > cap:
            raise BadInputError(
                f"the key information matches more than {cap:,} posts, more than an exact search "
                "scores (MIKO_API_KEY_INFO_SCAN_MAX): add another filter")
        rows = await self.read(q.search_posts_by_key_info(kinds, filters), vector=vector, k=k,
                               min_score=min_score, **params)
        return [PostHitRow.from_map(r) for r in rows]

    async def search_posts(self, vector: list[float], k: int, min_score: float,
                           filters: dict[str, str | bool] | None = None) -> list[PostHitRow]:
        """``filters``: those of source, split and has_image to match exactly."""
        chosen = filters or {}
        rows = await self.read(q.search_posts(chosen), vector=vector, k=k,
                               fetch=candidates_for(k, self.candidates), min_score=min_score,
                               **chosen)
        return [PostHitRow.from_map(r) for r in rows]

    # -- aggregates --------------------------------------------------------------------------------
    async def relation_stats(self) -> list[RelationStatRow]:
        out = []
        for rel in Relation:
            row = (await self.read(q.relation_stats(rel)))[0]
            out.append(RelationStatRow(relation=rel, intentions=row["intentions"],
                                       edges=row["edges"], posts=row["posts"]))
        return out

    async def top_intentions(
        self, relation: Relation, key_info: dict[KeyInfoKind, str], k: int,
        min_typicality: float | None = None,
    ) -> list[TopIntentionRow]:
        rows = await self.read(
            q.top_intentions(relation, sorted(key_info), min_typicality is not None), k=k,
            min_typicality=min_typicality, **_key_params(key_info))
        return [TopIntentionRow.from_map(r) for r in rows]

    # -- health ------------------------------------------------------------------------------------
    async def recorded_embedding_model(self) -> tuple[str, int] | None:
        rows = await self.read(admin.read_embedding_meta())
        return (rows[0]["model"], rows[0]["dimension"]) if rows else None

    async def index_states(self) -> list[dict[str, Any]]:
        return await self.read(admin.index_states())
