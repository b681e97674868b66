"""Typed records that flow from readers (and the generation stages) into the loader."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import Relation, intention_id, split_tail


class ImageRef(BaseModel):
    """An image attached to a post: by content hash when the bytes were seen, else by file name."""

    model_config = ConfigDict(frozen=True)

    file: str | None = None
    sha256: str | None = None
    description: str | None = None

    @property
    def key(self) -> str:
        if self.sha256:
            return f"sha256:{self.sha256}"
        if self.file:
            return f"file:{self.file}"
        raise ValueError("an image needs a file name or a sha256")


class KeyInfo(BaseModel):
    """Key information of a post (stage 2): concept, action, object, emotion and keywords."""

    concept: str | None = None
    action: str | None = None
    object: str | None = None
    emotion: str | None = None
    keywords: list[str] = Field(default_factory=list)

    def items(self) -> list[tuple[KeyInfoKind, str]]:
        """(kind, name) pairs with empty values dropped."""
        out: list[tuple[KeyInfoKind, str]] = []
        for kind in KeyInfoKind:
            if kind is KeyInfoKind.KEYWORD:
                out.extend((kind, k.strip()) for k in self.keywords if k and k.strip())
            elif (value := getattr(self, kind.value)) and value.strip():
                out.append((kind, value.strip()))
        return out


class IntentionRecord(BaseModel):
    """One intention sentence of a post for one relation, with its provenance."""

    relation: Relation
    text: str = Field(min_length=1)
    label: int | None = Field(default=None, description="benchmark label: 1 kept, 0 not kept")
    label_votes: list[int] = Field(default_factory=list)
    source: str | None = None
    model: str | None = None
    prompt_version: str | None = None

    @field_validator("text")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("intention text is empty")
        return value

    @property
    def tail_and_match(self) -> tuple[str, bool]:
        return split_tail(self.relation, self.text)

    @property
    def tail(self) -> str:
        return self.tail_and_match[0]

    @property
    def id(self) -> str:
        return intention_id(self.relation, self.tail)


class PostRecord(BaseModel):
    """A post with whatever is known about it: image, key information, intentions."""

    id: str = Field(min_length=1, max_length=512)
    text: str
    source: str
    split: str | None = None
    image: ImageRef | None = None
    key_info: KeyInfo | None = None
    intentions: list[IntentionRecord] = Field(default_factory=list)
    benchmark_labels: list[int] | None = None
    extra: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("post text is empty")
        return value


class Rejection(BaseModel):
    """A record that could not be used, with where it was and why."""

    file: str
    line: int | None = None
    item: int | None = None
    reason: str

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.item is not None:
            where += f" (item {self.item})"
        return where
