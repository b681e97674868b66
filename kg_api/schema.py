"""The GraphQL schema (strawberry): types, queries, batching and limits.

``schema/schema.graphql`` is this schema printed by ``miko api schema``; a test fails when the
two drift apart.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.dataloader import DataLoader
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import Info

from kg_api.embedding import QueryEmbedder
from kg_api.errors import BadInputError, KGApiError
from kg_api.repository import GraphRepository
from kg_builder.relations import Relation as RelationEnum
from kg_builder.settings import Settings

log = logging.getLogger("kg_api")

Relation = strawberry.enum(RelationEnum, name="Relation",
                           description="The nine ATOMIC relations and MIKO's Open relation.")


@strawberry.enum(description="Kinds of key information extracted from a post.")
class KeyInfoKind(Enum):
    CONCEPT = "concept"
    ACTION = "action"
    OBJECT = "object"
    EMOTION = "emotion"
    KEYWORD = "keyword"


LABEL_TO_KIND = {"Concept": "concept", "Action": "action", "Object": "object",
                 "Emotion": "emotion", "Keyword": "keyword"}


# --- context and batching ------------------------------------------------------------------

@dataclass
class Context:
    """Per-request state: repository, embedder, settings and the request's dataloaders."""

    repo: GraphRepository
    embedder: QueryEmbedder
    settings: Settings
    loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        repo = self.repo

        async def intentions(keys: list[tuple[str, RelationEnum | None]]) -> list[Any]:
            found = await repo.intentions_of_posts(keys)
            return [found.get((p, r.rel_type if r else None), []) for p, r in keys]

        async def key_info(ids: list[str]) -> list[Any]:
            found = await repo.key_info_of_posts(ids)
            return [found.get(i, []) for i in ids]

        async def images(ids: list[str]) -> list[Any]:
            found = await repo.images_of_posts(ids)
            return [found.get(i) for i in ids]

        async def posts_of(keys: list[tuple[str, str | None, int]]) -> list[Any]:
            found = await repo.posts_of_intentions(keys)
            return [found.get(k, []) for k in keys]

        async def posts_of_count(ids: list[str]) -> list[Any]:
            found = await repo.posts_of_intentions_count(ids)
            return [found.get(i, 0) for i in ids]

        async def similar_posts(keys: list[tuple[str, int]]) -> list[Any]:
            found = await repo.similar_posts(keys)
            return [found.get(k, []) for k in keys]

        async def similar_intentions(keys: list[tuple[str, RelationEnum | None, int]]) -> list[Any]:
            from kg_builder.graph import vector_index_for

            found = await repo.similar_intentions(keys)
            return [found.get((i, vector_index_for(r), k), []) for i, r, k in keys]

        self.loaders = {
            "intentions": DataLoader(intentions),
            "key_info": DataLoader(key_info),
            "images": DataLoader(images),
            "posts_of": DataLoader(posts_of),
            "posts_of_count": DataLoader(posts_of_count),
            "similar_posts": DataLoader(similar_posts),
            "similar_intentions": DataLoader(similar_intentions),
        }

    def cap(self, name: str, value: int) -> int:
        limit = self.settings.api_max_k
        if value < 1 or value > limit:
            raise BadInputError(f"`{name}` must be between 1 and {limit} (got {value})")
        return value


Ctx = Info[Context, None]


def encode_cursor(node_id: str) -> str:
    return base64.urlsafe_b64encode(f"c:{node_id}".encode()).decode()


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadInputError(f"`after` is not a cursor returned by this API: {cursor!r}") from exc
    if not raw.startswith("c:"):
        raise BadInputError(f"`after` is not a cursor returned by this API: {cursor!r}")
    return raw[2:]


def _wants(info: Ctx, name: str) -> bool:
    return any(f.name == name for sel in info.selected_fields for f in sel.selections
               if hasattr(f, "name"))


# --- types ---------------------------------------------------------------------------------

@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Image:
    id: strawberry.ID
    file: str | None
    sha256: str | None
    description: str | None


