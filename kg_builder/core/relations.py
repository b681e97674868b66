"""The ten intention relations: the only source of labels and relationship types in Cypher.

Nothing that reaches Cypher as a label or relationship type comes from anywhere but this module's
``Relation`` enum; model output and user input are mapped onto it or rejected.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from kg_builder.core.errors import RelationError


class Relation(StrEnum):
    """The nine ATOMIC relations and MIKO's Open relation."""

    X_NEED = "xNeed"
    X_INTENT = "xIntent"
    X_ATTR = "xAttr"
    X_EFFECT = "xEffect"
    X_REACT = "xReact"
    X_WANT = "xWant"
    O_EFFECT = "oEffect"
    O_REACT = "oReact"
    O_WANT = "oWant"
    OPEN = "Open"

    @property
    def rel_type(self) -> str:
        """Relationship type from the post to the intention, e.g. ``X_WANT``."""
        return self.name

    @property
    def label(self) -> str:
        """Extra node label of the intention, e.g. ``XWant`` (one vector index each)."""
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def spec(self) -> RelationSpec:
        return RELATION_SPECS[self]

    @classmethod
    def parse(cls, value: object) -> Relation:
        """The relation a name spells, or RelationError.

        Only the documented spellings, in any letter case: the relation's name (``xWant``), its
        relationship type (``X_WANT``) and its node label (``XWant``); ``open`` / ``OPEN`` for
        Open. Anything else (other characters, surrounding spaces, non-strings) is refused.
        """
        if isinstance(value, str) and value.isascii():
            found = _SPELLINGS.get(value.lower())
            if found is not None:
                return found
        allowed = ", ".join(r.value for r in cls)
        shown = repr(value)[:80] if isinstance(value, str) else f"of type {type(value).__name__}"
        raise RelationError(f"unknown relation {shown}; use one of: {allowed} (or their "
                            "relationship types such as X_WANT, any letter case)")


@dataclass(frozen=True)
class RelationSpec:
    relation: Relation
    description: str
    template: str  # the sentence start a generated intention must use
    prefix: re.Pattern[str]  # matches the template prefix (with MIKO's observed variants)
    miko_key: str  # key in the MIKO release ("Intention N")


_MEDIUM = r"this\s+[^,]{1,40}?"
_SUBJ = r"(?:the\s+user|they|he|she)"


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(r"^\s*" + pattern + r"\s*", re.IGNORECASE)


RELATION_SPECS: dict[Relation, RelationSpec] = {
    Relation.X_WANT: RelationSpec(
        Relation.X_WANT, "what the user wants after posting",
        "After posting this Tweet, the user wants to",
        _rx(rf"after\s+posting\s+{_MEDIUM}\s*,\s*{_SUBJ}\s+wants?(?:\s+to)?\b"), "Intention 1"),
    Relation.O_EFFECT: RelationSpec(
        Relation.O_EFFECT, "the effect of the post on others",
        "After viewing this Tweet, others will",
        _rx(rf"after\s+(?:viewing|seeing|reading)\s+{_MEDIUM}\s*,\s*others\s+will\b"), "Intention 2"),
    Relation.X_ATTR: RelationSpec(
        Relation.X_ATTR, "an attribute of the user",
        "The user posts this Tweet because the user is",
        _rx(rf"{_SUBJ}\s+post(?:s|ed)?\s+{_MEDIUM}\s+because\s+{_SUBJ}(?:\s+(?:is|are|was|were)\b)?"),
        "Intention 3"),
    Relation.X_INTENT: RelationSpec(
        Relation.X_INTENT, "what the user intended by posting",
        "The user posts this Tweet because the user intended to",
        _rx(rf"{_SUBJ}\s+post(?:s|ed)?\s+{_MEDIUM}\s+because\s+{_SUBJ}(?:\s+intend(?:s|ed)?(?:\s+to)?\b)?"),
        "Intention 4"),
    Relation.X_REACT: RelationSpec(
        Relation.X_REACT, "how the user feels after posting",
        "After posting this Tweet, the user feels",
        _rx(rf"after\s+posting\s+{_MEDIUM}\s*,\s*{_SUBJ}\s+feels?\b"), "Intention 5"),
    Relation.O_REACT: RelationSpec(
        Relation.O_REACT, "how others feel after viewing the post",
        "After viewing this Tweet, others feel",
        _rx(rf"after\s+(?:viewing|seeing|reading)\s+{_MEDIUM}\s*,\s*others\s+feel\b"), "Intention 6"),
    Relation.O_WANT: RelationSpec(
        Relation.O_WANT, "what others want after viewing the post",
        "After viewing this Tweet, others want to",
        _rx(rf"after\s+(?:viewing|seeing|reading)\s+{_MEDIUM}\s*,\s*others\s+want(?:\s+to)?\b"),
        "Intention 7"),
    Relation.X_EFFECT: RelationSpec(
        Relation.X_EFFECT, "the effect of posting on the user",
        "After posting this Tweet, the user will",
        _rx(rf"after\s+posting\s+{_MEDIUM}\s*,\s*{_SUBJ}\s+will\b"), "Intention 8"),
    Relation.X_NEED: RelationSpec(
        Relation.X_NEED, "what the user needed before posting",
        "Before posting this Tweet, the user needs to",
        _rx(rf"before\s+posting\s+{_MEDIUM}\s*,\s*{_SUBJ}\s+needs?(?:\s+to)?\b"), "Intention 9"),
    Relation.OPEN: RelationSpec(
        Relation.OPEN, "the open motive behind publishing the post",
        "The user posts this tweet because they",
        _rx(rf"{_SUBJ}\s+post(?:s|ed)?\s+{_MEDIUM}\s+(?:because(?:\s+{_SUBJ}\b)?|to\b)"), "Intention 10"),
}

MIKO_KEY_TO_RELATION: dict[str, Relation] = {s.miko_key: r for r, s in RELATION_SPECS.items()}

# Every accepted spelling of a relation name, lower-cased: value, relationship type, node label.
_SPELLINGS: dict[str, Relation] = {
    spelling.lower(): rel for rel in Relation for spelling in (rel.value, rel.name, rel.label)
}



def normalise(text: str) -> str:
    """Case-, width- and space-insensitive form used for identity (NFKC, lower, single spaces)."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isprintable():  # rare: only then look for zero-width and other format characters
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split()).lower().rstrip(" .!?;:,")


def split_tail(relation: Relation, sentence: str) -> tuple[str, bool]:
    """Cut the relation's template prefix off ``sentence``.

    Returns ``(tail, matched)``; when the template is not found the whole sentence is the tail
    and ``matched`` is False, so callers can count template mismatches.
    """
    template = relation.spec.template
    if sentence.startswith(template) and sentence[len(template):len(template) + 1].isspace():
        # The exact template (nearly every MIKO and generated sentence): the pattern would end
        # its match right here too, so skip it.
        tail = " ".join(sentence[len(template):].split())
        if tail:
            return tail, True
    return _split_tail_by_pattern(relation, sentence)


def _split_tail_by_pattern(relation: Relation, sentence: str) -> tuple[str, bool]:
    m = relation.spec.prefix.match(sentence)
    if not m:
        return " ".join(sentence.split()), False
    tail = " ".join(sentence[m.end():].split())
    return (tail, True) if tail else (" ".join(sentence.split()), False)


def intention_id(relation: Relation, tail: str) -> str:
    """Stable id of an intention: the same (relation, normalised tail) is one node everywhere."""
    digest = hashlib.sha256(f"{relation.value}\x1f{normalise(tail)}".encode()).hexdigest()
    return f"{relation.value}:{digest[:24]}"
