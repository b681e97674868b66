"""Readers: turn input files into validated ``PostRecord``s, reporting every bad record.

Each reader is an iterator of ``PostRecord | Rejection`` plus a ``ReaderStats`` that counts the
quirks of the data it has seen. A bad record never stops a reader; a file that cannot be read at
all raises ``InputFormatError`` naming the file and the fix.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kg_builder.core.errors import ImageError, InputFormatError
from kg_builder.core.models import (
    ImageRef,
    IntentionRecord,
    KeyInfo,
    Origin,
    PostRecord,
    Rejection,
)
from kg_builder.core.paths import confined_file
from kg_builder.core.relations import MIKO_KEY_TO_RELATION, Relation

# Extra scalar fields of a JSONL post become post properties: only plain lower-case names that
# cannot overwrite the properties miko itself sets.
EXTRA_KEY = re.compile(r"[a-z][a-z0-9_]{0,40}")
RESERVED_KEYS = frozenset({"id", "text", "image", "source", "split", "key_info", "intentions",
                           "embedding", "benchmark_labels", "extra", "origin"})

FORMATS: tuple[str, ...] = ("miko", "jsonl", "sarcasm")
ReadItem = PostRecord | Rejection


@dataclass
class ReaderStats:
    """What a reader saw: records, rejections and the data's known quirks."""

    records: int = 0
    rejected: int = 0
    posts_by_split: Counter[str] = field(default_factory=Counter)
    duplicate_posts: int = 0
    duplicate_label_conflicts: int = 0
    shared_image_names: int = 0
    missing_relations: Counter[str] = field(default_factory=Counter)
    template_mismatches: Counter[str] = field(default_factory=Counter)
    warnings: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "rejected": self.rejected,
            "posts_by_split": dict(self.posts_by_split),
            "duplicate_posts": self.duplicate_posts,
            "duplicate_label_conflicts": self.duplicate_label_conflicts,
            "shared_image_names": self.shared_image_names,
            "missing_relations": dict(self.missing_relations),
            "template_mismatches": dict(self.template_mismatches),
            "warnings": len(self.warnings),
        }


def _errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "record"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


class _Lines:
    """Line numbers of increasing positions in a text, in linear time overall."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def at(self, pos: int) -> int:
        if pos < self.pos:  # never happens in a forward scan; stay correct anyway
            self.pos, self.line = 0, 1
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def _iter_json_array(path: Path) -> Iterator[tuple[int, int, Any] | Rejection]:
    """Yield (item index, line, value) for each element of a top-level JSON array.

    Elements are decoded one by one so that a bad element is reported with its line and the
    elements after it are still read where the array's structure allows.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputFormatError(f"{path}: no such file; pass the path of a MIKO release file") from exc
    except UnicodeDecodeError as exc:
        raise InputFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    decoder = json.JSONDecoder()
    lines = _Lines(text)
    pos = len(text) - len(text.lstrip())
    if not text[pos:pos + 1] == "[":
        raise InputFormatError(
            f"{path}:{lines.at(pos)}: expected a JSON array of posts (the MIKO release "
            "format); for one JSON object per line use --format jsonl"
        )
    pos += 1
    index = 0
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n:
            yield Rejection(file=str(path), line=lines.at(pos), reason="unterminated JSON array")
            return
        if text[pos] == "]":
            return
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield Rejection(
                file=str(path), line=exc.lineno, item=index, reason=f"invalid JSON: {exc.msg}"
            )
            # Skip to the next element start at top level: find the next '{' after a newline.
            nxt = text.find("\n  {", exc.pos)
            if nxt < 0:
                nxt = text.find("{", exc.pos + 1)
            if nxt < 0:
                return
            pos = nxt
            index += 1
            continue
        yield (index, lines.at(pos), value)
        index += 1
        pos = end


