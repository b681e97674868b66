"""Per-request state: the repository, the query embedder, the settings and typed dataloaders."""

from __future__ import annotations

from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader
from strawberry.types import Info

from kg_api.embedding import QueryEmbedder
from kg_api.errors import BadInputError, ModelMismatchError
from kg_api.repository import (
    GraphRepository,
    LinkProjection,
    PostIntentionsKey,
    PostsOfKey,
    SimilarIntentionsKey,
)
from kg_builder.core.errors import EmbeddingModelMismatchError
from kg_builder.core.settings import Settings
from kg_builder.graph.rows import (
    ImageRow,
    IntentionHitRow,
    IntentionLinkRow,
    KeyInfoRow,
    PostHitRow,
    PostRow,
)


@dataclass
class Loaders:
    """One dataloader per nested field, so a page of posts costs one query per field."""

    intentions: DataLoader[PostIntentionsKey, list[IntentionLinkRow]]
    key_info: DataLoader[str, list[KeyInfoRow]]
    images: DataLoader[str, ImageRow | None]
    posts_of: DataLoader[PostsOfKey, list[PostRow]]
    posts_of_count: DataLoader[str, int]
    similar_posts: DataLoader[tuple[str, int], list[PostHitRow]]
    similar_intentions: DataLoader[SimilarIntentionsKey, list[IntentionHitRow]]

    @classmethod
    def of(cls, repo: GraphRepository) -> Loaders:
        return cls(
            intentions=DataLoader(repo.intentions_of_posts),
            key_info=DataLoader(repo.key_info_of_posts),
            images=DataLoader(repo.images_of_posts),
            posts_of=DataLoader(repo.posts_of_intentions),
            posts_of_count=DataLoader(repo.posts_of_intentions_count),
            similar_posts=DataLoader(repo.similar_posts),
            similar_intentions=DataLoader(repo.similar_intentions),
        )


@dataclass
class Context:
    repo: GraphRepository
    embedder: QueryEmbedder
    settings: Settings
    model_error: EmbeddingModelMismatchError | None = None
    loaders: Loaders = field(init=False)
    # per field of the query: the intention-link properties its selection reads (selection.py)
    projections: dict[tuple[int, ...], LinkProjection] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.loaders = Loaders.of(self.repo)

    def cap(self, name: str, value: int) -> int:
        """``value`` of argument ``name`` if within 1..MIKO_API_MAX_K, else BadInputError."""
        limit = self.settings.api_max_k
        if value < 1 or value > limit:
            raise BadInputError(f"`{name}` must be between 1 and {limit} (got {value})")
        return value

    async def embed(self, text: str) -> list[float]:
        """The query text's vector; refused when the graph was embedded with another model."""
        if self.model_error is not None:
            raise ModelMismatchError(str(self.model_error))
        return await self.embedder.embed(text)


Ctx = Info[Context, None]
