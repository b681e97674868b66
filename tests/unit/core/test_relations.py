import json

import pytest

from kg_builder.core.errors import RelationError
from kg_builder.core.relations import (
    MIKO_KEY_TO_RELATION,
    RELATION_SPECS,
    Relation,
    _split_tail_by_pattern,
    intention_id,
    normalise,
    split_tail,
)
from kg_builder.core.settings import Settings
from kg_builder.graph.queries.admin import schema_statements, vector_index_properties


@pytest.mark.parametrize(
    ("relation", "sentence", "tail"),
    [
        (Relation.X_WANT, "After posting this Tweet, the user wants to inform followers.",
         "inform followers."),
        (Relation.X_WANT, "After posting this Instagram pic, the user wants people to laugh.",
         "people to laugh."),
        (Relation.O_EFFECT, "After viewing this Tweet, others will be curious.", "be curious."),
        (Relation.X_ATTR, "The user posts this Tweet because the user is a fan of jazz.",
         "a fan of jazz."),
        (Relation.X_ATTR, "The user posts this Tweet because they want to motivate others.",
         "want to motivate others."),
        (Relation.X_INTENT, "The user posts this tweet because the user intended to promote it.",
         "promote it."),
        (Relation.X_REACT, "After posting this Tweet, the user feels proud.", "proud."),
        (Relation.O_REACT, "After viewing this Tweet, others feel inspired.", "inspired."),
        (Relation.O_WANT, "After viewing this Tweet, others want to join.", "join."),
        (Relation.X_EFFECT, "After posting this Tweet, the user will check replies.",
         "check replies."),
        (Relation.X_NEED, "Before posting this tweet, the user needs to take a photo.",
         "take a photo."),
        (Relation.OPEN, "The user post this tweet because they want to showcase love.",
         "want to showcase love."),
        (Relation.OPEN, "The user posted this tweet to show off their ring.",
         "show off their ring."),
    ],
)
def test_split_tail_cuts_each_template(relation: Relation, sentence: str, tail: str) -> None:
    assert split_tail(relation, sentence) == (tail, True)


def test_split_tail_reports_mismatch_and_keeps_sentence() -> None:
    assert split_tail(Relation.X_WANT, "Something else entirely.") == ("Something else entirely.", False)
    assert split_tail(Relation.OPEN, "The user posts this tweet because") == (
        "The user posts this tweet because", False)


def test_exact_template_shortcut_agrees_with_the_pattern() -> None:
    """split_tail skips the pattern for sentences that start with the exact template; on every
    MIKO sentence and on edge cases around the template's end both ways give the same answer."""
    release = json.loads((Settings().data_dir / "miko" / "train.json").read_text(encoding="utf-8"))
    cases = [(rel, post["intentions"][key]) for post in release
             for key, rel in MIKO_KEY_TO_RELATION.items() if key in post["intentions"]]
    for rel, spec in RELATION_SPECS.items():
        t = spec.template
        cases += [(rel, t), (rel, t + " "), (rel, t + " ."), (rel, t + "  to go"),
                  (rel, t + "x more"), (rel, t + " to to go"), (rel, t + "\n be there")]
    shortcut = 0
    for rel, sentence in cases:
        assert split_tail(rel, sentence) == _split_tail_by_pattern(rel, sentence), (rel, sentence)
        shortcut += sentence.startswith(RELATION_SPECS[rel].template)
    assert shortcut > 7000  # the shortcut was exercised, not only the pattern


def test_intention_id_is_stable_and_relation_scoped() -> None:
    a = intention_id(Relation.X_WANT, "Share  the news.")
    assert a == intention_id(Relation.X_WANT, "share the news")
    assert a != intention_id(Relation.O_WANT, "share the news")
    assert a.startswith("xWant:")


def test_normalise_drops_zero_width_and_case() -> None:
    assert normalise("He\u200bllo   WORLD!") == "hello world"


@pytest.mark.parametrize("spelling", ["xWant", "X_WANT", "xwant", "x_want"])
def test_relation_parse_accepts_spellings(spelling: str) -> None:
    assert Relation.parse(spelling) is Relation.X_WANT


@pytest.mark.parametrize("bad", ["X]->() DETACH DELETE n", "Knows", ""])
def test_relation_parse_rejects_everything_else(bad: str) -> None:
    with pytest.raises(RelationError, match="use one of"):
        Relation.parse(bad)


def test_labels_and_types_are_identifiers() -> None:
    for rel in Relation:
        assert rel.label.isalpha() and rel.rel_type.replace("_", "").isalpha()
    assert Relation.O_WANT.label == "OWant" and Relation.OPEN.rel_type == "OPEN"


def test_schema_file_has_one_vector_index_per_node_kind_with_its_filters() -> None:
    text = "\n".join(schema_statements())
    assert text.count("CREATE VECTOR INDEX") == 2
    assert ("CYPHER 25 CREATE VECTOR INDEX intention_embedding IF NOT EXISTS FOR (n:Intention) "
            "ON n.embedding\n  WITH [n.relation, n.typicality]") in text
    assert vector_index_properties() == {
        "post_embedding": ["embedding", "source", "split", "has_image"],
        "intention_embedding": ["embedding", "relation", "typicality"]}
