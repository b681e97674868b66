"""Arguments: cursors, the posts filter, text and key-information checks, selection probes."""

from __future__ import annotations

import base64
import binascii

import strawberry

from kg_api.errors import BadInputError
from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import normalise

_LUCENE_SPECIAL = set('+-&|!(){}[]^"~*?:\\/')


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


def check_text(text: str, name: str = "text") -> str:
    """Non-blank text. (Its length is capped for every string, before execution, by
    MIKO_API_MAX_STRING_CHARS in ``limits``.)"""
    if not text.strip():
        raise BadInputError(f"`{name}` must not be empty")
    return text


def check_typicality(value: float | None) -> float | None:
    """A typicality threshold: null (no filter) or a number from 0 to 1."""
    if value is not None and not 0.0 <= value <= 1.0:
        raise BadInputError(f"`minTypicality` must be between 0 and 1, got {value}")
    return value


def check_label(value: int | None) -> int | None:
    """A benchmark label filter: null, 1 (kept) or 0 (not kept)."""
    if value is not None and value not in (0, 1):
        raise BadInputError(f"`label` must be 1 (kept) or 0 (not kept), got {value}")
    return value


def check_human_score(value: float | None) -> float | None:
    """A threshold on the annotators' mean score: null or a number from -1 to 1."""
    if value is not None and not -1.0 <= value <= 1.0:
        raise BadInputError(f"`minHumanScore` must be between -1 and 1, got {value}")
    return value


def check_human_label(value: int | None) -> int | None:
    """A filter on the annotators' majority: null, 1, 0 or -1."""
    if value is not None and value not in (1, 0, -1):
        raise BadInputError(f"`humanLabel` must be 1 (high typicality), 0 (low) or -1 "
                            f"(implausible), got {value}")
    return value


def lucene_terms(text: str) -> str:
    """User text as a safe Lucene query: specials escaped, operators lower-cased (plain terms)."""
    cleaned = "".join("\\" + ch if ch in _LUCENE_SPECIAL else ch for ch in text.lower())
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise BadInputError("`text` must contain at least one word")
    return cleaned


def key_filter(**values: str | None) -> dict[KeyInfoKind, str]:
    """Given key-information arguments (by kind name), normalised as the loader stores them."""
    out = {}
    for kind, value in values.items():
        if value is not None:
            name = normalise(value)
            if not name:
                raise BadInputError(f"`{kind}` must not be empty")
            out[KeyInfoKind(kind)] = name
    return out


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

    def key_info(self) -> dict[KeyInfoKind, str]:
        return key_filter(**{kind.value: getattr(self, kind.value) for kind in KeyInfoKind})
