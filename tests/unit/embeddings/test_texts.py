"""What a load embeds: one vector per normalised tail, and the Ray stage stores all of them."""

from __future__ import annotations

from kg_builder.core.models import IntentionRecord, PostRecord
from kg_builder.core.relations import Relation, intention_id
from kg_builder.embeddings.texts import record_texts, tails_to_embed


def test_tails_that_differ_only_in_case_or_spacing_share_one_vector_in_first_seen_order() -> None:
    groups = tails_to_embed([("a", "To  Eat"), ("b", "to sleep"), ("c", "to eat."), ("d", "TO EAT")])
    assert [(g.text, g.ids) for g in groups] == [("To  Eat", ["a", "c", "d"]),
                                               ("to sleep", ["b"])]
    assert tails_to_embed([]) == []


def test_the_ray_stage_stores_every_text_either_loader_asks_for() -> None:
    records = [
        PostRecord(id="p1", text="first post", source="t", intentions=[
            IntentionRecord(relation=Relation.X_INTENT, text="To Eat"),
            IntentionRecord(relation=Relation.X_WANT, text="to sleep")]),
        PostRecord(id="p2", text="second post", source="t", intentions=[
            IntentionRecord(relation=Relation.X_INTENT, text="to eat")]),
    ]
    stored = {text for r in records for text in record_texts(r)}
    assert record_texts(records[0]) == ["first post", "To Eat", "to sleep"]
    # whichever batch a loader meets first, the spelling it embeds was stored ahead
    for batch in (records, records[::-1], records[:1], records[1:]):
        pairs = [(intention_id(i.relation, i.tail), i.tail) for r in batch for i in r.intentions]
        asked = {g.text for g in tails_to_embed(pairs)} | {r.text for r in batch}
        assert asked <= stored
