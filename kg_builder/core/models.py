"""Typed records that flow from readers (and the generation stages) into the loader.

They are the input contract: every field has a limit (``LIMITS``, documented in the README)
and every text is checked and normalised when a record is made (``clean_text``), so a record
that reaches the loader can be embedded and written; a bad one is rejected by its reader with
its location and reason.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)

from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import Relation, intention_id, split_tail

# Field limits, in characters of the stored (cleaned and normalised) value (Neo4j refuses index
# keys over ~8 KB; a post is a social-media post).
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
    "intentions": 100,
    "label_votes": 100,
    "extra_value": 1_000,
    "extra_fields": 50,
}
# Neo4j integers are signed 64-bit: anything outside is refused here, not by the driver.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

# Extra scalar fields become post properties: only plain lower-case names that cannot overwrite
# the properties miko itself sets (and that are safe as import-file column names).
EXTRA_KEY = re.compile(r"[a-z][a-z0-9_]{0,40}")
RESERVED_KEYS = frozenset({"id", "text", "image", "source", "split", "key_info", "intentions",
                           "embedding", "benchmark_labels", "extra", "origin", "has_image"})

_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidirectional embedding, override and isolate controls (U+202A-202E, U+2066-2069): removed, so
# a stored text reads in the order it is stored ("Trojan Source" spoofing).
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) beyond the Cf characters: variation
# selectors, fillers and the like, which render as nothing.
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp", "Mn", "Mc", "Me"})


def clean_text(value: str) -> str:
    """The stored form of a text: CR and CRLF become newlines, control characters other than tab
    and newline become spaces, bidirectional controls are removed, then Unicode NFC.

    Refused (ValueError): NUL characters and lone surrogates. Text that needs no change (nearly
    all of it) is returned as is, without a copy.
    """
    if value.isascii() and value.isprintable():  # nearly all text: nothing to check or change
        return value
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    if _SURROGATE.search(value):
        raise ValueError("contains a lone surrogate (not valid Unicode)")
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if _CONTROL.search(value):
        value = _CONTROL.sub(" ", value)
    if not value.isascii() and _BIDI.search(value):
        value = _BIDI.sub("", value)
    return value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)


def visible(value: str) -> bool:
    """Whether a text has a character that shows: not whitespace, a control or format character
    (Cf: zero-width spaces, joiners, bidi marks), a combining mark on its own or another default
    ignorable code point."""
    for ch in value:
        if ch.isascii():
            if "!" <= ch <= "~":
                return True
            continue
        if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES and not _IGNORABLE.match(ch):
            return True
    return False


def _stored(limit: int, *, required: bool = False, collapse: bool = False) -> AfterValidator:
    """A string field: cleaned (``clean_text``, with ``collapse`` also runs of whitespace to one
    space), then its limit checked on that stored form; ``required``: it must show something."""

    def check(value: str) -> str:
        value = clean_text(value)
        if collapse:
            value = " ".join(value.split())
        if len(value) > limit:
            raise ValueError(f"should have at most {limit} characters once normalised (it has "
                             f"{len(value):,})")
        if required and not visible(value):
            raise ValueError("has no visible character (empty, blank or only invisible "
                             "characters)")
        return value

    return AfterValidator(check)


PostId = Annotated[str, _stored(LIMITS["post_id"], required=True)]
PostText = Annotated[str, _stored(LIMITS["post_text"], required=True)]
Source = Annotated[str, _stored(LIMITS["source"], required=True)]
Split = Annotated[str, _stored(LIMITS["split"], required=True)]
ImageFile = Annotated[str, _stored(LIMITS["image_file"], required=True)]
Description = Annotated[str, _stored(LIMITS["image_description"])]
KeyName = Annotated[str, _stored(LIMITS["key_info_name"])]
IntentionText = Annotated[str, _stored(LIMITS["intention_text"], required=True, collapse=True)]
ExtraValue = Annotated[str, _stored(LIMITS["extra_value"])]
# A benchmark label or annotation vote: the integer 0 or 1 exactly (not a bool, not 1.0).
Label = Annotated[int, Strict(), Field(ge=0, le=1)]


def checked_scalar(value: Any) -> str | int | float | bool:
    """An extra property value as Neo4j can store it: a bool, an integer in signed 64-bit range,
    a finite float or a string (already cleaned by its field); else ValueError."""
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            digits = len(str(abs(value))) if value.bit_length() < 14_000 else "thousands of"
            raise ValueError(f"integer with {digits} digits is outside Neo4j's signed 64-bit "
                             "range [-2^63, 2^63-1]")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        return value
    raise ValueError(f"expected a string, number or boolean, got {type(value).__name__}")


def safe_report_text(value: Any, limit: int) -> Any:
    """A string for a report: lone surrogates (from undecodable file names) escaped, cut at
    ``limit`` characters."""
    if not isinstance(value, str):
        return value
    if _SURROGATE.search(value):
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value if len(value) <= limit else value[:limit] + "..."


class Origin(BaseModel):
    """Where a record was read: file, line and (in a JSON array) item index."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int | None = None
    item: int | None = None

    @field_validator("file", mode="before")
    @classmethod
    def _printable_file(cls, value: Any) -> Any:
        return safe_report_text(value, 4_096)

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

    @field_validator("reason", mode="before")
    @classmethod
    def _printable_reason(cls, value: Any) -> Any:
        return safe_report_text(value, 1_000)


class ImageRef(BaseModel):
    """An image attached to a post: by content hash when the bytes were seen, else by file name."""

    model_config = ConfigDict(frozen=True)

    file: ImageFile | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    description: Description | None = None

    @model_validator(mode="after")
    def _named(self) -> ImageRef:
        if not self.file and not self.sha256:
            raise ValueError("an image needs a file name or a sha256")
        return self

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
    """One intention sentence of a post for one relation, with its provenance.

    ``text`` is stored with runs of whitespace as one space; ``label`` (the benchmark's: 1 kept,
    0 not kept) and each of ``label_votes`` is the integer 0 or 1.
    """

    relation: Relation
    text: IntentionText
    label: Label | None = Field(default=None, description="benchmark label: 1 kept, 0 not kept")
    label_votes: list[Label] = Field(default_factory=list, max_length=LIMITS["label_votes"])
    source: Source | None = None
    model: Source | None = None
    prompt_version: Source | None = None

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
    intentions: list[IntentionRecord] = Field(default_factory=list,
                                              max_length=LIMITS["intentions"])
    benchmark_labels: list[Label] | None = Field(
        default=None, min_length=len(Relation), max_length=len(Relation),
        description="one 0/1 label per relation, in the MIKO release's order")
    extra: dict[str, ExtraValue | int | float | bool] = Field(
        default_factory=dict, max_length=LIMITS["extra_fields"])
    origin: Origin | None = Field(default=None, exclude=True,
                                  description="where the reader found it (not stored)")

    @field_validator("extra")
    @classmethod
    def _extra_properties(
        cls, value: dict[str, str | int | float | bool]
    ) -> dict[str, str | int | float | bool]:
        for key, item in value.items():
            if key in RESERVED_KEYS or not EXTRA_KEY.fullmatch(key):
                raise ValueError(f"extra property name {key[:50]!r} is reserved or not a "
                                 "lower-case name (a-z, 0-9, _; at most 41 characters)")
            try:
                checked_scalar(item)
            except ValueError as exc:
                raise ValueError(f"extra property {key!r}: {exc}") from None
        return value