@strawberry.interface(description="A piece of key information shared by posts.")
class KeyInfo:
    name: str = strawberry.field(description="Normalised name (the key).")
    display: str | None = strawberry.field(description="The name as first extracted.")

    @strawberry.field(description="concept, action, object, emotion or keyword")
    def kind(self) -> KeyInfoKind:
        return KeyInfoKind(LABEL_TO_KIND[type(self).__name__])

    @strawberry.field(description="Posts that share this key information, ordered by id.")
    async def posts(self, info: Ctx, first: int = 20, after: str | None = None) -> PostConnection:
        ctx = info.context
        kind = LABEL_TO_KIND[type(self).__name__]
        limit = ctx.cap("first", first)
        rows = await ctx.repo.posts_of_key_info(kind, self.name, decode_cursor(after), limit + 1)
        total = None
        if _wants(info, "totalCount"):
            total = await ctx.repo.count_posts_of_key_info(kind, self.name)
        return PostConnection.build(rows, limit, total)


@strawberry.type
class Concept(KeyInfo):
    pass


@strawberry.type
class Action(KeyInfo):
    pass


@strawberry.type(name="Object")
class ObjectInfo(KeyInfo):
    pass


@strawberry.type
class Emotion(KeyInfo):
    pass


@strawberry.type
class Keyword(KeyInfo):
    pass


KEY_INFO_TYPES: dict[str, type[KeyInfo]] = {
    "Concept": Concept, "Action": Action, "Object": ObjectInfo, "Emotion": Emotion,
    "Keyword": Keyword,
}


def key_info_from(label: str, name: str, display: str | None) -> KeyInfo:
    return KEY_INFO_TYPES[label](name=name, display=display)


@strawberry.type(description="An intention: one relation's sentence, shared by every post that has it.")
class Intention:
    id: strawberry.ID
    relation: Relation  # type: ignore[valid-type]
    text: str = strawberry.field(description="The full sentence, template included.")
    tail: str = strawberry.field(description="The sentence without its template prefix.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Intention:
        return cls(id=strawberry.ID(row["id"]), relation=RelationEnum(row["relation"]),
                   text=row["text"], tail=row["tail"])

    @strawberry.field(description="Posts that have this intention, ordered by id.")
    async def posts(self, info: Ctx, first: int = 20, after: str | None = None) -> PostConnection:
        ctx = info.context
        limit = ctx.cap("first", first)
        rows = await ctx.loaders["posts_of"].load((str(self.id), decode_cursor(after), limit + 1))
        total = await ctx.loaders["posts_of_count"].load(str(self.id)) if _wants(
            info, "totalCount") else None
        return PostConnection.build(rows, limit, total)

    @strawberry.field(description="The k nearest intentions (cosine), itself excluded.")
    async def similar(self, info: Ctx, k: int = 10, same_relation: bool = True) -> list[IntentionHit]:
        ctx = info.context
        rel = RelationEnum(self.relation) if same_relation else None
        hits = await ctx.loaders["similar_intentions"].load((str(self.id), rel, ctx.cap("k", k)))
        return [IntentionHit(score=h["score"], intention=Intention.from_row(h["intention"]))
                for h in hits]


@strawberry.type(description="A post's link to one of its intentions, with its provenance.")
class PostIntention:
    relation: Relation  # type: ignore[valid-type]
    text: str = strawberry.field(description="The sentence as generated for this post.")
    label: int | None = strawberry.field(description="MIKO benchmark label: 1 kept, 0 not kept.")
    label_votes: list[int] | None
    source: str | None
    model: str | None
    prompt_version: str | None
    intention: Intention


@strawberry.type
class Post:
    id: strawberry.ID
    text: str
    source: str | None
    split: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Post:
        return cls(id=strawberry.ID(row["id"]), text=row["text"], source=row.get("source"),
                   split=row.get("split"))

    @strawberry.field(description="The post's intentions, optionally of one relation.")
    async def intentions(self, info: Ctx, relation: Relation | None = None  # type: ignore[valid-type]
                         ) -> list[PostIntention]:
        rel = RelationEnum(relation) if relation is not None else None
        links = await info.context.loaders["intentions"].load((str(self.id), rel))
        out = []
        for link in links:
            edge, node = link["edge"], link["intention"]
            out.append(PostIntention(
                relation=RelationEnum(node["relation"]), text=edge.get("text") or node["text"],
                label=edge.get("label"), label_votes=edge.get("label_votes"),
                source=edge.get("source"), model=edge.get("model"),
                prompt_version=edge.get("prompt_version"), intention=Intention.from_row(node),
            ))
        return out

    @strawberry.field(description="Concept, action, object, emotion and keywords of the post.")
    async def key_info(self, info: Ctx) -> list[KeyInfo]:
        items = await info.context.loaders["key_info"].load(str(self.id))
        return [key_info_from(i["label"], i["name"], i["display"]) for i in items]

    @strawberry.field
    async def image(self, info: Ctx) -> Image | None:
        row = await info.context.loaders["images"].load(str(self.id))
        if row is None:
            return None
        return Image(id=strawberry.ID(row["id"]), file=row.get("file"), sha256=row.get("sha256"),
                     description=row.get("description"))

    @strawberry.field(description="The k most similar posts (cosine of text embeddings), itself excluded.")
    async def similar_posts(self, info: Ctx, k: int = 10) -> list[PostHit]:
        ctx = info.context
        hits = await ctx.loaders["similar_posts"].load((str(self.id), ctx.cap("k", k)))
        return [PostHit(score=h["score"], post=Post.from_row(h["post"])) for h in hits]


@strawberry.type
class PostEdge:
    cursor: str
    node: Post


@strawberry.type
class PostConnection:
    edges: list[PostEdge]
    page_info: PageInfo
    total_count: int | None = strawberry.field(
        description="Number of posts in the whole connection (counted only when asked for).")

    @classmethod
    def build(cls, rows: list[dict[str, Any]], limit: int, total: int | None) -> PostConnection:
        page = rows[:limit]
        edges = [PostEdge(cursor=encode_cursor(r["id"]), node=Post.from_row(r)) for r in page]
        return cls(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None),
            total_count=total)


