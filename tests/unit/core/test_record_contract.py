"""The record contract of kg_builder/core: limits checked on the stored (cleaned, normalised)
form, texts that must show something, strict labels and relation names, scalars Neo4j can
store, image files read only when they are the folder's own, reports that cannot fail."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from kg_builder.core.errors import ImageError, RelationError
from kg_builder.core.models import (
    LIMITS,
    ImageRef,
    IntentionRecord,
    KeyInfo,
    PostRecord,
    Rejection,
    clean_text,
    visible,
)
from kg_builder.core.paths import confined_file, read_confined_file
from kg_builder.core.relations import Relation

# HEBREW LETTER SHIN WITH DAGESH AND SHIN DOT: one character, three once NFC-normalised (it is
# excluded from composition), so n of them are stored as 3n characters.
EXPANDS = "\ufb2c"


def post(**fields: Any) -> PostRecord:
    return PostRecord(**{"id": "p", "text": "a post", "source": "s", **fields})


def intention(**fields: Any) -> IntentionRecord:
    return IntentionRecord(**{"relation": Relation.X_WANT, "text": "wants to rest", **fields})


# (field, its limit, a record made with the value, the stored value read back)
FIELDS: list[tuple[str, int, Callable[[str], Any], Callable[[Any], str]]] = [
    ("post id", LIMITS["post_id"], lambda v: post(id=v), lambda r: r.id),
    ("post text", LIMITS["post_text"], lambda v: post(text=v), lambda r: r.text),
    ("source", LIMITS["source"], lambda v: post(source=v), lambda r: r.source),
    ("split", LIMITS["split"], lambda v: post(split=v), lambda r: r.split),
    ("image path", LIMITS["image_file"], lambda v: ImageRef(file=v), lambda r: r.file),
    ("image description", LIMITS["image_description"],
     lambda v: ImageRef(file="a.jpg", description=v), lambda r: r.description),
    ("key-information name", LIMITS["key_info_name"], lambda v: KeyInfo(concept=v),
     lambda r: r.concept),
    ("keyword", LIMITS["key_info_name"], lambda v: KeyInfo(keywords=[v]), lambda r: r.keywords[0]),
    ("intention sentence", LIMITS["intention_text"], lambda v: intention(text=v),
     lambda r: r.text),
    ("intention model", LIMITS["source"], lambda v: intention(model=v), lambda r: r.model),
    ("intention prompt version", LIMITS["source"], lambda v: intention(prompt_version=v),
     lambda r: r.prompt_version),
    ("extra property", LIMITS["extra_value"], lambda v: post(extra={"note": v}),
     lambda r: r.extra["note"]),
]
FIELD_IDS = [f[0] for f in FIELDS]


def test_the_expanding_character_expands() -> None:
    assert len(unicodedata.normalize("NFC", EXPANDS)) == 3


@pytest.mark.parametrize(("name", "limit", "make", "stored"), FIELDS, ids=FIELD_IDS)
def test_every_limit_is_checked_on_the_stored_value(
    name: str, limit: int, make: Callable[[str], Any], stored: Callable[[Any], str]
) -> None:
    assert stored(make("a" * limit)) == "a" * limit  # at the limit: kept as is
    with pytest.raises(ValidationError, match=f"at most {limit} characters once normalised"):
        make("a" * (limit + 1))
    # Within the limit as given, over it once normalised: refused (it would be stored longer).
    count = limit // 3 + 1
    assert count <= limit < 3 * count
    with pytest.raises(ValidationError, match=f"at most {limit} characters once normalised "
                                              rf"\(it has {3 * count:,}\)"):
        make(EXPANDS * count)
    # Over the limit as given, within it once cleaned (bidi controls are removed): kept.
    assert stored(make("ok" + "\u202e" * limit)) == "ok"


@pytest.mark.parametrize("value", ["\x01\x02\x03", "   ", "\t\n", "\u200b\u200c\u200d\ufeff",
                                   "\u202e\u2066", "\u0301\u0302", "\u3164\u115f", "\U000e0041",
                                   "\u00a0\u2028", ""])
def test_ids_texts_and_sentences_must_show_something(value: str) -> None:
    assert not visible(clean_text(value))
    for make in (lambda v: post(id=v), lambda v: post(text=v), lambda v: intention(text=v),
                 lambda v: post(source=v), lambda v: ImageRef(file=v)):
        with pytest.raises(ValidationError, match="no visible character"):
            make(value)


@pytest.mark.parametrize("value", ["a", "\u200ba", "e\u0301", "日本", "\U0001f600", "\ue000"])
def test_a_visible_character_is_enough(value: str) -> None:
    assert visible(value)
    assert post(id=value).id == unicodedata.normalize("NFC", value)


def test_cleaning_rules() -> None:
    assert clean_text("one\r\ntwo\rthree\nfour") == "one\ntwo\nthree\nfour"
    assert clean_text("abc\u202egpj.exe") == "abcgpj.exe"  # no right-to-left override kept
    assert clean_text("\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069x") == "x"
    assert clean_text("a\x07b\x0bc\x0cd\tf") == "a b c d\tf"
    assert clean_text("Cafe\u0301") == "Caf\u00e9"
    assert clean_text("\u200e stays") == "\u200e stays"  # marks are not controls: kept
    for bad, why in (("a\x00b", "NUL"), ("a\ud800b", "lone surrogate")):
        with pytest.raises(ValueError, match=why):
            clean_text(bad)
    assert post(text="line one\r\nline two").text == "line one\nline two"
    assert intention(text="wants  to\r\n rest").text == "wants to rest"


@pytest.mark.parametrize("label", [0, 1])
def test_labels_are_zero_or_one(label: int) -> None:
    rec = intention(label=label, label_votes=[label, 1 - label])
    assert (rec.label, rec.label_votes) == (label, [label, 1 - label])
    assert post(benchmark_labels=[label] * 10).benchmark_labels == [label] * 10


@pytest.mark.parametrize("bad", [-1, 2, True, False, 1.0, "1", None])
def test_anything_else_is_not_a_label(bad: Any) -> None:
    if bad is not None:
        with pytest.raises(ValidationError, match="label"):
            intention(label=bad)
    with pytest.raises(ValidationError, match="label_votes"):
        intention(label_votes=[1, bad])
    with pytest.raises(ValidationError, match="benchmark_labels"):
        post(benchmark_labels=[bad] + [0] * 9)


@pytest.mark.parametrize("count", [0, 2, 9, 11])
def test_benchmark_labels_are_exactly_ten(count: int) -> None:
    with pytest.raises(ValidationError, match="benchmark_labels"):
        post(benchmark_labels=[1] * count)


def test_votes_are_capped() -> None:
    assert len(intention(label_votes=[1] * LIMITS["label_votes"]).label_votes) == 100
    with pytest.raises(ValidationError, match="label_votes"):
        intention(label_votes=[1] * (LIMITS["label_votes"] + 1))


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), 0, 1.5, -0.0, True, "text", 1e308])
def test_extra_scalars_neo4j_stores(value: Any) -> None:
    assert post(extra={"v": value}).extra == {"v": value}


@pytest.mark.parametrize(("value", "why"), [
    (2**63, "signed 64-bit"), (-(2**63) - 1, "signed 64-bit"), (2**64, "signed 64-bit"),
    (10**5000, "thousands of digits"), (float("nan"), "not a finite number"),
    (float("inf"), "not a finite number"), (float("-inf"), "not a finite number"),
], ids=["2^63", "-2^63-1", "2^64", "10^5000", "nan", "inf", "-inf"])
def test_extra_scalars_neo4j_cannot_store_are_refused(value: Any, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        post(extra={"v": value})


@pytest.mark.parametrize("key", ["id", "embedding", "text", "Upper", "with-dash", "", "x" * 42,
                                 "1abc"])
def test_extra_names_cannot_overwrite_or_break_anything(key: str) -> None:
    with pytest.raises(ValidationError, match="reserved or not a lower-case name"):
        post(extra={key: 1})


def test_an_image_needs_a_name_or_a_hash() -> None:
    with pytest.raises(ValidationError, match="needs a file name or a sha256"):
        ImageRef()
    with pytest.raises(ValidationError, match="needs a file name or a sha256"):
        ImageRef(description="a cat")
    for bad, why in (("a\x00.jpg", "NUL"), ("a\ud800.jpg", "valid string|surrogate"),
                     ("a" * 1025, "at most 1024")):
        with pytest.raises(ValidationError, match=why):
            ImageRef(file=bad)


@pytest.mark.parametrize("rel", list(Relation))
def test_relations_parse_only_their_documented_spellings(rel: Relation) -> None:
    for spelling in (rel.value, rel.name, rel.label):
        for form in (spelling, spelling.lower(), spelling.upper()):
            assert Relation.parse(form) is rel


@pytest.mark.parametrize("bad", [
    "x-w-a-n-t !!", "9xWant9", " xWant", "xWant ", "x want", "x__want", "xWants", "X-WANT",
    "\uff58\uff37\uff41\uff4e\uff54", "xWant\u200b", "xw\u0430nt", "KNOWS", "", "want",
    ["xWant"], ("xWant",), {"xWant": 1}, 5, 1.5, True, None,
])
def test_relations_refuse_everything_else(bad: object) -> None:
    with pytest.raises(RelationError, match="use one of"):
        Relation.parse(bad)


def test_reports_survive_any_file_name_and_reason() -> None:
    rejection = Rejection(file="posts-\udcff.jsonl", line=3, reason="bad \ud800 " + "x" * 5000)
    assert rejection.file == "posts-\\udcff.jsonl"
    assert rejection.reason.startswith("bad \\ud800 x") and len(rejection.reason) == 1003
    assert '"line":3' in rejection.model_dump_json()


# --- images: only the folder's own files, read from the file that was checked ---------------

@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    images, outside = tmp_path / "images", tmp_path / "outside"
    images.mkdir()
    outside.mkdir()
    (outside / "secret.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----")
    (images / "ok.jpg").write_bytes(b"jpeg bytes")
    return images, outside


def test_a_hard_link_to_a_file_elsewhere_is_refused_with_the_fix(
    folders: tuple[Path, Path]
) -> None:
    images, outside = folders
    os.link(outside / "secret.pem", images / "cat.jpg")
    for read in (read_confined_file, confined_file):
        with pytest.raises(ImageError, match=r"'cat.jpg' has 2 hard links.*copy it into the "
                                             r"folder \(cp, not ln\)"):
            read(images, "cat.jpg")
    (images / "cat.jpg").unlink()
    assert read_confined_file(images, "ok.jpg") == b"jpeg bytes"


def test_links_inside_are_followed_and_links_outside_refused(folders: tuple[Path, Path]) -> None:
    images, outside = folders
    (images / "sub").mkdir()
    (images / "sub" / "alias.jpg").symlink_to(images / "ok.jpg")
    (images / "dir-link").symlink_to(images / "sub", target_is_directory=True)
    assert read_confined_file(images, "sub/alias.jpg") == b"jpeg bytes"
    assert read_confined_file(images, "dir-link/alias.jpg") == b"jpeg bytes"
    (images / "out.jpg").symlink_to(outside / "secret.pem")
    (images / "out-dir").symlink_to(outside, target_is_directory=True)
    for rel in ("out.jpg", "out-dir/secret.pem"):
        with pytest.raises(ImageError, match="leads outside the images folder"):
            read_confined_file(images, rel)
    (images / "loop.jpg").symlink_to(images / "loop.jpg")
    with pytest.raises(ImageError):
        read_confined_file(images, "loop.jpg")


def test_non_files_and_big_files_are_refused_before_they_are_opened(
    folders: tuple[Path, Path]
) -> None:
    images, _ = folders
    os.mkfifo(images / "pipe.jpg")  # opening it for reading would block: it must not be opened
    (images / "folder.jpg").mkdir()
    with (images / "huge.jpg").open("wb") as fh:
        fh.truncate(25 * 1024 * 1024)
    for rel in ("pipe.jpg", "folder.jpg", "."):
        with pytest.raises(ImageError, match="not a regular file"):
            read_confined_file(images, rel)
    with pytest.raises(ImageError, match="over the limit"):
        read_confined_file(images, "huge.jpg")
    for rel, why in (("../outside/secret.pem", "'..'"), ("/etc/passwd", "absolute"),
                     ("a\x00b", "NUL"), ("a\ud800b", "lone surrogate")):
        with pytest.raises(ImageError, match=why):
            read_confined_file(images, rel)
    with pytest.raises(FileNotFoundError):
        read_confined_file(images, "missing.jpg")
