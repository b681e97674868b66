"""Readers: turn input files into validated ``PostRecord``s, reporting every bad record.

Each reader is an iterator of ``PostRecord | Rejection`` plus a ``ReaderStats`` that counts the
quirks of the data it has seen. A bad record never stops a reader; a file that cannot be read at
all raises ``InputFormatError`` naming the file and the fix.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from kg_builder.core.errors import ImageError, InputFormatError, RelationError
from kg_builder.core.models import (
    EXTRA_KEY,
    RESERVED_KEYS,
    ImageRef,
    IntentionRecord,
    KeyInfo,
    Origin,
    PostRecord,
    Rejection,
    visible,
)
from kg_builder.core.paths import read_confined_file
from kg_builder.core.relations import MIKO_KEY_TO_RELATION, Relation
from kg_builder.inputs.json_stream import BadElement, Element, iter_json_array, json_loads
from kg_builder.inputs.lines import MAX_LINE_BYTES, OverlongLine, iter_lines, overlong_reason

FORMATS: tuple[str, ...] = ("miko", "jsonl", "sarcasm")
MIKO_KEYS = frozenset(MIKO_KEY_TO_RELATION)
MIKO_KEY_INDEX = {key: int(key.split()[1]) - 1 for key in MIKO_KEY_TO_RELATION}
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
    empty_intentions: Counter[str] = field(default_factory=Counter)
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
            "empty_intentions": dict(self.empty_intentions),
            "template_mismatches": dict(self.template_mismatches),
            "warnings": len(self.warnings),
        }


def _errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "record"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def unexpected(exc: BaseException) -> str:
    """The reason for a record whose processing raised something no check foresaw: every
    exception of one record becomes that record's rejection, never the end of the load."""
    if isinstance(exc, ValidationError):
        return _errors(exc)
    if isinstance(exc, RecursionError):
        return "nested too deeply to be read"
    if isinstance(exc, MemoryError):
        return "too large to be read in memory"
    text = str(exc)
    return f"cannot be read ({type(exc).__name__}: {text[:300]})" if text else (
        f"cannot be read ({type(exc).__name__})")


def _post_stem(raw: dict[str, Any]) -> str | None:
    """The MIKO post's own name: its image's file stem, else a digest of its text."""
    image, text = raw.get("image"), raw.get("text")
    if isinstance(image, str) and image:
        return os.path.splitext(os.path.basename(image))[0]
    if isinstance(text, str):
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return None


def _safe_stem(raw: Any) -> str | None:
    try:
        return _post_stem(raw) if isinstance(raw, dict) else None
    except Exception:  # the record is rejected by its own validation
        return None


def _content_key(record: PostRecord) -> bytes:
    parts = [record.text, record.image.file if record.image and record.image.file else ""]
    parts.extend(f"{i.relation.value}\x1e{i.text}" for i in record.intentions)
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).digest()


def _is_label(value: Any) -> bool:
    return type(value) is int and value in (0, 1)