@strawberry.type
class IntentionEdge:
    cursor: str
    node: Intention


@strawberry.type
class IntentionConnection:
    edges: list[IntentionEdge]
    page_info: PageInfo
    total_count: int | None


@strawberry.type
class IntentionHit:
    score: float
    intention: Intention


@strawberry.type
class PostHit:
    score: float
    post: Post


@strawberry.type
class RelationStat:
    relation: Relation  # type: ignore[valid-type]
    intentions: int = strawberry.field(description="Intention nodes of this relation.")
    edges: int = strawberry.field(description="Post-to-intention edges of this relation.")
    posts: int = strawberry.field(description="Posts with at least one intention of this relation.")


@strawberry.type
class TopIntention:
    posts: int = strawberry.field(description="Posts (with the given key information) sharing it.")
    intention: Intention


@strawberry.input(description="Filters of `posts`; all given filters must hold.")
class PostFilter:
    source: str | None = None
    has_image: bool | None = None
    text: str | None = strawberry.field(default=None, description="Full-text search in post text.")
    concept: str | None = None
    action: str | None = None
    object: str | None = None
    emotion: str | None = None
    keyword: str | None = None


# --- helpers ---------------------------------------------------------------------------------

_LUCENE_SPECIAL = set('+-&|!(){}[]^"~*?:\\/')


def lucene_terms(text: str) -> str:
    """User text as a safe Lucene query: specials escaped, operators lower-cased (plain terms)."""
    cleaned = "".join("\\" + ch if ch in _LUCENE_SPECIAL else ch for ch in text.lower())
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise BadInputError("`text` must contain at least one word")
    return cleaned


def _key_filter(**values: str | None) -> dict[str, str]:
    from kg_builder.relations import normalise

    out = {}
    for kind, value in values.items():
        if value is not None:
            name = normalise(value)
            if not name:
                raise BadInputError(f"`{kind}` must not be empty")
            out[kind] = name
    return out


