"""Typed records that flow from readers (and the generation stages) into the loader.

They are the input contract: every field has a limit (``LIMITS``, documented in the README)
and every text is checked and normalised when a record is made (``clean_text``), so a record
that reaches the loader can be embedded and written; a bad one is rejected by its reader with
its location and reason.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import Relation, intention_id, split_tail

# Field limits, in characters (Neo4j refuses index keys over ~8 KB; a post is a social-media post).
LIMITS: dict[str, int] = {
    "post_id": 512,
    "post_text": 10_000,
    "source": 200,
    "split": 50,
    "image_file": 1_024,
    "image_description": 4_000,
    "key_info_name": 200,
    "keywords": 20,
    "intention_text": 1_000,
    "label_votes": 100,
    "extra_value": 1_000,
    "extra_fields": 50,
}

_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(value: str) -> str:
    """NFC-normalised text with control characters (other than tab and newlines) as spaces.

    Refused: NUL characters. (Lone surrogates, which break the tokenizer and the driver, are
    already refused by pydantic's ``str`` validation before this runs.) Text that needs neither
    change (nearly all of it) is returned as is, without a copy.
    """
    if value.isascii() and value.isprintable():  # nearly all text: nothing to check or change
        return value
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    if _CONTROL.search(value):
        value = _CONTROL.sub(" ", value)
    return value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)


_Clean = AfterValidator(clean_text)
PostId = Annotated[str, Field(min_length=1, max_length=LIMITS["post_id"]), _Clean]
PostText = Annotated[str, Field(max_length=LIMITS["post_text"]), _Clean]
Source = Annotated[str, Field(max_length=LIMITS["source"]), _Clean]
Split = Annotated[str, Field(max_length=LIMITS["split"]), _Clean]
ImageFile = Annotated[str, Field(max_length=LIMITS["image_file"]), _Clean]
Description = Annotated[str, Field(max_length=LIMITS["image_description"]), _Clean]
KeyName = Annotated[str, Field(max_length=LIMITS["key_info_name"]), _Clean]
IntentionText = Annotated[str, Field(min_length=1, max_length=LIMITS["intention_text"]), _Clean]
ExtraValue = Annotated[str, Field(max_length=LIMITS["extra_value"]), _Clean]


class Origin(BaseModel):
    """Where a record was read: file, line and (in a JSON array) item index."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int | None = None
    item: int | None = None

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.item is not None:
            where += f" (item {self.item})"
        return where


class Rejection(Origin):
    """A record that could not be used, with where it was and why."""

    reason: str


class ImageRef(BaseModel):
    """An image attached to a post: by content hash when the bytes were seen, else by file name."""

    model_config = ConfigDict(frozen=True)

    file: ImageFile | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    description: Description | None = None

    @property
    def key(self) -> str:
        if self.sha256:
            return f"sha256:{self.sha256}"
        if self.file:
            return f"file:{self.file}"
        raise ValueError("an image needs a file name or a sha256")


class KeyInfo(BaseModel):
    """Key information of a post (stage 2): concept, action, object, emotion and keywords."""

    concept: KeyName | None = None
    action: KeyName | None = None
    object: KeyName | None = None
    emotion: KeyName | None = None
    keywords: list[KeyName] = Field(default_factory=list, max_length=LIMITS["keywords"])

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
    text: IntentionText
    label: int | None = Field(default=None, ge=-1, le=1,
                              description="benchmark label: 1 kept, 0 not kept")
    label_votes: list[int] = Field(default_factory=list, max_length=LIMITS["label_votes"])
    source: Source | None = None
    model: Source | None = None
    prompt_version: Source | None = None

    @field_validator("text")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("intention text is empty")
        return value

    @property
    def tail_and_match(self) -> tuple[str, bool]:
        """The sentence without its relation's template, and whether the template was found."""
        return split_tail(self.relation, self.text)

    @property
    def tail(self) -> str:
        return self.tail_and_match[0]

    @property
    def id(self) -> str:
        return intention_id(self.relation, self.tail)


class PostRecord(BaseModel):
    """A post with whatever is known about it: image, key information, intentions."""

    id: PostId
    text: PostText
    source: Source
    split: Split | None = None
    image: ImageRef | None = None
    key_info: KeyInfo | None = None
    intentions: list[IntentionRecord] = Field(default_factory=list, max_length=100)
    benchmark_labels: list[Annotated[int, Field(ge=0, le=1)]] | None = Field(
        default=None, max_length=len(Relation))
    extra: dict[str, ExtraValue | int | float | bool] = Field(
        default_factory=dict, max_length=LIMITS["extra_fields"])
    origin: Origin | None = Field(default=None, exclude=True,
                                  description="where the reader found it (not stored)")

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("post text is empty")
        return value
