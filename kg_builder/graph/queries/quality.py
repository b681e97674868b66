"""Cypher of the quality loop: critic scores on intention edges (and their maximum per node)."""

from __future__ import annotations


def edges_to_score_page() -> str:
    """A page of posts (by id) with the vectors of their edges that need a critic score."""
    return (
        "MATCH (p:Post) WHERE p.id > $after AND p.embedding IS NOT NULL "
        "WITH p ORDER BY p.id LIMIT $limit "
        "RETURN p.id AS post, p.embedding AS embedding, "
        "[(p)-[r]->(i:Intention) WHERE i.embedding IS NOT NULL AND ($all OR "
        "r.critic_version IS NULL OR r.critic_version <> $version) | "
        "{id: elementId(r), intention: i.id, relation: i.relation, embedding: i.embedding}] "
        "AS edges"
    )


def set_edge_typicality() -> str:
    return (
        "UNWIND $rows AS row MATCH (:Post)-[r]->(:Intention) WHERE elementId(r) = row.id "
        "SET r.typicality = row.typicality, r.critic = $critic, r.critic_version = $version"
    )


def set_intention_typicality() -> str:
    """An intention's typicality: the highest of its edges' (typical for at least one post)."""
    return (
        "UNWIND $ids AS id MATCH (i:Intention {id: id}) "
        "CALL (i) { MATCH (:Post)-[r]->(i) RETURN max(r.typicality) AS best } "
        "SET i.typicality = best"
    )


def typicality_summary() -> str:
    """How many intention edges the critic has scored, their mean, which critic versions."""
    return (
        "MATCH (:Post)-[r]->(:Intention) "
        "RETURN count(r.typicality) AS scored, avg(r.typicality) AS mean, "
        "collect(DISTINCT r.critic_version) AS versions"
    )


def student_examples_page() -> str:
    """A page of one split's posts (by id) with their stored embedding and kept intentions
    (label 1): the in-context examples the student is shown at generation time."""
    return (
        "MATCH (p:Post) WHERE p.id > $after AND p.split = $split WITH p ORDER BY p.id "
        "LIMIT $limit "
        "RETURN p.id AS id, p.text AS text, p.embedding AS embedding, "
        "[(p)-[r]->(i:Intention) WHERE r.label = 1 | {relation: i.relation, tail: i.tail}] "
        "AS kept"
    )


def export_page() -> str:
    """A page of posts (by id) with what a training example needs: text, image description,
    key information and the intention edges that pass the filters."""
    return (
        "MATCH (p:Post) WHERE p.id > $after WITH p ORDER BY p.id LIMIT $limit "
        "OPTIONAL MATCH (p)-[hi:HAS_IMAGE]->(img:Image) "
        "WITH p, head(collect(coalesce(hi.description, img.description))) AS description "
        "RETURN p.id AS id, p.text AS text, description, "
        "[(p)-[k]->(n) WHERE type(k) IN $key_types | {type: type(k), name: "
        "coalesce(n.display, n.name)}] AS key_info, "
        "[(p)-[r]->(i:Intention) WHERE ($min_typicality IS NULL OR r.typicality >= "
        "$min_typicality) AND ($label IS NULL OR r.label = $label) "
        "AND ($human_label IS NULL OR r.human_label = $human_label) | "
        "{relation: i.relation, text: coalesce(r.text, i.text)}] AS intentions"
    )


def student_page() -> str:
    """A page of one split's posts (by id) with their kept intentions (label 1) whose edge the
    critic scored at least ``$min_typicality`` (null: any): what the student learns from."""
    return (
        "MATCH (p:Post) WHERE p.id > $after AND p.split = $split WITH p ORDER BY p.id "
        "LIMIT $limit "
        "RETURN p.id AS id, p.text AS text, "
        "[(p)-[r]->(i:Intention) WHERE r.label = 1 AND ($min_typicality IS NULL OR "
        "r.typicality >= $min_typicality) | {relation: i.relation, tail: i.tail}] AS kept"
    )
