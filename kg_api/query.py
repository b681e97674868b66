"""The root query: lookups, pages, vector search, similarity and aggregates."""

from __future__ import annotations

import strawberry

from kg_api.context import Ctx
from kg_api.inputs import (
    PostFilter,
    check_text,
    check_typicality,
    decode_cursor,
    key_filter,
    lucene_terms,
)
from kg_api.selection import prefetched_links, wants
from kg_api.types import (
    Connection,
    Intention,
    IntentionHit,
    KeyInfo,
    KeyInfoKind,
    Post,
    PostHit,
    Relation,
    RelationStat,
    TopIntention,
    connection,
    post_connection,
    post_connection_with_links,
    similar_intentions,
    similar_posts,
)
from kg_builder.core.key_info import KeyInfoKind as KeyInfoKindEnum
from kg_builder.core.relations import Relation as RelationEnum


@strawberry.type
class Query:
    @strawberry.field(description="A post by id, or null.")
    async def post(self, info: Ctx, id: strawberry.ID) -> Post | None:
        row = await info.context.repo.post(str(id))
        return Post.from_row(row) if row else None

    @strawberry.field(description="Posts ordered by id, filtered, Relay-paginated.")
    async def posts(self, info: Ctx, filter: PostFilter | None = None, first: int = 20,
                    after: str | None = None) -> Connection[Post]:
        ctx = info.context
        limit = ctx.cap("first", first)
        f = filter or PostFilter()
        key_info = f.key_info()
        text = lucene_terms(check_text(f.text)) if f.text is not None else None
        total = await ctx.repo.posts_count(text=text, source=f.source, has_image=f.has_image,
                                           key_info=key_info) if wants(info, "totalCount") else None
        links = prefetched_links(info)
        if links is not None:  # the page and its posts' intentions in one statement
            with_links = await ctx.repo.posts_page_with_links(
                after=decode_cursor(after), limit=limit + 1, text=text, source=f.source,
                has_image=f.has_image, key_info=key_info, links=links)
            return post_connection_with_links(with_links, limit, total)
        rows = await ctx.repo.posts_page(after=decode_cursor(after), limit=limit + 1, text=text,
                                         source=f.source, has_image=f.has_image, key_info=key_info)
        return post_connection(rows, limit, total)

    @strawberry.field(description="An intention by id, or null.")
    async def intention(self, info: Ctx, id: strawberry.ID) -> Intention | None:
        row = await info.context.repo.intention(str(id))
        return Intention.from_row(row) if row else None

    @strawberry.field(description="Intentions ordered by id, optionally of one relation.")
    async def intentions(self, info: Ctx, relation: Relation | None = None,  # type: ignore[valid-type]
                         first: int = 20, after: str | None = None) -> Connection[Intention]:
        ctx = info.context
        limit = ctx.cap("first", first)
        rel = RelationEnum(relation) if relation is not None else None
        rows = await ctx.repo.intentions_page(rel, decode_cursor(after), limit + 1)
        total = await ctx.repo.intentions_count(rel) if wants(info, "totalCount") else None
        return connection(rows, limit, total, Intention.from_row, lambda r: r.id)

    @strawberry.field(description="Intentions nearest to a text (cosine); with `relation`, all "
                      "k hits have that relation; with `minTypicality`, only intentions at or "
                      "above it. Filters apply inside the vector index: k hits whenever k "
                      "intentions match. With key information (`concept`, `action`, `object`, "
                      "`emotion`, `keyword`: intentions of the posts that have it), the search "
                      "is exact over those intentions, refused beyond MIKO_API_KEY_INFO_SCAN_MAX "
                      "of them.")
    async def search_intentions(self, info: Ctx, text: str,
                                relation: Relation | None = None,  # type: ignore[valid-type]
                                k: int = 10, min_score: float = 0.0,
                                min_typicality: float | None = None,
                                concept: str | None = None, action: str | None = None,
                                object: str | None = None, emotion: str | None = None,
                                keyword: str | None = None) -> list[IntentionHit]:
        ctx = info.context
        low = check_typicality(min_typicality)
        key_info = key_filter(concept=concept, action=action, object=object, emotion=emotion,
                              keyword=keyword)
        vector = await ctx.embed(check_text(text))
        rel = RelationEnum(relation) if relation is not None else None
        if key_info:
            rows = await ctx.repo.search_intentions_by_key_info(
                vector, key_info, rel, ctx.cap("k", k), min_score, low,
                ctx.settings.api_key_info_scan_max)
        else:
            rows = await ctx.repo.search_intentions(vector, rel, ctx.cap("k", k), min_score, low)
        return [IntentionHit.from_row(r) for r in rows]

    @strawberry.field(description="Intentions nearest to a given intention, itself excluded.")
    async def similar_intentions(self, info: Ctx, id: strawberry.ID, k: int = 10,
                                 same_relation: bool = True,
                                 min_typicality: float | None = None) -> list[IntentionHit]:
        row = await info.context.repo.intention(str(id))
        if row is None:
            return []
        return await similar_intentions(info.context, row.id,
                                        row.relation if same_relation else None, k,
                                        min_typicality)

    @strawberry.field(description="Posts nearest to a text (cosine of text embeddings); "
                      "`source`, `split` and `hasImage` keep only the posts that match, inside "
                      "the vector index (k hits whenever k posts match); with key information "
                      "(`concept` ... `keyword`) the search is exact over the posts that have "
                      "it, refused beyond MIKO_API_KEY_INFO_SCAN_MAX of them.")
    async def search_posts(self, info: Ctx, text: str, k: int = 10, min_score: float = 0.0,
                           source: str | None = None, split: str | None = None,
                           has_image: bool | None = None, concept: str | None = None,
                           action: str | None = None, object: str | None = None,
                           emotion: str | None = None,
                           keyword: str | None = None) -> list[PostHit]:
        ctx = info.context
        key_info = key_filter(concept=concept, action=action, object=object, emotion=emotion,
                              keyword=keyword)
        vector = await ctx.embed(check_text(text))
        filters: dict[str, str | bool] = {
            name: value for name, value in (("source", source), ("split", split),
                                            ("has_image", has_image)) if value is not None}
        if key_info:
            rows = await ctx.repo.search_posts_by_key_info(
                vector, key_info, ctx.cap("k", k), min_score, filters,
                ctx.settings.api_key_info_scan_max)
            return [PostHit.from_row(r) for r in rows]
        rows = await ctx.repo.search_posts(vector, ctx.cap("k", k), min_score, filters)
        return [PostHit.from_row(r) for r in rows]

    @strawberry.field(description="Posts most similar to a given post, itself excluded.")
    async def similar_posts(self, info: Ctx, id: strawberry.ID, k: int = 10) -> list[PostHit]:
        return await similar_posts(info.context, str(id), k)

    @strawberry.field(description="A piece of key information by kind and name, or null.")
    async def key_info(self, info: Ctx, kind: KeyInfoKind, name: str) -> KeyInfo | None:  # type: ignore[valid-type]
        kind_enum = KeyInfoKindEnum(kind)
        norm = key_filter(**{kind_enum.value: name})[kind_enum]
        row = await info.context.repo.key_info_node(kind_enum, norm)
        return KeyInfo.from_row(row) if row else None

    @strawberry.field(description="Intention nodes, edges and posts per relation.")
    async def relation_stats(self, info: Ctx) -> list[RelationStat]:
        return [RelationStat(relation=r.relation, intentions=r.intentions, edges=r.edges,
                             posts=r.posts) for r in await info.context.repo.relation_stats()]

    @strawberry.field(description="Intentions of a relation shared by the most posts, optionally "
                      "among posts with the given key information.")
    async def top_intentions(self, info: Ctx, relation: Relation,  # type: ignore[valid-type]
                             emotion: str | None = None, keyword: str | None = None,
                             concept: str | None = None, k: int = 10,
                             min_typicality: float | None = None) -> list[TopIntention]:
        ctx = info.context
        key_info = key_filter(emotion=emotion, keyword=keyword, concept=concept)
        rows = await ctx.repo.top_intentions(RelationEnum(relation), key_info, ctx.cap("k", k),
                                             check_typicality(min_typicality))
        return [TopIntention(posts=r.posts, intention=Intention.from_row(r.intention)) for r in rows]