def _check_text(text: str, name: str = "text") -> str:
    if not text.strip():
        raise BadInputError(f"`{name}` must not be empty")
    if len(text) > 2000:
        raise BadInputError(f"`{name}` is longer than 2000 characters")
    return text


# --- queries ---------------------------------------------------------------------------------

@strawberry.type
class Query:
    @strawberry.field(description="A post by id, or null.")
    async def post(self, info: Ctx, id: strawberry.ID) -> Post | None:
        found = await info.context.repo.posts_by_ids([str(id)])
        row = found.get(str(id))
        return Post.from_row(row) if row else None

    @strawberry.field(description="Posts ordered by id, filtered, Relay-paginated.")
    async def posts(self, info: Ctx, filter: PostFilter | None = None, first: int = 20,
                    after: str | None = None) -> PostConnection:
        ctx = info.context
        limit = ctx.cap("first", first)
        f = filter or PostFilter()
        key_info = _key_filter(concept=f.concept, action=f.action, object=f.object,
                               emotion=f.emotion, keyword=f.keyword)
        text = lucene_terms(_check_text(f.text)) if f.text is not None else None
        rows = await ctx.repo.posts_page(after=decode_cursor(after), limit=limit + 1, text=text,
                                         source=f.source, has_image=f.has_image, key_info=key_info)
        total = None
        if _wants(info, "totalCount"):
            total = await ctx.repo.posts_count(text=text, source=f.source, has_image=f.has_image,
                                               key_info=key_info)
        return PostConnection.build(rows, limit, total)

    @strawberry.field(description="An intention by id, or null.")
    async def intention(self, info: Ctx, id: strawberry.ID) -> Intention | None:
        found = await info.context.repo.intentions_by_ids([str(id)])
        row = found.get(str(id))
        return Intention.from_row(row) if row else None

    @strawberry.field(description="Intentions ordered by id, optionally of one relation.")
    async def intentions(self, info: Ctx, relation: Relation | None = None,  # type: ignore[valid-type]
                         first: int = 20, after: str | None = None) -> IntentionConnection:
        ctx = info.context
        limit = ctx.cap("first", first)
        rel = RelationEnum(relation) if relation is not None else None
        rows = await ctx.repo.intentions_page(rel, decode_cursor(after), limit + 1)
        page = rows[:limit]
        edges = [IntentionEdge(cursor=encode_cursor(r["id"]), node=Intention.from_row(r))
                 for r in page]
        total = await ctx.repo.intentions_count(rel) if _wants(info, "totalCount") else None
        return IntentionConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None),
            total_count=total)

    @strawberry.field(description="Intentions nearest to a text (cosine); with `relation`, all "
                      "k hits have that relation.")
    async def search_intentions(self, info: Ctx, text: str,
                                relation: Relation | None = None,  # type: ignore[valid-type]
                                k: int = 10, min_score: float = 0.0) -> list[IntentionHit]:
        ctx = info.context
        vector = await ctx.embedder.embed(_check_text(text))
        rel = RelationEnum(relation) if relation is not None else None
        rows = await ctx.repo.search_intentions(vector, rel, ctx.cap("k", k), min_score)
        return [IntentionHit(score=r["score"], intention=Intention.from_row(r["intention"]))
                for r in rows]

    @strawberry.field(description="Intentions nearest to a given intention, itself excluded.")
    async def similar_intentions(self, info: Ctx, id: strawberry.ID, k: int = 10,
                                 same_relation: bool = True) -> list[IntentionHit]:
        ctx = info.context
        found = await ctx.repo.intentions_by_ids([str(id)])
        if str(id) not in found:
            return []
        node = Intention.from_row(found[str(id)])
        rel = RelationEnum(node.relation) if same_relation else None
        hits = await ctx.loaders["similar_intentions"].load((str(id), rel, ctx.cap("k", k)))
        return [IntentionHit(score=h["score"], intention=Intention.from_row(h["intention"]))
                for h in hits]

    @strawberry.field(description="Posts nearest to a text (cosine of text embeddings).")
    async def search_posts(self, info: Ctx, text: str, k: int = 10,
                           min_score: float = 0.0) -> list[PostHit]:
        ctx = info.context
        vector = await ctx.embedder.embed(_check_text(text))
        rows = await ctx.repo.search_posts(vector, ctx.cap("k", k), min_score)
        return [PostHit(score=r["score"], post=Post.from_row(r["post"])) for r in rows]

    @strawberry.field(description="Posts most similar to a given post, itself excluded.")
    async def similar_posts(self, info: Ctx, id: strawberry.ID, k: int = 10) -> list[PostHit]:
        ctx = info.context
        hits = await ctx.loaders["similar_posts"].load((str(id), ctx.cap("k", k)))
        return [PostHit(score=h["score"], post=Post.from_row(h["post"])) for h in hits]

    @strawberry.field(description="A piece of key information by kind and name, or null.")
    async def key_info(self, info: Ctx, kind: KeyInfoKind, name: str) -> KeyInfo | None:
        norm = _key_filter(**{kind.value: name})[kind.value]
        row = await info.context.repo.key_info_node(kind.value, norm)
        if row is None:
            return None
        label = next(lbl for lbl, k in LABEL_TO_KIND.items() if k == kind.value)
        return key_info_from(label, row["name"], row.get("display"))

    @strawberry.field(description="Intention nodes, edges and posts per relation.")
    async def relation_stats(self, info: Ctx) -> list[RelationStat]:
        rows = await info.context.repo.relation_stats()
        return [RelationStat(relation=r["relation"], intentions=r["intentions"], edges=r["edges"],
                             posts=r["posts"]) for r in rows]

    @strawberry.field(description="Intentions of a relation shared by the most posts, optionally "
                      "among posts with the given key information.")
    async def top_intentions(self, info: Ctx, relation: Relation,  # type: ignore[valid-type]
                             emotion: str | None = None, keyword: str | None = None,
                             concept: str | None = None, k: int = 10) -> list[TopIntention]:
        ctx = info.context
        key_info = _key_filter(emotion=emotion, keyword=keyword, concept=concept)
        rows = await ctx.repo.top_intentions(RelationEnum(relation), key_info, ctx.cap("k", k))
        return [TopIntention(posts=r["posts"], intention=Intention.from_row(r["intention"]))
                for r in rows]