def _content_key(record: PostRecord) -> str:
    payload = json.dumps(
        [record.text, record.image.file if record.image else None,
         [(i.relation.value, i.text) for i in record.intentions]],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class MikoReader:
    """The MIKO release format: ``train.json``/``test.json``, or a folder holding them."""

    def __init__(self, path: Path, source: str = "miko") -> None:
        self.path = Path(path)
        self.source = source
        self.stats = ReaderStats()

    def files(self) -> list[tuple[Path, str]]:
        if self.path.is_dir():
            found = [(self.path / f"{split}.json", split) for split in ("train", "test")]
            found = [(p, s) for p, s in found if p.exists()]
            if not found:
                raise InputFormatError(
                    f"{self.path}: no train.json or test.json here; pass a MIKO release folder"
                )
            return found
        if not self.path.exists():
            raise InputFormatError(f"{self.path}: no such file or folder")
        return [(self.path, self.path.stem)]

    def __iter__(self) -> Iterator[ReadItem]:
        seen: dict[str, tuple[str, PostRecord]] = {}
        image_split: dict[str, str] = {}
        for path, split in self.files():
            for item in _iter_json_array(path):
                if isinstance(item, Rejection):
                    self.stats.rejected += 1
                    yield item
                    continue
                index, line, raw = item
                result = self._record(path, split, index, line, raw)
                if isinstance(result, Rejection):
                    self.stats.rejected += 1
                    yield result
                    continue
                key = _content_key(result)
                previous = seen.get(result.id)
                if previous is not None:
                    prev_key, prev = previous
                    if prev_key != key:
                        self.stats.rejected += 1
                        yield Rejection(
                            file=str(path), line=line, item=index,
                            reason=f"post {result.id} appears again with different content",
                        )
                        continue
                    self.stats.duplicate_posts += 1
                    if self._merge_votes(prev, result):
                        self.stats.duplicate_label_conflicts += 1
                    continue
                if result.image and result.image.file:
                    other = image_split.setdefault(result.image.file, split)
                    if other != split:
                        self.stats.shared_image_names += 1
                seen[result.id] = (key, result)
        for _, record in seen.values():
            self.stats.records += 1
            self.stats.posts_by_split[record.split or "?"] += 1
            yield record

    @staticmethod
    def _merge_votes(first: PostRecord, dup: PostRecord) -> bool:
        """Add a duplicate's annotation votes to the first occurrence; True if they differ."""
        conflict = False
        by_rel = {i.relation: i for i in dup.intentions}
        for intent in first.intentions:
            other = by_rel.get(intent.relation)
            if other is None:
                continue
            intent.label_votes.extend(other.label_votes)
            conflict |= other.label != intent.label
        if first.benchmark_labels != dup.benchmark_labels and not first.intentions:
            conflict = True
        return conflict

    def _record(
        self, path: Path, split: str, index: int, line: int, raw: Any
    ) -> PostRecord | Rejection:
        def reject(reason: str) -> Rejection:
            return Rejection(file=str(path), line=line, item=index, reason=reason)

        if not isinstance(raw, dict):
            return reject(f"expected a JSON object, got {type(raw).__name__}")
        text = raw.get("text")
        if not isinstance(text, str) or not text.strip():
            return reject("missing or empty 'text'")
        image = raw.get("image")
        if image is not None and not isinstance(image, str):
            return reject("'image' must be a file name")
        labels = raw.get("intention_labels")
        if labels is not None and (
            not isinstance(labels, list) or len(labels) != 10
            or any(v not in (0, 1) for v in labels)
        ):
            return reject("'intention_labels' must be a list of ten 0/1 values")
        stem = Path(image).stem if image else hashlib.sha256(text.encode()).hexdigest()[:16]
        intentions: list[IntentionRecord] = []
        raw_int = raw.get("intentions")
        if raw_int is not None:
            if not isinstance(raw_int, dict):
                return reject("'intentions' must be an object of 'Intention N': sentence")
            unknown = sorted(set(raw_int) - set(MIKO_KEY_TO_RELATION))
            if unknown:
                return reject(f"unknown intention keys {unknown}; expected 'Intention 1'..'Intention 10'")
            for key, relation in MIKO_KEY_TO_RELATION.items():
                sentence = raw_int.get(key)
                if sentence is None:
                    self.stats.missing_relations[relation.value] += 1
                    continue
                if not isinstance(sentence, str) or not sentence.strip():
                    return reject(f"'{key}' must be a non-empty sentence")
                pos = int(key.split()[1]) - 1
                label = labels[pos] if labels else None
                rec = IntentionRecord(
                    relation=relation, text=sentence, label=label,
                    label_votes=[label] if label is not None else [], source=self.source,
                )
                if not rec.tail_and_match[1]:
                    self.stats.template_mismatches[relation.value] += 1
                intentions.append(rec)
        try:
            return PostRecord(
                id=f"{self.source}:{split}:{stem}", text=text, source=self.source, split=split,
                image=ImageRef(file=image) if image else None, intentions=intentions,
                benchmark_labels=None if intentions else labels,
                origin=Origin(file=str(path), line=line, item=index),
            )
        except ValidationError as exc:
            return reject(_errors(exc))


class JsonlReader:
    """One JSON object per line: ``{"id", "text", "image"?, "source"?, "key_info"?, "intentions"?}``.

    ``image`` is a path relative to ``images_dir`` (default: the file's folder). ``intentions``
    is a list of ``{"relation", "text", ...}`` or an object ``{relation: sentence}``.
    """

    def __init__(self, path: Path, source: str | None = None, images_dir: Path | None = None) -> None:
        self.path = Path(path)
        self.source = source or self.path.stem
        self.images_dir = images_dir or self.path.parent
        self.stats = ReaderStats()

    def __iter__(self) -> Iterator[ReadItem]:
        if not self.path.is_file():
            raise InputFormatError(f"{self.path}: no such file; pass a JSONL file of posts")
        seen: set[str] = set()
        with self.path.open("rb") as fh:
            for lineno, raw_line in enumerate(fh, start=1):
                if not raw_line.strip():
                    continue
                result = self._record(lineno, raw_line)
                if isinstance(result, PostRecord):
                    if result.id in seen:
                        result = Rejection(
                            file=str(self.path), line=lineno,
                            reason=f"duplicate post id {result.id!r} (first occurrence kept)",
                        )
                        self.stats.duplicate_posts += 1
                    else:
                        seen.add(result.id)
                if isinstance(result, Rejection):
                    self.stats.rejected += 1
                else:
                    self.stats.records += 1
                    self.stats.posts_by_split[result.split or self.source] += 1
                yield result

    def _record(self, lineno: int, raw_line: bytes) -> ReadItem:
        def reject(reason: str) -> Rejection:
            return Rejection(file=str(self.path), line=lineno, reason=reason)

        try:
            obj = json.loads(raw_line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return reject(f"not UTF-8 ({exc.reason} at byte {exc.start})")
        except json.JSONDecodeError as exc:
            return reject(f"invalid JSON: {exc.msg} at column {exc.colno}")
        if not isinstance(obj, dict):
            return reject(f"expected a JSON object, got {type(obj).__name__}")
        if "id" not in obj or not isinstance(obj["id"], str | int) or str(obj["id"]).strip() == "":
            return reject("missing 'id' (a non-empty string or integer)")
        image = None
        img = obj.get("image")
        if isinstance(img, dict):
            try:
                image = ImageRef.model_validate(img)
            except ValidationError as exc:
                return reject(_errors(exc))
        elif isinstance(img, str) and img:
            found = self._image(img, lineno)
            if isinstance(found, Rejection):
                return found
            image = found
        elif img is not None:
            return reject("'image' must be a path or an object")
        intentions: list[IntentionRecord] = []
        raw_int = obj.get("intentions") or []
        try:
            if isinstance(raw_int, dict):
                raw_int = [{"relation": k, "text": v} for k, v in raw_int.items()]
            if not isinstance(raw_int, list):
                return reject("'intentions' must be a list or an object")
            for n, item in enumerate(raw_int):
                if not isinstance(item, dict) or "relation" not in item:
                    return reject(f"intentions[{n}]: expected an object with 'relation' and 'text'")
                item = dict(item)
                try:
                    item["relation"] = Relation.parse(str(item["relation"]))
                except Exception as exc:  # RelationError
                    return reject(f"intentions[{n}]: {exc}")
                item.setdefault("source", obj.get("source") or self.source)
                rec = IntentionRecord.model_validate(item)
                if not rec.tail_and_match[1]:
                    self.stats.template_mismatches[rec.relation.value] += 1
                intentions.append(rec)
            key_info = KeyInfo.model_validate(obj["key_info"]) if obj.get("key_info") else None
            text = obj.get("text")
            if not isinstance(text, str):
                return reject("missing 'text' (a string)")
            nested = obj.get("extra") or {}  # as `miko build` writes them
            if not isinstance(nested, dict):
                return reject("'extra' must be an object of scalar values")
            extra = {k: v for k, v in [*obj.items(), *nested.items()]
                     if k not in RESERVED_KEYS and EXTRA_KEY.fullmatch(k)
                     and isinstance(v, str | int | float | bool)}
            return PostRecord(
                id=str(obj["id"]), text=text,
                source=str(obj.get("source") or self.source), split=obj.get("split"),
                benchmark_labels=obj.get("benchmark_labels"),
                image=image, key_info=key_info, intentions=intentions, extra=extra,
                origin=Origin(file=str(self.path), line=lineno),
            )
        except ValidationError as exc:
            return reject(_errors(exc))

    def _image(self, rel: str, lineno: int) -> ImageRef | Rejection:
        """The image by content hash; a path leading outside the images folder (or to a
        non-file, or too big) rejects the record; a missing or unreadable file is a warning and
        the image is kept by file name."""
        try:
            path = confined_file(self.images_dir, rel)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except ImageError as exc:
            return Rejection(file=str(self.path), line=lineno, reason=str(exc))
        except OSError as exc:
            self.stats.warnings.append(Rejection(
                file=str(self.path), line=lineno,
                reason=f"image {rel!r} not readable in {self.images_dir} ({exc.strerror}); kept "
                       "by file name",
            ))
            return ImageRef(file=rel)
        return ImageRef(file=rel, sha256=digest)


class SarcasmReader:
    """The Twitter sarcasm text format: one Python literal list per line.

    ``['<tweet id>', '<text>', <label>]`` (train) or ``[id, text, hashtag label, human label]``
    (valid). Parsed with ``ast.literal_eval``; nothing is evaluated.
    """

    def __init__(self, path: Path, source: str = "twitter_sarcasm") -> None:
        self.path = Path(path)
        self.source = source
        self.stats = ReaderStats()

    def __iter__(self) -> Iterator[ReadItem]:
        if not self.path.is_file():
            raise InputFormatError(f"{self.path}: no such file; pass train.txt or valid.txt")
        split = self.path.stem
        seen: set[str] = set()
        with self.path.open("rb") as fh:
            for lineno, raw_line in enumerate(fh, start=1):
                if not raw_line.strip():
                    continue
                result = self._record(lineno, raw_line, split)
                if isinstance(result, PostRecord):
                    if result.id in seen:
                        self.stats.duplicate_posts += 1
                        continue
                    seen.add(result.id)
                    self.stats.records += 1
                    self.stats.posts_by_split[split] += 1
                else:
                    self.stats.rejected += 1
                yield result

    def _record(self, lineno: int, raw_line: bytes, split: str) -> ReadItem:
        def reject(reason: str) -> Rejection:
            return Rejection(file=str(self.path), line=lineno, reason=reason)

        try:
            value = ast.literal_eval(raw_line.decode("utf-8").strip())
        except UnicodeDecodeError as exc:
            return reject(f"not UTF-8 ({exc.reason} at byte {exc.start})")
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            return reject(f"not a Python literal list: {type(exc).__name__}")
        if (
            not isinstance(value, list) or len(value) not in (3, 4)
            or not isinstance(value[0], str) or not isinstance(value[1], str)
            or not all(isinstance(v, int) and v in (0, 1) for v in value[2:])
        ):
            return reject("expected ['<tweet id>', '<text>', <0/1 label>(, <0/1 label>)]")
        tweet_id = value[0].strip()
        if not tweet_id.isdigit():
            return reject(f"tweet id {tweet_id!r} is not numeric")
        extra: dict[str, str | int | float | bool] = {"sarcasm_label": value[2]}
        if len(value) == 4:
            extra["sarcasm_human_label"] = value[3]
        try:
            return PostRecord(
                id=f"{self.source}:{tweet_id}", text=value[1].strip(), source=self.source,
                split=split, image=ImageRef(file=f"{tweet_id}.jpg"), extra=extra,
                origin=Origin(file=str(self.path), line=lineno),
            )
        except ValidationError as exc:
            return reject(_errors(exc))


Reader = MikoReader | JsonlReader | SarcasmReader


def open_reader(
    path: Path, fmt: str, source: str | None = None, images_dir: Path | None = None
) -> Reader:
    """A reader for ``path`` in format ``fmt`` (one of FORMATS)."""
    if fmt == "miko":
        return MikoReader(path, source=source or "miko")
    if fmt == "jsonl":
        return JsonlReader(path, source=source, images_dir=images_dir)
    if fmt == "sarcasm":
        return SarcasmReader(path, source=source or "twitter_sarcasm")
    raise InputFormatError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
