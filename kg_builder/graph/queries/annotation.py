"""Cypher of the human-judgement loop: sample posts for Label Studio, write judgements back onto
intention edges, read them for the two-stage selection and the report.

On a post-intention edge a judgement is kept as three parallel lists, one entry per
(project, annotator): ``judges`` ("<project key>/<annotator>"), ``judge_scores`` (1, 0, -1) and
``judge_times`` (ISO-8601); the aggregate beside them: ``human_votes``, ``human_score`` (mean),
``human_label`` (the majority's score, null without one) and ``human_agreement`` (share of votes
equal to the most common score, null with one vote).
"""

from __future__ import annotations

from kg_builder.core.key_info import KeyInfoKind

_EDGE_FILTER = ("($source IS NULL OR r.source = $source) "
                "AND ($relation IS NULL OR i.relation = $relation)")


def sample_candidates() -> str:
    """A page of post ids (by id) that have an intention edge of the source and relation."""
    return (
        "MATCH (p:Post) WHERE p.id > $after "
        f"AND EXISTS {{ MATCH (p)-[r]->(i:Intention) WHERE {_EDGE_FILTER} }} "
        "WITH p ORDER BY p.id LIMIT $limit RETURN p.id AS id"
    )


def posts_for_tasks() -> str:
    """What a task shows for each post id: text, image file, description, key information and
    the intention edges (of the source and relation)."""
    types = [kind.rel_type for kind in KeyInfoKind]
    return (
        "UNWIND $ids AS id MATCH (p:Post {id: id}) "
        "OPTIONAL MATCH (p)-[hi:HAS_IMAGE]->(img:Image) "
        "WITH p, head(collect({file: img.file, description: coalesce(hi.description, "
        "img.description)})) AS image "
        "RETURN p.id AS id, p.text AS text, image, "
        f"[(p)-[k]->(n) WHERE type(k) IN {types!r} | {{type: type(k), name: "
        "coalesce(n.display, n.name)}] AS key_info, "
        f"[(p)-[r]->(i:Intention) WHERE {_EDGE_FILTER} | "
        "{relation: i.relation, intention: i.id, text: coalesce(r.text, i.text), "
        "source: coalesce(r.source, '')}] AS edges"
    )


def judgements_of_edges() -> str:
    """The stored judgements of the given (post, intention) edges."""
    return (
        "UNWIND $keys AS key "
        "MATCH (:Post {id: key.post})-[r]->(:Intention {id: key.intention}) "
        "RETURN key.post AS post, key.intention AS intention, elementId(r) AS edge, "
        "coalesce(r.judges, []) AS judges, coalesce(r.judge_scores, []) AS scores, "
        "coalesce(r.judge_times, []) AS times"
    )


def set_judgements() -> str:
    return (
        "UNWIND $rows AS row MATCH (:Post)-[r]->(:Intention) WHERE elementId(r) = row.edge "
        "SET r.judges = row.judges, r.judge_scores = row.scores, r.judge_times = row.times, "
        "r.human_votes = row.votes, r.human_score = row.score, r.human_label = row.label, "
        "r.human_agreement = row.agreement"
    )


def judged_count() -> str:
    """Edges carrying at least one judgement from the project key, and those judgements."""
    return (
        "MATCH (:Post)-[r]->(:Intention) WHERE r.human_votes > 0 "
        "AND any(j IN r.judges WHERE j STARTS WITH $prefix) "
        "RETURN count(r) AS intentions, "
        "sum(size([j IN r.judges WHERE j STARTS WITH $prefix])) AS annotations"
    )


def judged_page() -> str:
    """A page of posts (by id) with their judged intention edges: for the selection and the
    report (votes, aggregate, relation, text, source) and the MIKO-format output (image)."""
    return (
        "MATCH (p:Post) WHERE p.id > $after "
        "AND EXISTS { MATCH (p)-[r]->(:Intention) WHERE r.human_votes > 0 } "
        "WITH p ORDER BY p.id LIMIT $limit "
        "OPTIONAL MATCH (p)-[:HAS_IMAGE]->(img:Image) "
        "WITH p, head(collect(img.file)) AS image "
        "RETURN p.id AS id, p.text AS text, image, "
        "[(p)-[r]->(i:Intention) WHERE r.human_votes > 0 | {relation: i.relation, "
        "text: coalesce(r.text, i.text), source: coalesce(r.source, ''), scores: r.judge_scores, "
        "judges: r.judges, score: r.human_score, label: r.human_label}] AS edges"
    )
