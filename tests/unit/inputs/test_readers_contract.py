"""The input contract: field limits, text checks and images only from the images folder."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from kg_builder.core.errors import ImageError
from kg_builder.core.models import LIMITS, PostRecord, clean_text
from kg_builder.core.paths import confined_file
from kg_builder.inputs.readers import JsonlReader


def read(path: Path, records: Sequence[Mapping[str, object] | str], images: Path | None = None
         ) -> tuple[list[str], dict[int, str]]:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    ids, rejected = [], {}
    for item in JsonlReader(path, images_dir=images):
        if isinstance(item, PostRecord):
            ids.append(item.id)
        else:
            assert item.line is not None
            rejected[item.line] = item.reason
    return ids, rejected


def test_text_is_cleaned_or_refused() -> None:
    assert clean_text("a\x07b\tc\nd") == "a b\tc\nd"
    assert clean_text("Cafe\u0301") == "Caf\u00e9"  # NFC
    with pytest.raises(ValueError, match="NUL"):
        clean_text("a\x00b")


def test_oversized_and_invalid_fields_reject_only_their_record(tmp_path: Path) -> None:
    ids, rejected = read(tmp_path / "p.jsonl", [
        {"id": "ok", "text": "a calm lake"},
        {"id": "long-source", "text": "x", "source": "s" * 10_000},
        {"id": "huge", "text": "x" * (LIMITS["post_text"] + 1)},
        '{"id": "surrogate", "text": "bad \\ud800 text"}',
        {"id": "nul", "text": "a\u0000b"},
        {"id": "many-keywords", "text": "x", "key_info": {"keywords": ["k"] * 21}},
        {"id": "ok2", "text": "another post", "extra_note": "kept"},
    ])
    assert ids == ["ok", "ok2"]
    assert set(rejected) == {2, 3, 4, 5, 6}
    assert "source" in rejected[2] and "200" in rejected[2]
    assert "text" in rejected[3] and "10000" in rejected[3]
    assert "text" in rejected[4] and "unicode" in rejected[4].lower()
    assert "NUL" in rejected[5]
    assert "keywords" in rejected[6]


def test_a_fifty_megabyte_text_is_refused_without_being_embedded(tmp_path: Path) -> None:
    ids, rejected = read(tmp_path / "big.jsonl", [{"id": "big", "text": "word " * 10_000_000},
                                                   {"id": "long", "text": "word " * 20_000},
                                                   {"id": "ok", "text": "fine"}])
    assert ids == ["ok"]
    assert "line is 50,000,025 bytes, over the limit of 1,048,576" in rejected[1]
    assert "at most 10000 characters" in rejected[2]


def test_images_only_from_the_images_folder(tmp_path: Path) -> None:
    images, outside = tmp_path / "images", tmp_path / "secret"
    images.mkdir()
    outside.mkdir()
    (images / "ok.jpg").write_bytes(b"jpeg bytes")
    (outside / "key.pem").write_text("-----BEGIN PRIVATE KEY-----")
    (images / "link.jpg").symlink_to(outside / "key.pem")
    (images / "folder.jpg").mkdir()
    os.mkfifo(images / "pipe.jpg")
    with (images / "huge.jpg").open("wb") as fh:  # sparse: nothing is written to disk
        fh.truncate(25 * 1024 * 1024)
    posts = [{"id": str(n), "text": "t", "image": image} for n, image in enumerate([
        "ok.jpg", "../secret/key.pem", str(outside / "key.pem"), "/dev/zero", "link.jpg",
        "folder.jpg", "pipe.jpg", "huge.jpg", "missing.jpg", "C:\\Windows\\win.ini"])]
    ids, rejected = read(tmp_path / "p.jsonl", posts, images)
    assert ids == ["0", "8"]  # the missing file is a warning: kept by file name
    assert "'..'" in rejected[2] and "absolute" in rejected[3] and "absolute" in rejected[4]
    assert "outside the images folder" in rejected[5]
    assert "not a regular file" in rejected[6] and "not a regular file" in rejected[7]
    assert "over the limit" in rejected[8] and "absolute" in rejected[10]


def test_confined_file_resolves_inside(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.png").write_bytes(b"x")
    assert confined_file(tmp_path, "a/b.png") == (tmp_path / "a" / "b.png").resolve()
    with pytest.raises(ImageError):
        confined_file(tmp_path / "a", "../a/b.png")
    with pytest.raises(FileNotFoundError):
        confined_file(tmp_path, "nope.png")


def test_records_made_in_code_follow_the_same_contract() -> None:
    with pytest.raises(ValidationError, match="source"):
        PostRecord(id="x", text="t", source="s" * 201)
