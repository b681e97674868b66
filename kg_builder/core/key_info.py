"""The five kinds of key information (stage 2): the one source of their labels and types.

Every label and relationship type of key information that reaches Cypher, every GraphQL enum
value and every field of ``KeyInfo`` comes from ``KeyInfoKind``.
"""

from __future__ import annotations

from enum import StrEnum


class KeyInfoKind(StrEnum):
    """Concept, action, object, emotion and keyword of a post."""

    CONCEPT = "concept"
    ACTION = "action"
    OBJECT = "object"
    EMOTION = "emotion"
    KEYWORD = "keyword"

    @property
    def label(self) -> str:
        """Node label, e.g. ``Concept``."""
        return self.value.capitalize()

    @property
    def rel_type(self) -> str:
        """Relationship type from the post, e.g. ``HAS_CONCEPT``."""
        return f"HAS_{self.name}"

    @classmethod
    def from_label(cls, label: str) -> KeyInfoKind:
        """The kind of a node label (``Concept`` -> CONCEPT); raises ValueError otherwise."""
        return cls(label.lower())