class MikoReader:
    """The MIKO release format: ``train.json``/``test.json``, or a folder holding them.

    Streams in two passes over each file, both in linear time and bounded memory: the first
    decodes the elements only to count how often each post occurs; the second validates them and
    yields each post as soon as it is complete — at once for a post that occurs once (nearly all),
    at its last occurrence for a repeated one, with the annotation votes of every occurrence.
    """

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
        image_split: dict[str, str] = {}
        for path, split in self.files():
            occurrences: Counter[str] = Counter()
            for element in iter_json_array(path):
                if isinstance(element, Element):
                    stem = _safe_stem(element.value)
                    if stem is not None:
                        occurrences[stem] += 1
            held: dict[str, tuple[bytes, PostRecord, int]] = {}  # stem -> (key, first, seen)
            for element in iter_json_array(path):
                if isinstance(element, BadElement):
                    self.stats.rejected += 1
                    yield Rejection(file=str(path), line=element.line, item=element.index,
                                    reason=element.reason)
                    continue
                stem = _safe_stem(element.value)
                try:
                    result = self._record(path, split, element, stem)
                except Exception as exc:  # whatever no check foresaw: this record only
                    result = Rejection(file=str(path), line=element.line, item=element.index,
                                       reason=unexpected(exc))
                if isinstance(result, Rejection):
                    self.stats.rejected += 1
                    yield result
                    if stem is not None and occurrences[stem] > 1:
                        occurrences[stem] -= 1  # this occurrence will not come
                        if stem in held and held[stem][2] == occurrences[stem]:
                            yield self._count(held.pop(stem)[1])
                    continue
                assert stem is not None
                if result.image and result.image.file:
                    other = image_split.setdefault(result.image.file, split)
                    if other != split:
                        self.stats.shared_image_names += 1
                if occurrences[stem] <= 1:
                    yield self._count(result)
                    continue
                key = _content_key(result)
                if stem not in held:
                    held[stem] = (key, result, 1)
                else:
                    first_key, first, seen = held[stem]
                    if first_key != key:
                        self.stats.rejected += 1
                        yield Rejection(
                            file=str(path), line=element.line, item=element.index,
                            reason=f"post {result.id} appears again with different content",
                        )
                    else:
                        self.stats.duplicate_posts += 1
                        if self._merge_votes(first, result):
                            self.stats.duplicate_label_conflicts += 1
                    held[stem] = (first_key, first, seen + 1)
                if held[stem][2] == occurrences[stem]:
                    yield self._count(held.pop(stem)[1])
            for _, record, _ in held.values():  # only if the file changed between the passes
                yield self._count(record)

    def _count(self, record: PostRecord) -> PostRecord:
        self.stats.records += 1
        self.stats.posts_by_split[record.split or "?"] += 1
        return record

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
        self, path: Path, split: str, element: Element, stem: str | None
    ) -> PostRecord | Rejection:
        def reject(reason: str) -> Rejection:
            return Rejection(file=str(path), line=element.line, item=element.index, reason=reason)

        raw = element.value
        if not isinstance(raw, dict):
            return reject(f"expected a JSON object, got {type(raw).__name__}")
        text = raw.get("text")
        if not isinstance(text, str) or not visible(text):
            return reject("missing or empty 'text'")
        image = raw.get("image")
        if image is not None and not isinstance(image, str):
            return reject("'image' must be a file name")
        labels = raw.get("intention_labels")
        if labels is not None and (
            not isinstance(labels, list) or len(labels) != len(MIKO_KEYS)
            or not all(_is_label(v) for v in labels)
        ):
            return reject("'intention_labels' must be a list of ten integers 0 or 1")
        intentions: list[dict[str, Any]] = []
        empty: list[Relation] = []
        raw_int = raw.get("intentions")
        if raw_int is not None:
            if not isinstance(raw_int, dict):
                return reject("'intentions' must be an object of 'Intention N': sentence")
            unknown = sorted(set(raw_int) - MIKO_KEYS)
            if unknown:
                return reject(f"unknown intention keys {unknown}; expected 'Intention 1'..'Intention 10'")
            for key, relation in MIKO_KEY_TO_RELATION.items():
                sentence = raw_int.get(key)
                if sentence is None:
                    self.stats.missing_relations[relation.value] += 1
                    continue
                if not isinstance(sentence, str):
                    return reject(f"'{key}' must be a sentence (a string)")
                if not visible(sentence):
                    # A quirk of the public release (label 0): no sentence, so no intention
                    # and no reference; the post keeps the relations it has.
                    empty.append(relation)
                    continue
                label = labels[MIKO_KEY_INDEX[key]] if labels else None
                intentions.append({  # no per-intention source: the post's is theirs
                    "relation": relation, "text": sentence, "label": label,
                    "label_votes": [label] if label is not None else [],
                })
        try:
            record = PostRecord.model_validate({
                "id": f"{self.source}:{split}:{stem}", "text": text, "source": self.source,
                "split": split, "image": {"file": image} if image else None,
                "intentions": intentions, "benchmark_labels": None if intentions else labels,
                "origin": {"file": str(path), "line": element.line, "item": element.index},
            })
        except ValidationError as exc:
            return reject(_errors(exc))
        for intent in record.intentions:
            if not intent.tail_and_match[1]:
                self.stats.template_mismatches[intent.relation.value] += 1
        for relation in empty:  # counted once the post is kept
            self.stats.empty_intentions[relation.value] += 1
        return record