# --- errors ----------------------------------------------------------------------------------

class ErrorShape(SchemaExtension):
    """One error shape: ``{message, extensions: {code}, path?, locations?}``.

    Our own errors keep their message and code; GraphQL syntax and validation errors keep their
    message (code GRAPHQL_VALIDATION_FAILED); anything else is logged and shown only as
    "Internal server error." with code INTERNAL_SERVER_ERROR.
    """

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        shaped = []
        for err in errors:
            original = err.original_error
            if isinstance(original, KGApiError):
                message, code = str(original), original.code
            elif original is None:
                message, code = err.message, "GRAPHQL_VALIDATION_FAILED"
            else:
                log.error("unexpected error in %s after %.3fs", err.path, time.perf_counter() - started,
                          exc_info=original)
                message, code = "Internal server error.", "INTERNAL_SERVER_ERROR"
            shaped.append(GraphQLError(message, nodes=err.nodes, source=err.source,
                                       positions=err.positions, path=err.path,
                                       extensions={"code": code}))
        result.errors = shaped


def build_schema(settings: Settings) -> strawberry.Schema:
    extensions: list[Any] = [
        lambda: QueryDepthLimiter(max_depth=settings.api_max_depth),
        lambda: MaxTokensLimiter(max_token_count=settings.api_max_tokens),
        lambda: MaxAliasesLimiter(max_alias_count=settings.api_max_aliases),
        ErrorShape,
    ]
    return strawberry.Schema(
        query=Query, types=[Concept, Action, ObjectInfo, Emotion, Keyword], extensions=extensions)


def schema_sdl(settings: Settings | None = None) -> str:
    return build_schema(settings or Settings()).as_str() + "\n"


__all__ = ["Context", "build_schema", "schema_sdl"]
