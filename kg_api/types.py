"""The GraphQL types (strawberry): nodes, links, hits, connections, and their nested fields.

Nested fields load through the request's dataloaders (``Context.loaders``), so a page of posts
with their intentions, key information and images costs one query per field, not per post.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema

from kg_api.context import Context, Ctx
from kg_api.inputs import (
    check_human_label,
    check_human_score,
    check_label,
    check_typicality,
    decode_cursor,
    encode_cursor,
)
from kg_api.selection import link_projection, wants
from kg_builder.core.key_info import KeyInfoKind as KeyInfoKindEnum
from kg_builder.core.relations import Relation as RelationEnum
from kg_builder.graph.rows import (
    HumanJudgementRow,
    ImageRow,
    IntentionHitRow,
    IntentionLinkRow,
    IntentionRow,
    KeyInfoRow,
    PostHitRow,
    PostRow,
)

Relation = strawberry.enum(RelationEnum, name="Relation",
                           description="The nine ATOMIC relations and MIKO's Open relation.")
KeyInfoKind = strawberry.enum(KeyInfoKindEnum, name="KeyInfoKind",
                              description="Kinds of key information extracted from a post.")

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    total_count: int | None = strawberry.field(
        description="Number of nodes in the whole connection (counted only when asked for).")


def connection(rows: list[RowT], limit: int, total: int | None, node: Callable[[RowT], NodeT],
               node_id: Callable[[RowT], str]) -> Connection[NodeT]:
    """A Relay page from ``limit + 1`` rows (the extra row only says that there is a next page)."""
    edges = [Edge(cursor=encode_cursor(node_id(r)), node=node(r)) for r in rows[:limit]]
    return Connection(edges=edges, total_count=total, page_info=PageInfo(
        has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None))


def post_connection(rows: list[PostRow], limit: int, total: int | None) -> Connection[Post]:
    return connection(rows, limit, total, Post.from_row, lambda r: r.id)


def post_connection_with_links(rows: list[tuple[PostRow, list[IntentionLinkRow]]], limit: int,
                               total: int | None) -> Connection[Post]:
    """A page whose posts carry their (unfiltered) intention links, fetched with the page."""
    return connection(rows, limit, total, lambda r: Post.from_row(r[0], r[1]), lambda r: r[0].id)


@strawberry.type
class Image:
    id: strawberry.ID
    file: str | None
    sha256: str | None
    description: str | None

    @classmethod
    def from_row(cls, row: ImageRow) -> Image:
        return cls(id=strawberry.ID(row.id), file=row.file, sha256=row.sha256,
                   description=row.description)


@strawberry.interface(description="A piece of key information shared by posts.")
class KeyInfo:
    name: str = strawberry.field(description="Normalised name (the key).")
    display: str | None = strawberry.field(description="The name as first extracted.")

    @strawberry.field(description="concept, action, object, emotion or keyword")
    def kind(self) -> KeyInfoKind:  # type: ignore[valid-type]
        return KEY_INFO_KINDS[type(self)]

    @strawberry.field(description="Posts that share this key information, ordered by id.")
    async def posts(self, info: Ctx, first: int = 20, after: str | None = None) -> Connection[Post]:
        ctx = info.context
        kind = KEY_INFO_KINDS[type(self)]
        limit = ctx.cap("first", first)
        rows = await ctx.repo.posts_of_key_info(kind, self.name, decode_cursor(after), limit + 1)
        total = await ctx.repo.count_posts_of_key_info(kind, self.name) if wants(
            info, "totalCount") else None
        return post_connection(rows, limit, total)

    @staticmethod
    def from_row(row: KeyInfoRow) -> KeyInfo:
        return KEY_INFO_TYPES[row.kind](name=row.name, display=row.display)


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


KEY_INFO_TYPES: dict[KeyInfoKindEnum, type[KeyInfo]] = {
    KeyInfoKindEnum.CONCEPT: Concept, KeyInfoKindEnum.ACTION: Action,
    KeyInfoKindEnum.OBJECT: ObjectInfo, KeyInfoKindEnum.EMOTION: Emotion,
    KeyInfoKindEnum.KEYWORD: Keyword,
}
KEY_INFO_KINDS: dict[type[KeyInfo], KeyInfoKindEnum] = {t: k for k, t in KEY_INFO_TYPES.items()}


@strawberry.type(description="An intention: one relation's sentence, shared by every post that has it.")
class Intention:
    id: strawberry.ID
    relation: Relation  # type: ignore[valid-type]
    text: str = strawberry.field(description="The full sentence, template included.")
    tail: str = strawberry.field(description="The sentence without its template prefix.")
    typicality: float | None = strawberry.field(
        description="The highest typicality of its edges (typical for at least one post); null "
        "until the critic has scored them.")

    @classmethod
    def from_row(cls, row: IntentionRow) -> Intention:
        return cls(id=strawberry.ID(row.id), relation=row.relation, text=row.text, tail=row.tail,
                   typicality=row.typicality)

    @strawberry.field(description="Posts that have this intention, ordered by id.")
    async def posts(self, info: Ctx, first: int = 20, after: str | None = None) -> Connection[Post]:
        ctx = info.context
        limit = ctx.cap("first", first)
        rows = await ctx.loaders.posts_of.load((str(self.id), decode_cursor(after), limit + 1))
        total = await ctx.loaders.posts_of_count.load(str(self.id)) if wants(
            info, "totalCount") else None
        return post_connection(rows, limit, total)

    @strawberry.field(description="The k nearest intentions (cosine), itself excluded; with "
                      "`minTypicality`, only those at or above it (filtered inside the vector index).")
    async def similar(self, info: Ctx, k: int = 10, same_relation: bool = True,
                      min_typicality: float | None = None) -> list[IntentionHit]:
        return await similar_intentions(info.context, str(self.id),
                                        RelationEnum(self.relation) if same_relation else None, k,
                                        min_typicality)


@strawberry.type(description="One annotator's judgement: 1 high typicality, 0 low, -1 implausible.")
class HumanVote:
    annotator: str = strawberry.field(description="Label Studio host#project/annotator.")
    score: int
    time: str = strawberry.field(description="When the annotation was last changed (ISO-8601).")


@strawberry.type(description="People's judgements of one intention for one post.")
class HumanJudgement:
    score: float = strawberry.field(description="The annotators' mean score, -1 to 1.")
    label: int | None = strawberry.field(
        description="The score most annotators gave (more than half); null without a majority.")
    agreement: float | None = strawberry.field(
        description="Share of votes equal to the most common score; null with one vote.")
    votes: list[HumanVote]

    @classmethod
    def from_row(cls, row: HumanJudgementRow) -> HumanJudgement:
        return cls(score=row.score, label=row.label, agreement=row.agreement,
                   votes=[HumanVote(annotator=v.judge, score=v.score, time=v.time) for v in row.votes])


@strawberry.type(description="A post's link to one of its intentions, with its provenance.")
class PostIntention:
    relation: Relation  # type: ignore[valid-type]
    text: str = strawberry.field(description="The sentence as generated for this post.")
    label: int | None = strawberry.field(description="MIKO benchmark label: 1 kept, 0 not kept.")
    label_votes: list[int] | None
    typicality: float | None = strawberry.field(
        description="The critic's score (0-1): how likely annotators would keep this intention "
        "for this post as typical; null until scored.")
    critic: str | None = strawberry.field(description="The critic (name and version) that scored it.")
    source: str | None
    model: str | None
    prompt_version: str | None
    intention: Intention
    human: HumanJudgement | None = strawberry.field(
        description="People's judgements of this intention for this post (Label Studio, "
        "`miko annotate import`); null until judged. Beside the critic's `typicality`.")

    @classmethod
    def from_row(cls, row: IntentionLinkRow) -> PostIntention:
        return cls(relation=row.intention.relation, text=row.text, label=row.label,
                   label_votes=row.label_votes, typicality=row.typicality, critic=row.critic,
                   source=row.source, model=row.model,
                   prompt_version=row.prompt_version, intention=Intention.from_row(row.intention),
                   human=HumanJudgement.from_row(row.human) if row.human else None)


@strawberry.type
class Post:
    id: strawberry.ID
    text: str
    source: str | None
    split: str | None
    # The post's links when they came with its page: ``intentions`` with no argument is then
    # answered from them (``answer_prefetched_links``); None when they did not.
    links: strawberry.Private[list[IntentionLinkRow] | None] = None

    @classmethod
    def from_row(cls, row: PostRow, links: list[IntentionLinkRow] | None = None) -> Post:
        return cls(id=strawberry.ID(row.id), text=row.text, source=row.source, split=row.split,
                   links=links)

    @strawberry.field(description="The post's intentions, optionally of one relation, at or "
                      "above a critic typicality, with a benchmark label, at or above the "
                      "annotators' mean score (-1 to 1) or with their majority label.")
    async def intentions(self, info: Ctx, relation: Relation | None = None,  # type: ignore[valid-type]
                         min_typicality: float | None = None,
                         label: int | None = None,
                         min_human_score: float | None = None,
                         human_label: int | None = None) -> list[PostIntention]:
        rel = RelationEnum(relation) if relation is not None else None
        links = await info.context.loaders.intentions.load(
            (str(self.id), rel, check_typicality(min_typicality), check_label(label),
             check_human_score(min_human_score), check_human_label(human_label),
             link_projection(info)))
        return [PostIntention.from_row(link) for link in links]

    @strawberry.field(description="Concept, action, object, emotion and keywords of the post.")
    async def key_info(self, info: Ctx) -> list[KeyInfo]:
        return [KeyInfo.from_row(r) for r in await info.context.loaders.key_info.load(str(self.id))]

    @strawberry.field
    async def image(self, info: Ctx) -> Image | None:
        row = await info.context.loaders.images.load(str(self.id))
        return Image.from_row(row) if row is not None else None

    @strawberry.field(description="The k most similar posts (cosine of text embeddings), itself excluded.")
    async def similar_posts(self, info: Ctx, k: int = 10) -> list[PostHit]:
        return await similar_posts(info.context, str(self.id), k)


HIT_SCORE = ("(1 + cosine) / 2 of the query's and the hit's embeddings, exact (float32 "
             "vectors; the index only proposes the candidates): 1 is identical, 0.5 unrelated.")


@strawberry.type
class IntentionHit:
    score: float = strawberry.field(description=HIT_SCORE)
    intention: Intention

    @classmethod
    def from_row(cls, row: IntentionHitRow) -> IntentionHit:
        return cls(score=row.score, intention=Intention.from_row(row.intention))


@strawberry.type
class PostHit:
    score: float = strawberry.field(description=HIT_SCORE)
    post: Post

    @classmethod
    def from_row(cls, row: PostHitRow) -> PostHit:
        return cls(score=row.score, post=Post.from_row(row.post))


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


# --- resolvers shared by a root field and a nested one -------------------------------------

async def similar_posts(ctx: Context, post_id: str, k: int) -> list[PostHit]:
    hits = await ctx.loaders.similar_posts.load((post_id, ctx.cap("k", k)))
    return [PostHit.from_row(h) for h in hits]


async def similar_intentions(ctx: Context, intention_id: str, relation: RelationEnum | None,
                             k: int, min_typicality: float | None = None) -> list[IntentionHit]:
    hits = await ctx.loaders.similar_intentions.load(
        (intention_id, relation, ctx.cap("k", k), check_typicality(min_typicality)))
    return [IntentionHit.from_row(h) for h in hits]


def answer_prefetched_links(schema: GraphQLSchema) -> None:
    """Make ``Post.intentions`` with no argument answer at once, without a query or a
    coroutine, from the links that came with the post's page (``Query.posts`` fetches them
    when its nodes select ``intentions`` with no argument); other calls go to the resolver."""
    type_ = schema.type_map["Post"]
    assert isinstance(type_, GraphQLObjectType)
    field = type_.fields["intentions"]
    resolver = field.resolve
    assert resolver is not None

    def resolve(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        links = getattr(source, "links", None)
        if links is not None and all(value is None for value in args.values()):
            return [PostIntention.from_row(link) for link in links]
        return resolver(source, info, **args)

    field.resolve = resolve