def _lines(path: Path, max_line_bytes: int, reject: Any) -> Iterator[tuple[int, bytes] | Rejection]:
    """The non-blank lines of a file with their numbers; an overlong line as its rejection."""
    with path.open("rb") as fh:
        for lineno, line in iter_lines(fh, max_line_bytes):
            if isinstance(line, OverlongLine):
                yield reject(lineno, overlong_reason(line, max_line_bytes))
            elif line.strip():
                yield lineno, line


class LineReader:
    """A file of one record per line, read in bounded memory (a line over ``max_line_bytes`` is
    rejected without being held): the loop every line format shares. Each line becomes a
    record or a rejection with its line number (whatever no check foresaw rejects that line
    only); ``stats`` counts them by split.

    Duplicate policy (``DUPLICATES``), declared by each format: ``"reject"``, a later record
    with an id already read is rejected, naming it (the first is kept); ``"skip"``, it is
    dropped and counted in ``stats.duplicate_posts`` (a dataset that repeats rows by design).
    """

    DUPLICATES: ClassVar[str] = "reject"
    WHAT: ClassVar[str] = "a file"  # what to pass instead, when the file is not there

    def __init__(self, path: Path, source: str, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.path = Path(path)
        self.source = source
        self.max_line_bytes = max_line_bytes
        self.stats = ReaderStats()

    def _reject(self, lineno: int, reason: str) -> Rejection:
        return Rejection(file=str(self.path), line=lineno, reason=reason)

    def _record(self, lineno: int, raw_line: bytes) -> ReadItem:
        raise NotImplementedError

    def _split(self, record: PostRecord) -> str:
        return record.split or self.source

    def __iter__(self) -> Iterator[ReadItem]:
        if not self.path.is_file():
            raise InputFormatError(f"{self.path}: no such file; pass {self.WHAT}")
        seen: set[str] = set()
        for line in _lines(self.path, self.max_line_bytes, self._reject):
            result: ReadItem
            if isinstance(line, Rejection):
                result, lineno = line, line.line or 0
            else:
                lineno, raw_line = line
                try:
                    result = self._record(lineno, raw_line)
                except Exception as exc:  # whatever no check foresaw: this record only
                    result = self._reject(lineno, unexpected(exc))
            if isinstance(result, PostRecord) and result.id in seen:
                self.stats.duplicate_posts += 1
                if self.DUPLICATES == "skip":
                    continue
                result = self._reject(
                    lineno, f"duplicate post id {result.id!r} (first occurrence kept)")
            if isinstance(result, PostRecord):
                seen.add(result.id)
                self.stats.records += 1
                self.stats.posts_by_split[self._split(result)] += 1
            else:
                self.stats.rejected += 1
            yield result


class JsonlReader(LineReader):
    """One JSON object per line: ``{"id", "text", "image"?, "source"?, "key_info"?, "intentions"?}``.

    ``image`` is a path relative to ``images_dir`` (default: the file's folder). ``intentions``
    is a list of ``{"relation", "text", ...}`` or an object ``{relation: sentence}``. A repeated
    id is rejected.
    """

    WHAT = "a JSONL file of posts"

    def __init__(self, path: Path, source: str | None = None, images_dir: Path | None = None,
                 max_line_bytes: int = MAX_LINE_BYTES) -> None:
        super().__init__(path, source or Path(path).stem, max_line_bytes)
        self.images_dir = images_dir or self.path.parent

    def _record(self, lineno: int, raw_line: bytes) -> ReadItem:
        def reject(reason: str) -> Rejection:
            return self._reject(lineno, reason)

        try:
            obj = json_loads(raw_line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return reject(f"not UTF-8 ({exc.reason} at byte {exc.start})")
        except json.JSONDecodeError as exc:
            return reject(f"invalid JSON: {exc.msg} at column {exc.colno}")
        except ValueError as exc:  # the parse hooks: NaN, Infinity, numbers too long
            return reject(f"invalid JSON: {exc}")
        if not isinstance(obj, dict):
            return reject(f"expected a JSON object, got {type(obj).__name__}")
        post_id = obj.get("id")
        if type(post_id) is int:
            post_id = str(post_id)  # an integer id is the post of its decimal digits
        if not isinstance(post_id, str):
            return reject("'id' must be a JSON string (or an integer)"
                          + ("" if "id" in obj else ": missing 'id'"))
        image = None
        img = obj.get("image")
        if isinstance(img, dict):
            image = ImageRef.model_validate(img)
        elif isinstance(img, str) and img:
            found = self._image(img, lineno)
            if isinstance(found, Rejection):
                return found
            image = found
        elif img is not None:
            return reject("'image' must be a path or an object")
        intentions: list[IntentionRecord] = []
        raw_int = obj.get("intentions") or []
        if isinstance(raw_int, dict):
            raw_int = [{"relation": k, "text": v} for k, v in raw_int.items()]
        if not isinstance(raw_int, list):
            return reject("'intentions' must be a list or an object")
        source = obj.get("source")
        if source is not None and not isinstance(source, str):
            return reject("'source' must be a string")
        source = source or self.source
        for n, item in enumerate(raw_int):
            if not isinstance(item, dict) or "relation" not in item:
                return reject(f"intentions[{n}]: expected an object with 'relation' and 'text'")
            item = dict(item)
            try:
                item["relation"] = Relation.parse(item["relation"])
            except RelationError as exc:
                return reject(f"intentions[{n}]: {exc}")
            item.setdefault("source", source)
            try:
                rec = IntentionRecord.model_validate(item)
            except ValidationError as exc:
                return reject(f"intentions[{n}]: {_errors(exc)}")
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
        try:
            return PostRecord(
                id=post_id, text=text, source=source, split=obj.get("split"),
                benchmark_labels=obj.get("benchmark_labels"),
                image=image, key_info=key_info, intentions=intentions, extra=extra,
                origin=Origin(file=str(self.path), line=lineno),
            )
        except ValidationError as exc:
            return reject(_errors(exc))

    def _image(self, rel: str, lineno: int) -> ImageRef | Rejection:
        """The image by content hash; a path leading outside the images folder (or to a
        non-file, a hard link, or too big) rejects the record; a missing or unreadable file is
        a warning and the image is kept by file name. The path is checked as a stored value
        (cleaned, at most 1,024 characters) before the file system sees it."""
        try:
            named = ImageRef(file=rel)
        except ValidationError as exc:
            return self._reject(lineno, f"image: {_errors(exc)}")
        try:
            digest = hashlib.sha256(read_confined_file(self.images_dir, rel)).hexdigest()
        except ImageError as exc:
            return self._reject(lineno, str(exc))
        except OSError as exc:
            self.stats.warnings.append(self._reject(lineno, (
                f"image {rel!r} not readable in {self.images_dir} "
                f"({exc.strerror or type(exc).__name__}); kept by file name")))
            return named
        return ImageRef(file=named.file, sha256=digest)


class SarcasmReader(LineReader):
    """The Twitter sarcasm text format: one Python literal list per line.

    ``['<tweet id>', '<text>', <label>]`` (train) or ``[id, text, hashtag label, human label]``
    (valid). Parsed with ``ast.literal_eval``; nothing is evaluated. The split is the file's
    stem. The set repeats some tweets: a repeated id is skipped and counted.
    """

    DUPLICATES = "skip"
    WHAT = "train.txt or valid.txt"

    def __init__(self, path: Path, source: str = "twitter_sarcasm",
                 max_line_bytes: int = MAX_LINE_BYTES) -> None:
        super().__init__(path, source, max_line_bytes)
        self.split = self.path.stem

    def _split(self, record: PostRecord) -> str:
        return self.split

    def _record(self, lineno: int, raw_line: bytes) -> ReadItem:
        split = self.split
        def reject(reason: str) -> Rejection:
            return self._reject(lineno, reason)

        try:
            value = ast.literal_eval(raw_line.decode("utf-8").strip())
        except UnicodeDecodeError as exc:
            return reject(f"not UTF-8 ({exc.reason} at byte {exc.start})")
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
            return reject(f"not a Python literal list: {type(exc).__name__}")
        if (
            not isinstance(value, list) or len(value) not in (3, 4)
            or not isinstance(value[0], str) or not isinstance(value[1], str)
            or not all(_is_label(v) for v in value[2:])
        ):
            return reject("expected ['<tweet id>', '<text>', <0/1 label>(, <0/1 label>)]")
        tweet_id = value[0].strip()
        if not (tweet_id.isascii() and tweet_id.isdigit()):
            return reject(f"tweet id {tweet_id[:40]!r} is not numeric")
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
