"""What annotators see and answer: the labelling interface, the task of one post, and the
judgements read back from an annotation.

A task is one post and one source (the model run or release its intentions come from): the post
text, its image (as a small inline JPEG, so any Label Studio can show it without reaching our
files), the image description, the key information and one intention per relation, each asked
1 high typicality / 0 low typicality / -1 implausible (the paper's stage 1).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from kg_builder.core.errors import RelationError
from kg_builder.core.relations import Relation

CHOICES: tuple[tuple[str, int], ...] = (
    ("1 high typicality", 1), ("0 low typicality", 0), ("-1 implausible", -1))
NO_INTENTION = "(no intention of this relation)"
THUMBNAIL_SIDE = 512
MAX_TEXT_CHARS = 10_000  # longer post texts are cut in the task (the graph keeps them whole)


def text_field(relation: Relation) -> str:
    return f"i_{relation.value}"


def edge_field(relation: Relation) -> str:
    return f"e_{relation.value}"


def choice_field(relation: Relation) -> str:
    return f"j_{relation.value}"


def label_config(relations: Sequence[Relation], with_image: bool) -> str:
    """The Label Studio labelling interface (XML) for tasks of these relations."""
    parts = ['<View>', '<Header value="Post" size="4"/>', '<Text name="text" value="$text"/>']
    if with_image:
        parts.append('<Image name="image" value="$image" maxWidth="480px"/>')
    parts += ['<Header value="Image description" size="6"/>',
              '<Text name="description" value="$description"/>',
              '<Header value="Key information" size="6"/>',
              '<Text name="key_info" value="$key_info"/>',
              '<Header value="Intentions: 1 high typicality, 0 low typicality, -1 implausible" '
              'size="4"/>']
    for rel in relations:
        parts += [
            '<View style="border-top: 1px solid #ddd; padding: 4px 0">',
            f'<Header value={quoteattr(rel.value)} size="6"/>',
            f'<Text name="{text_field(rel)}" value="${text_field(rel)}"/>',
            f'<Choices name="{choice_field(rel)}" toName="{text_field(rel)}" choice="single-radio" '
            'showInline="true">',
            *(f'<Choice value={quoteattr(label)} alias="{score}"/>' for label, score in CHOICES),
            '</Choices>', '</View>',
        ]
    parts.append('</View>')
    return "\n".join(parts)


def thumbnail_data_uri(path: Path) -> str:
    """A JPEG of at most THUMBNAIL_SIDE pixels a side, as a data URI (raises OSError or
    PIL's errors for a file that is not an image)."""
    from PIL import Image

    with Image.open(path) as img:
        img.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass(frozen=True)
class TaskEdge:
    relation: Relation
    intention: str
    text: str


def task_key(post: str, source: str) -> str:
    return f"{post}|{source}"


def task_data(post: str, source: str, text: str, image: str, description: str | None,
              key_info: Mapping[str, Sequence[str]], edges: Iterable[TaskEdge],
              relations: Sequence[Relation]) -> dict[str, str]:
    """The data of one task: every field the interface shows, and the edge ids to import to."""
    by_rel = {e.relation: e for e in edges}
    data = {
        "miko_key": task_key(post, source), "post_id": post, "source": source,
        "text": text[:MAX_TEXT_CHARS], "image": image,
        "description": description or "(no image description)",
        "key_info": "; ".join(f"{kind}: {', '.join(names)}" for kind, names in key_info.items())
                    or "(no key information)",
    }
    for rel in relations:
        edge = by_rel.get(rel)
        data[text_field(rel)] = edge.text if edge else NO_INTENTION
        data[edge_field(rel)] = edge.intention if edge else ""
    return data


@dataclass(frozen=True)
class Judgement:
    relation: Relation
    intention: str
    score: int


def judgements_of(task: Mapping[str, Any], result: Sequence[Mapping[str, Any]]
                  ) -> tuple[list[Judgement], list[str]]:
    """The judgements in one annotation's result, and the reasons for any part refused."""
    found: list[Judgement] = []
    problems: list[str] = []
    aliases = {str(score): score for _, score in CHOICES} | {label: s for label, s in CHOICES}
    for item in result:
        name = str(item.get("from_name", ""))
        if not name.startswith("j_"):
            continue
        try:
            rel = Relation.parse(name[2:])
        except RelationError:
            problems.append(f"unknown field {name!r}")
            continue
        choices = (item.get("value") or {}).get("choices") or []
        if len(choices) != 1 or str(choices[0]) not in aliases:
            problems.append(f"{name}: expected one of 1, 0, -1, got {choices!r}")
            continue
        intention = str(task.get(edge_field(rel)) or "")
        if not intention:
            continue  # a relation the post has no intention of
        found.append(Judgement(rel, intention, aliases[str(choices[0])]))
    return found, problems
