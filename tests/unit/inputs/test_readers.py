import json
from pathlib import Path

import pytest

from kg_builder.core.errors import InputFormatError
from kg_builder.core.models import PostRecord, Rejection
from kg_builder.core.relations import Relation
from kg_builder.inputs.readers import JsonlReader, MikoReader, SarcasmReader


def split(items: list[PostRecord | Rejection]) -> tuple[list[PostRecord], list[Rejection]]:
    return ([i for i in items if isinstance(i, PostRecord)],
            [i for i in items if isinstance(i, Rejection)])


def test_miko_release_quirks(data_dir: Path) -> None:
    reader = MikoReader(data_dir / "miko")
    posts, bad = split(list(reader))
    assert bad == []
    st = reader.stats
    assert st.posts_by_split == {"train": 765, "test": 119}
    assert st.duplicate_posts == 16
    assert st.duplicate_label_conflicts == 14
    assert st.shared_image_names == 9
    assert st.missing_relations == {"Open": 12}
    train = [p for p in posts if p.split == "train"]
    assert sum(len(p.intentions) for p in train) == 765 * 10 - 12
    first = next(p for p in posts if p.id == "miko:train:129")
    assert first.intentions[0].relation is Relation.X_WANT
    assert first.intentions[0].tail.startswith("inform followers about Lil Weezyana Fest 2")
    # A duplicated post keeps both annotation votes on each edge.
    dup = next(p for p in posts if p.id == "miko:train:172")
    assert all(len(i.label_votes) == 2 for i in dup.intentions)
    test = next(p for p in posts if p.split == "test")
    assert test.intentions == [] and test.benchmark_labels is not None


def test_miko_bad_items_reported_with_line(tmp_path: Path) -> None:
    good = {"image": "1.jpg", "text": "hello", "intention_labels": [1] * 10,
            "intentions": {"Intention 1": "After posting this Tweet, the user wants to rest."}}
    path = tmp_path / "train.json"
    path.write_text(
        "[\n" + json.dumps(good) + ",\n"
        + json.dumps({"image": "2.jpg", "text": ""}) + ",\n"
        + json.dumps({"image": "3.jpg", "text": "x", "intentions": {"Intention 99": "y"}}) + ",\n"
        + json.dumps({"image": "4.jpg", "text": "ok", "intention_labels": [2]}) + ",\n"
        + json.dumps(dict(good, image="5.jpg")) + "\n]\n"
    )
    posts, bad = split(list(MikoReader(path)))
    assert [p.id for p in posts] == ["miko:train:1", "miko:train:5"]
    assert [(b.line, b.item) for b in bad] == [(3, 1), (4, 2), (5, 3)]
    assert "empty 'text'" in bad[0].reason
    assert "Intention 99" in bad[1].reason
    assert "intention_labels" in bad[2].reason


def test_miko_not_an_array_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"a": 1}')
    with pytest.raises(InputFormatError, match=r"expected a JSON array.*--format jsonl"):
        list(MikoReader(path))


def test_jsonl_reader_reports_bad_lines_and_keeps_the_rest(tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    img.write_bytes(b"not really a png but bytes")
    lines = [
        json.dumps({"id": "p1", "text": "first", "image": "a.png"}),
        "{not json",
        json.dumps({"text": "no id"}),
        json.dumps({"id": "p2", "text": "second", "image": "missing.jpg",
                    "intentions": {"xWant": "After posting this Tweet, the user wants to nap."}}),
        json.dumps({"id": "p3", "text": "bad rel", "intentions": [{"relation": "KNOWS", "text": "x"}]}),
        json.dumps({"id": "p1", "text": "dup"}),
        "",
        json.dumps(["a", "list"]),
    ]
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with path.open("ab") as fh:
        fh.write(b"\xff\xfe broken utf8\n")
    reader = JsonlReader(path, source="test")
    posts, bad = split(list(reader))
    assert [p.id for p in posts] == ["p1", "p2"]
    assert posts[0].image is not None and posts[0].image.sha256 is not None
    assert posts[1].image is not None and posts[1].image.sha256 is None
    assert posts[1].intentions[0].relation is Relation.X_WANT
    assert [b.line for b in bad] == [2, 3, 5, 6, 8, 9]
    assert "invalid JSON" in bad[0].reason and "'id'" in bad[1].reason
    assert "KNOWS" in bad[2].reason and "duplicate" in bad[3].reason
    assert "not UTF-8" in bad[5].reason
    assert len(reader.stats.warnings) == 1 and reader.stats.warnings[0].line == 4


def test_sarcasm_reader_parses_literals_safely(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text(
        "['123', 'so fun # not', 1]\n"
        "__import__('os').system('echo pwned')\n"
        "['124', 'valid line', 0, 1]\n"
        "['abc', 'bad id', 1]\n"
        "['125', 'bad label', 7]\n"
    )
    reader = SarcasmReader(path)
    posts, bad = split(list(reader))
    assert [p.id for p in posts] == ["twitter_sarcasm:123", "twitter_sarcasm:124"]
    assert posts[1].extra == {"sarcasm_label": 0, "sarcasm_human_label": 1}
    assert posts[0].image is not None and posts[0].image.file == "123.jpg"
    assert [b.line for b in bad] == [2, 4, 5]


def test_sarcasm_real_file_reads_completely(data_dir: Path) -> None:
    reader = SarcasmReader(data_dir / "twitter_sarcasm" / "valid.txt")
    posts, bad = split(list(reader))
    assert len(posts) + len(bad) + reader.stats.duplicate_posts == 2410
    assert len(posts) > 2400


def test_miko_repeated_posts_merge_votes_even_around_bad_occurrences(tmp_path: Path) -> None:
    """A repeated post is yielded once, at its last good occurrence, with every occurrence's
    votes; a bad occurrence or one with other content is rejected without losing the first."""
    sentence = "After posting this Tweet, the user wants to rest."
    post = {"image": "7.jpg", "text": "tired", "intentions": {"Intention 1": sentence}}
    other = {"image": "8.jpg", "text": "other", "intentions": {"Intention 1": sentence}}
    items = [dict(post, intention_labels=[1] * 10), other,
             dict(post, intention_labels=[0] * 10),
             dict(post, intention_labels=[9] * 10),  # bad labels: rejected
             dict(post, text="changed", intention_labels=[1] * 10)]  # other content: rejected
    path = tmp_path / "train.json"
    path.write_text("[\n" + ",\n".join(json.dumps(i) for i in items) + "\n]\n")
    reader = MikoReader(path)
    posts, bad = split(list(reader))
    assert [p.id for p in posts] == ["miko:train:8", "miko:train:7"]
    assert posts[1].intentions[0].label_votes == [1, 0]
    assert [(b.line, b.item) for b in bad] == [(5, 3), (6, 4)]
    assert "appears again with different content" in bad[1].reason
    assert reader.stats.duplicate_posts == 1 and reader.stats.duplicate_label_conflicts == 1
    assert reader.stats.records == 2 and reader.stats.rejected == 2
