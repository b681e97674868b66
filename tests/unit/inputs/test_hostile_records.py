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
from kg_builder.inputs.readers import JsonlReader, MikoReader, SarcasmReader
from tests.hostile_records import BAD_LINES, DEEP, WANT, line


def write_lines(path: Path, bad: str) -> Path:
    path.write_text("\n".join([json.dumps({"id": "good-1", "text": "the post before"}), bad,
                               json.dumps({"id": "good-2", "text": "the post after"})]) + "\n",
                    encoding="utf-8")
    return path


@pytest.mark.parametrize(("bad", "reason"), [c[2:] for c in BAD_LINES],
                         ids=[c[1] for c in BAD_LINES])
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
    from kg_builder.core.paths import read_confined_file as real

    def flaky(folder: Path, relative: str, max_bytes: int = 1) -> bytes:
        if relative == "boom.jpg":
            raise RuntimeError("the disk is on fire")
        return real(folder, relative)

    monkeypatch.setattr("kg_builder.inputs.readers.read_confined_file", flaky)
    (tmp_path / "ok.jpg").write_bytes(b"jpeg")
    path = write_lines(tmp_path / "posts.jsonl", line(image="boom.jpg"))
    items = list(JsonlReader(path))
    assert [i.id for i in items if isinstance(i, PostRecord)] == ["good-1", "good-2"]
    [rejected] = [i for i in items if isinstance(i, Rejection)]
    assert rejected.line == 2
    assert rejected.reason == "cannot be read (RuntimeError: the disk is on fire)"

    def no_literals(text: str) -> Any:
        raise OSError("the parser broke")

    monkeypatch.setattr("ast.literal_eval", no_literals)
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
