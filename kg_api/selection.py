"""What a query selects below a field, fragments followed: for the fields that fetch only it.

strawberry's ``info.selected_fields`` lists the field's sub-selections as written, with named
and inline fragments as nodes of their own; ``names_below`` flattens them. ``link_projection``
turns the selection on a post's intentions into the properties its Cypher must send (the
page-of-posts query asks only for the relation and the tail: a third of the server time of
all properties). A field it does not know makes it send everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types.nodes import SelectedField

from kg_api.context import Ctx
from kg_api.repository import ALL_OF_LINKS, LinkProjection

# PostIntention's fields -> the edge properties each reads (relation and intention: none).
LINK_EDGE_FIELDS: dict[str, tuple[str, ...]] = {
    "relation": (), "intention": (), "text": (), "label": ("label",),
    "labelVotes": ("label_votes",), "typicality": ("typicality",),
    "critic": ("critic", "critic_version"), "source": ("source",), "model": ("model",),
    "promptVersion": ("prompt_version",),
    "human": ("judges", "judge_scores", "judge_times", "human_score", "human_label",
              "human_agreement"),
}
# Intention's fields -> the node properties each reads (id and relation are always sent).
INTENTION_NODE_FIELDS: dict[str, tuple[str, ...]] = {
    "id": (), "relation": (), "text": ("text",), "tail": ("tail",),
    "typicality": ("typicality",), "posts": (), "similar": (),
}


def _walk(selections: Iterable[Any], out: dict[str, list[Any]]) -> None:
    for sel in selections:
        if isinstance(sel, SelectedField):
            out.setdefault(sel.name, []).append(sel)
        else:  # FragmentSpread, InlineFragment: their selections count as written here
            _walk(getattr(sel, "selections", ()), out)


def names_below(info: Ctx) -> dict[str, list[Any]]:
    """The fields selected on this field's result, by name (fragments followed)."""
    out: dict[str, list[Any]] = {}
    for field in info.selected_fields:
        _walk(field.selections, out)
    return out


def wants(info: Ctx, name: str) -> bool:
    """Whether the query selects field ``name`` on this field's result."""
    return name in names_below(info)


def _projection_of(selections: Iterable[Any]) -> LinkProjection:
    below: dict[str, list[Any]] = {}
    _walk(selections, below)
    if any(name not in LINK_EDGE_FIELDS and name != "__typename" for name in below):
        return ALL_OF_LINKS
    edge = {p for name in below for p in LINK_EDGE_FIELDS.get(name, ())}
    node: set[str] = set()
    if "text" in below:
        node.add("text")  # an edge's sentence is sent only where it differs from the node's
    for intention in below.get("intention", []):
        inner: dict[str, list[Any]] = {}
        _walk(intention.selections, inner)
        if any(name not in INTENTION_NODE_FIELDS and name != "__typename" for name in inner):
            return ALL_OF_LINKS
        node.update(p for name in inner for p in INTENTION_NODE_FIELDS[name])
    return LinkProjection(edge=frozenset(edge), node=frozenset(node), edge_text="text" in below)


def link_projection(info: Ctx) -> LinkProjection:
    """The properties of intention links that this ``intentions`` field's selection reads
    (worked out once per request and field, not once per post)."""
    key = tuple(id(node) for node in info._raw_info.field_nodes)
    cache = info.context.projections
    found = cache.get(key)
    if found is None:
        found = cache[key] = _projection_of(
            s for field in info.selected_fields for s in field.selections)
    return found


def prefetched_links(info: Ctx) -> LinkProjection | None:
    """On a page of posts: when its nodes select ``intentions`` with no arguments, the links
    to send with the page (one query for the page and its intentions), else None."""
    below = names_below(info)
    nodes: dict[str, list[Any]] = {}
    _walk((s for edge in below.get("edges", []) for s in edge.selections), nodes)
    inner: dict[str, list[Any]] = {}
    _walk((s for node in nodes.get("node", []) for s in node.selections), inner)
    fields = inner.get("intentions", [])
    if not fields or any(field.arguments for field in fields):
        return None
    return _projection_of(s for field in fields for s in field.selections)
