"""Hostile records in every reader: each one is rejected with its line and reason (or, for the
release's empty sentences, loaded without that intention and counted), and the records around
it are read as if it were not there. Nothing a record holds can end the read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from kg_builder.core.models import PostRecord, Rejection
from kg_builder.core.relations import Relation
from kg_builder.loading import readers
from kg_builder.loading.readers import JsonlReader, MikoReader, SarcasmReader

EXPANDS = "\ufb2c"  # one character, three once NFC-normalised
WANT = "After posting this Tweet, the user wants to rest."
DEEP = "[" * 100_000 + "]" * 100_000


def line(**fields: Any) -> str:
    return json.dumps({"id": "bad", "text": "a post", **fields})


def raw(fields: str) -> str:
    return '{"id": "bad", "text": "a post", ' + fields + "}"


# (finding of issue #27, the bad JSONL line, what its rejection says)
BAD_LINES: list[tuple[str, str, str]] = [
    # 8: one bad value ends nothing
    ("number of 4,301 digits", raw('"count": ' + "7" * 4301), "4,301 digits (more than 4,300)"),
    ("number of 5,000 digits in an ignored field", raw('"Count": -' + "7" * 5000), "5,000 digits"),
    ("integer 2^64", line(count=2**64), "outside Neo4j's signed 64-bit range"),
    ("integer 2^63", line(count=2**63), "outside Neo4j's signed 64-bit range"),
    ("integer -2^63-1", line(count=-(2**63) - 1), "outside Neo4j's signed 64-bit range"),
    ("integer 2^64 as a label", line(intentions=[{"relation": "xWant", "text": WANT,
                                                  "label": 2**64}]), "label"),
    ("integer 2^64 as a benchmark label", line(benchmark_labels=[2**64] + [0] * 9),
     "benchmark_labels"),
    ("NUL in the image path", line(image="cat\u0000.jpg"), "image: file: Value error, contains a NUL"),
    ("lone surrogate in the image path", raw('"image": "cat\\ud800.jpg"'), "image: file:"),
    ("image path of 1,025 characters", line(image="a" * 1021 + ".jpg"), "at most 1024 characters"),
    # 9: limits on what is stored
    ("id of 512 characters, 1,536 once NFC", line(id=EXPANDS * 512),
     "id: Value error, should have at most 512 characters once normalised (it has 1,536)"),
    ("text of 10,000 characters, 30,000 once NFC", line(text=EXPANDS * 10_000),
     "text: Value error, should have at most 10000 characters once normalised (it has 30,000)"),
    ("image path of 400 characters, 1,200 once NFC", line(image=EXPANDS * 400),
     "at most 1024 characters once normalised"),
    # 11: the contract as the README says it
    ("id of control characters", line(id="\u0001\u0002\u0003"), "id: Value error, has no visible"),
    ("id of zero-width characters", line(id="\u200b\u2060"), "id: Value error, has no visible"),
    ("text of zero-width characters", line(text="\u200b\u200c\u200d\ufeff"),
     "text: Value error, has no visible"),
    ("sentence of zero-width characters", line(intentions={"xWant": "\u200b \u200b"}),
     "intentions[0]: text: Value error, has no visible"),
    ("relation 'x-w-a-n-t !!'", line(intentions={"x-w-a-n-t !!": WANT}),
     "unknown relation 'x-w-a-n-t !!'"),
    ("relation '9xWant9'", line(intentions={"9xWant9": WANT}), "unknown relation '9xWant9'"),
    ("relation ['xWant']", line(intentions=[{"relation": ["xWant"], "text": WANT}]),
     "unknown relation of type list"),
    ("relation 5", line(intentions=[{"relation": 5, "text": WANT}]), "unknown relation of type int"),
    ("label -1", line(intentions=[{"relation": "xWant", "text": WANT, "label": -1}]),
     "label: Input should be greater than or equal to 0"),
    ("label true", line(intentions=[{"relation": "xWant", "text": WANT, "label": True}]),
     "label: Input should be a valid integer"),
    ("label 1.0", line(intentions=[{"relation": "xWant", "text": WANT, "label": 1.0}]),
     "label: Input should be a valid integer"),
    ("label '1'", line(intentions=[{"relation": "xWant", "text": WANT, "label": "1"}]),
     "label: Input should be a valid integer"),
    ("two benchmark labels", line(benchmark_labels=[1, 0]),
     "benchmark_labels: List should have at least 10 items"),
    ("eleven benchmark labels", line(benchmark_labels=[1] * 11),
     "benchmark_labels: List should have at most 10 items"),
    ("benchmark labels true", line(benchmark_labels=[True] * 10), "benchmark_labels.0"),
    ("label vote 7", line(intentions=[{"relation": "xWant", "text": WANT,
                                       "label_votes": [0, 7]}]), "label_votes.1"),
    ("label vote true", line(intentions=[{"relation": "xWant", "text": WANT,
                                          "label_votes": [True]}]), "label_votes.0"),
    ("id true", raw('"id": true').replace('"id": "bad", ', ""), "'id' must be a JSON string"),
    ("id 1.5", raw('"id": 1.5').replace('"id": "bad", ', ""), "'id' must be a JSON string"),
    ("id null", raw('"id": null').replace('"id": "bad", ', ""), "'id' must be a JSON string"),
    ("id missing", json.dumps({"text": "a post"}), "missing 'id'"),
    ("NaN", raw('"score": NaN'), "NaN is not a JSON number"),
    ("Infinity", raw('"score": Infinity'), "Infinity is not a JSON number"),
    ("-Infinity", raw('"score": -Infinity'), "-Infinity is not a JSON number"),
    ("1e400", raw('"score": 1e400'), "1e400 is too large"),
    ("nested 100,000 deep", raw('"deep": ' + DEEP), "nested too deeply"),
    ("image without a name", line(image={"description": "a cat"}), "needs a file name"),
    ("source that is not a string", line(source={"a": 1}), "'source' must be a string"),
]


def write_lines(path: Path, bad: str) -> Path:
    path.write_text("\n".join([json.dumps({"id": "good-1", "text": "the post before"}), bad,
                               json.dumps({"id": "good-2", "text": "the post after"})]) + "\n",
                    encoding="utf-8")
    return path


@pytest.mark.parametrize(("bad", "reason"), [c[1:] for c in BAD_LINES],
                         ids=[c[0] for c in BAD_LINES])
def test_a_bad_jsonl_record_is_rejected_alone(tmp_path: Path, bad: str, reason: str) -> None:
    reader = JsonlReader(write_lines(tmp_path / "posts.jsonl", bad))
    items = list(reader)
    assert [i.id for i in items if isinstance(i, PostRecord)] == ["good-1", "good-2"]
    [rejected] = [i for i in items if isinstance(i, Rejection)]
    assert (rejected.file, rejected.line) == (str(tmp_path / "posts.jsonl"), 2)
    assert reason in rejected.reason, rejected.reason
    assert (reader.stats.records, reader.stats.rejected) == (2, 1)


def test_what_is_stored_of_what_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": 42, "text": "line one\r\nline two\rthree \u202etxt.exe"}),
        json.dumps({"id": 2**64, "text": "an id of twenty digits, converted explicitly"}),
        json.dumps({"id": "rtl\u202e-id", "text": "x", "count": 2**63 - 1, "ratio": 0.5,
                    "flag": True, "intentions": {"X_WANT": WANT, "xwant": WANT.replace(
                        "rest", "sleep"), "XWant": WANT.replace("rest", "eat"), "OPEN":
                        "The user posts this tweet because they can."}}),
    ]) + "\n")
    posts = list(JsonlReader(path))
    assert all(isinstance(p, PostRecord) for p in posts), posts
    first, second, third = (p for p in posts if isinstance(p, PostRecord))
    assert (first.id, first.text) == ("42", "line one\nline two\nthree txt.exe")
    assert second.id == "18446744073709551616"
    assert third.id == "rtl-id"
    assert third.extra == {"count": 2**63 - 1, "ratio": 0.5, "flag": True}
    assert [i.relation for i in third.intentions] == [Relation.X_WANT] * 3 + [Relation.OPEN]


def test_images_read_only_when_they_are_the_folders_own(tmp_path: Path) -> None:
    images, outside = tmp_path / "images", tmp_path / "outside"
    images.mkdir()
    outside.mkdir()
    (outside / "id_rsa").write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    os.link(outside / "id_rsa", images / "linked.jpg")
    (images / "own.jpg").write_bytes(b"jpeg")
    path = tmp_path / "posts.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{n}", "text": "t", "image": image}) + "\n"
                            for n, image in enumerate(["own.jpg", "linked.jpg", "own.jpg"])))
    items = list(JsonlReader(path, images_dir=images))
    assert [i.id for i in items if isinstance(i, PostRecord)] == ["p0", "p2"]
    assert all(i.image and i.image.sha256 for i in items if isinstance(i, PostRecord))
    [rejected] = [i for i in items if isinstance(i, Rejection)]
    assert rejected.line == 2
    assert "'linked.jpg' has 2 hard links" in rejected.reason
    assert "copy it into the folder (cp, not ln)" in rejected.reason


def test_an_exception_no_check_foresaw_rejects_only_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = readers.read_confined_file

    def flaky(folder: Path, relative: str, max_bytes: int = 1) -> bytes:
        if relative == "boom.jpg":
            raise RuntimeError("the disk is on fire")
        return real(folder, relative)

    monkeypatch.setattr(readers, "read_confined_file", flaky)
    (tmp_path / "ok.jpg").write_bytes(b"jpeg")
    path = write_lines(tmp_path / "posts.jsonl", line(image="boom.jpg"))
    items = list(JsonlReader(path))
    assert [i.id for i in items if isinstance(i, PostRecord)] == ["good-1", "good-2"]
    [rejected] = [i for i in items if isinstance(i, Rejection)]
    assert rejected.line == 2
    assert rejected.reason == "cannot be read (RuntimeError: the disk is on fire)"

    def no_literals(text: str) -> Any:
        raise OSError("the parser broke")

    monkeypatch.setattr(readers.ast, "literal_eval", no_literals)
    sarcasm = tmp_path / "train.txt"
    sarcasm.write_text("['1', 'one', 0]\n")
    [only] = list(SarcasmReader(sarcasm))
    assert isinstance(only, Rejection) and only.line == 1
    assert only.reason == "cannot be read (OSError: the parser broke)"


# --- the MIKO release format ---------------------------------------------------------------

def release_post(image: str, **changes: Any) -> dict[str, Any]:
    post: dict[str, Any] = {
        "image": image, "text": f"post {image}", "intention_labels": [1] * 10,
        "intentions": {"Intention 1": WANT,
                       "Intention 5": "After posting this Tweet, the user feels calm."}}
    post.update(changes)
    return post


def test_an_empty_sentence_of_the_release_is_no_intention_and_is_counted(tmp_path: Path) -> None:
    """The public release has posts whose intention sentence is "" (label 0): the post keeps
    the relations it has, and the reader counts the empty ones per relation."""
    path = tmp_path / "train.json"
    empty = release_post("2.jpg", intention_labels=[0] * 10,
                         intentions={"Intention 1": "", "Intention 5":
                                     "After posting this Tweet, the user feels calm."})
    blank = release_post("3.jpg", intentions={"Intention 1": WANT, "Intention 5": " \u200b "})
    path.write_text(json.dumps([release_post("1.jpg"), empty, blank, release_post("4.jpg")]))
    reader = MikoReader(path)
    items = list(reader)
    assert all(isinstance(i, PostRecord) for i in items), items
    by_id = {i.id: i for i in items if isinstance(i, PostRecord)}
    assert [i.relation for i in by_id["miko:train:2"].intentions] == [Relation.X_REACT]
    assert [i.relation for i in by_id["miko:train:3"].intentions] == [Relation.X_WANT]
    assert len(by_id["miko:train:1"].intentions) == len(by_id["miko:train:4"].intentions) == 2
    assert reader.stats.empty_intentions == {"xWant": 1, "xReact": 1}
    assert reader.stats.as_dict()["empty_intentions"] == {"xWant": 1, "xReact": 1}
    assert reader.stats.rejected == 0


@pytest.mark.parametrize(("element", "reason"), [
    ('{"image": "2.jpg", "text": "t", "n": ' + "9" * 4301 + "}", "4,301 digits"),
    ('{"image": "2.jpg", "text": "t", "intention_labels": [NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0]}',
     "NaN is not a JSON number"),
    (json.dumps(release_post("2.jpg", intention_labels=[True] * 10)), "ten integers 0 or 1"),
    (json.dumps(release_post("2.jpg", intention_labels=[1.0] * 10)), "ten integers 0 or 1"),
    (json.dumps(release_post("2.jpg", intention_labels=[1, 0])), "ten integers 0 or 1"),
    (json.dumps(release_post("2.jpg", intentions={"Intention 1": 5})),
     "'Intention 1' must be a sentence"),
    (json.dumps(release_post("2.jpg", text="\u200b")), "missing or empty 'text'"),
    (json.dumps(release_post("a\u0000.jpg")), "contains a NUL character"),
    ('{"image": "2.jpg", "text": "t", "x": ' + DEEP + "}", "nested too deeply"),
], ids=["digits", "nan", "bool labels", "float labels", "two labels", "sentence 5",
        "invisible text", "nul image", "deep"])
def test_a_bad_release_element_is_rejected_alone(tmp_path: Path, element: str,
                                                 reason: str) -> None:
    path = tmp_path / "train.json"
    path.write_text("[\n" + json.dumps(release_post("1.jpg")) + ",\n" + element + ",\n"
                    + json.dumps(release_post("3.jpg")) + "\n]\n")
    items = list(MikoReader(path))
    assert [i.id for i in items if isinstance(i, PostRecord)] == ["miko:train:1", "miko:train:3"]
    [rejected] = [i for i in items if isinstance(i, Rejection)]
    assert (rejected.line, rejected.item) == (3, 1)
    assert reason in rejected.reason, rejected.reason


# --- the sarcasm format --------------------------------------------------------------------

@pytest.mark.parametrize(("bad", "reason"), [
    ("['2', 'bool label', True]", "expected ['<tweet id>'"),
    ("['2', 'big label', " + str(2**64) + "]", "expected ['<tweet id>'"),
    ("['2', 'digits', " + "9" * 5000 + "]", "not a Python literal list: SyntaxError"),
    ("['2', 'deep', " + "[" * 5000 + "]" * 5000 + "]", "not a Python literal list"),
    ("['2', '\u200b\u200b', 1]", "text: Value error, has no visible character"),
    ("['2', 'a\\x00b', 1]", "contains a NUL character"),
    ("['\u0662', 'arabic digit id', 1]", "is not numeric"),
], ids=["bool", "2^64", "digits", "deep", "invisible", "nul", "non-ascii digit"])
def test_a_bad_sarcasm_line_is_rejected_alone(tmp_path: Path, bad: str, reason: str) -> None:
    path = tmp_path / "train.txt"
    path.write_text(f"['1', 'before', 0]\n{bad}\n['3', 'after', 1]\n", encoding="utf-8")
    items = list(SarcasmReader(path))
    assert [i.id for i in items if isinstance(i, PostRecord)] == [
        "twitter_sarcasm:1", "twitter_sarcasm:3"]
    [rejected] = [i for i in items if isinstance(i, Rejection)]
    assert rejected.line == 2 and reason in rejected.reason, rejected.reason
