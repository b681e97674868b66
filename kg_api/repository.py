"""Async, read-only access to the intention graph. Every Cypher call goes through ``read``."""

from __future__ import annotations

from typing import Any

import neo4j
from neo4j import AsyncDriver
from neo4j.exceptions import ClientError, Neo4jError, ServiceUnavailable, SessionExpired

from kg_api import queries as q
from kg_api.errors import GraphUnavailableError, RequestTimeoutError
from kg_builder.graph import vector_index_for
from kg_builder.queries import Rows
from kg_builder.relations import Relation


class GraphRepository:
    """Runs the API's Cypher in read transactions with a server-side time limit.

    ``round_trips`` counts the statements sent, so tests can assert that nested fields are
    batched.
    """

    def __init__(self, driver: AsyncDriver, database: str, timeout_s: float) -> None:
        self.driver = driver
        self.database = database
        self.timeout_s = timeout_s
        self.round_trips = 0

    async def read(self, statement: str, **params: Any) -> list[dict[str, Any]]:
        self.round_trips += 1
        try:
            records, _, _ = await self.driver.execute_query(
                neo4j.Query(statement, timeout=self.timeout_s), params,
                database_=self.database, routing_=neo4j.RoutingControl.READ,
            )
        except (ServiceUnavailable, SessionExpired, OSError) as exc:
            raise GraphUnavailableError("the graph database does not answer; retry later") from exc
        except ClientError as exc:
            code = exc.code or ""
            if "TransactionTimedOut" in code or "Terminated" in code:
                raise RequestTimeoutError(
                    f"the query ran past the time limit of {self.timeout_s:g}s") from exc
            if "Procedure.ProcedureCallFailed" in code and "index" in (exc.message or "").lower():
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
    async def posts_by_ids(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        rows = await self.read(q.posts_by_ids(), ids=ids)
        return {r["post"]["id"]: r["post"] for r in rows}

    async def intentions_by_ids(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        rows = await self.read(q.intentions_by_ids(), ids=ids)
        return {r["intention"]["id"]: r["intention"] for r in rows}

    # -- pages -------------------------------------------------------------------------------
    async def posts_page(
        self, *, after: str | None, limit: int, text: str | None, source: str | None,
        has_image: bool | None, key_info: dict[str, str],
    ) -> list[dict[str, Any]]:
        kinds = sorted(key_info)
        stmt = q.posts_page(text=text is not None, source=source is not None,
                            has_image=has_image, key_kinds=kinds, after=after is not None)
        params = {f"key_{k}": v for k, v in key_info.items()}
        rows = await self.read(stmt, after=after, limit=limit, text=text, source=source, **params)
        return [r["post"] for r in rows]

    async def posts_count(
        self, *, text: str | None, source: str | None, has_image: bool | None,
        key_info: dict[str, str],
    ) -> int:
        kinds = sorted(key_info)
        stmt = q.posts_count(text=text is not None, source=source is not None,
                             has_image=has_image, key_kinds=kinds)
        params = {f"key_{k}": v for k, v in key_info.items()}
        rows = await self.read(stmt, text=text, source=source, **params)
        return int(rows[0]["n"])

    async def intentions_page(
        self, relation: Relation | None, after: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self.read(q.intentions_page(relation, after is not None), after=after,
                               limit=limit, prefix=f"{relation.value}:" if relation else None)
        return [r["intention"] for r in rows]

    async def intentions_count(self, relation: Relation | None) -> int:
        rows = await self.read(q.intentions_count(relation))
        return int(rows[0]["n"])

    # -- batched nested fields -----------------------------------------------------------------
    async def intentions_of_posts(
        self, keys: list[tuple[str, Relation | None]]
    ) -> dict[tuple[str, str | None], list[dict[str, Any]]]:
        rows = await self.read(q.intentions_of_posts(), keys=Rows(
            {"post": post, "type": rel.rel_type if rel else None} for post, rel in keys))
        return {(r["post"], r["type"]): r["links"] for r in rows}

    async def key_info_of_posts(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        rows = await self.read(q.key_info_of_posts(), ids=ids)
        return {r["id"]: r["items"] for r in rows}

    async def images_of_posts(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        rows = await self.read(q.images_of_posts(), ids=ids)
        return {r["id"]: r["image"] for r in rows}

    async def posts_of_intentions(
        self, keys: list[tuple[str, str | None, int]]
    ) -> dict[tuple[str, str | None, int], list[dict[str, Any]]]:
        rows = await self.read(q.posts_of_intentions(), keys=Rows(
            {"id": i, "after": a, "limit": n} for i, a, n in keys))
        return {(r["id"], r["after"], r["limit"]): r["posts"] for r in rows}

    async def posts_of_intentions_count(self, ids: list[str]) -> dict[str, int]:
        rows = await self.read(q.posts_of_intentions_count(), ids=ids)
        return {r["id"]: int(r["n"]) for r in rows}

    async def posts_of_key_info(
        self, kind: str, name: str, after: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self.read(q.posts_of_key_info(kind), name=name, after=after, limit=limit)
        return [r["post"] for r in rows]

    async def count_posts_of_key_info(self, kind: str, name: str) -> int:
        rows = await self.read(q.count_posts_of_key_info(kind), name=name)
        return int(rows[0]["n"])

    async def key_info_node(self, kind: str, name: str) -> dict[str, Any] | None:
        rows = await self.read(q.key_info_node(kind), name=name)
        return rows[0]["k"] if rows else None

    # -- vector search ---------------------------------------------------------------------------
    async def search_intentions(
        self, vector: list[float], relation: Relation | None, k: int, min_score: float
    ) -> list[dict[str, Any]]:
        return await self.read(q.search_intentions(relation), vector=vector, k=k,
                               min_score=min_score)

    async def similar_intentions(
        self, keys: list[tuple[str, Relation | None, int]]
    ) -> dict[tuple[str, str, int], list[dict[str, Any]]]:
        rows = await self.read(q.similar_intentions(), keys=Rows(
            {"id": i, "index": vector_index_for(rel), "k": k} for i, rel, k in keys))
        return {(r["id"], r["index"], r["k"]): r["hits"] for r in rows}

    async def search_posts(self, vector: list[float], k: int, min_score: float) -> list[dict[str, Any]]:
        return await self.read(q.search_posts(), vector=vector, k=k, min_score=min_score)

    async def similar_posts(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
        rows = await self.read(q.similar_posts(), keys=Rows({"id": i, "k": k} for i, k in keys))
        return {(r["id"], r["k"]): r["hits"] for r in rows}

    # -- aggregates --------------------------------------------------------------------------------
    async def relation_stats(self) -> list[dict[str, Any]]:
        out = []
        for rel in Relation:
            rows = await self.read(q.relation_stats(rel))
            out.append({"relation": rel, **rows[0]})
        return out

    async def top_intentions(
        self, relation: Relation, key_info: dict[str, str], k: int
    ) -> list[dict[str, Any]]:
        kinds = sorted(key_info)
        params = {f"key_{kind}": v for kind, v in key_info.items()}
        return await self.read(q.top_intentions(relation, kinds), k=k, **params)

    async def index_states(self) -> list[dict[str, Any]]:
        return await self.read(q.index_states())
