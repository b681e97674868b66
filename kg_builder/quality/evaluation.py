"""``miko eval``: BERTScore of generated intentions against the MIKO references (Table 3).

For every post of the run that the release also holds (matched by normalised post text) and
every relation whose reference the annotators kept (label 1), the generated intention's tail is
scored against the reference's tail — both cut by ``split_tail``, the function the loader uses.
A missing or empty answer scores 0 and is counted. An empty reference sentence (a quirk of the
public release) is no reference: that relation of that post is not scored, and it is counted.
Beside the model's row, on the same pairs: a constant answer per relation (the most frequent kept
reference tail of that relation among the other posts) and the kept reference of a random other
post of the same relation.
"""

from __future__ import annotations

import csv
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kg_builder.core.errors import InputFormatError
from kg_builder.core.models import PostRecord, Rejection
from kg_builder.core.relations import Relation, normalise
from kg_builder.loading.readers import JsonlReader, MikoReader, ReaderStats, ReadItem
from kg_builder.quality.bertscore import BERTScorer

BASELINES = ("constant", "random_reference")


@dataclass
class Pair:
    post_id: str
    relation: Relation
    candidate: str
    reference: str
    constant: str = ""
    random_reference: str = ""
    f1: dict[str, float] = field(default_factory=dict)


@dataclass
class EvalReport:
    backbone: str
    posts: int
    pairs: list[Pair]
    rejected: list[Rejection]
    unmatched_posts: int
    empty_references: int = 0

    def relation_scores(self, which: str = "model") -> dict[str, dict[str, float | int]]:
        out: dict[str, dict[str, float | int]] = {}
        by_rel: dict[Relation, list[float]] = defaultdict(list)
        for pair in self.pairs:
            by_rel[pair.relation].append(pair.f1[which])
        for rel in Relation:
            scores = by_rel.get(rel, [])
            out[rel.value] = {"f1": round(100 * float(np.mean(scores)), 2) if scores else 0.0,
                              "n": len(scores)}
        return out

    @staticmethod
    def average(relations: dict[str, dict[str, float | int]]) -> float:
        present = [float(v["f1"]) for v in relations.values() if v["n"]]
        return round(float(np.mean(present)), 2) if present else 0.0

    def as_dict(self) -> dict[str, Any]:
        relations = self.relation_scores()
        baselines = {}
        for name in BASELINES:
            rel = self.relation_scores(name)
            baselines[name] = {"relations": {k: v["f1"] for k, v in rel.items()},
                               "average": self.average(rel)}
        return {"backbone": self.backbone, "posts": self.posts, "relations": relations,
                "average": self.average(relations), "baselines": baselines,
                "unmatched_posts": self.unmatched_posts, "rejected": len(self.rejected),
                "empty_references": self.empty_references}

    def verdict(self) -> str:
        data = self.as_dict()
        ours = data["average"]
        below = [f"{name} {b['average']:.1f}" for name, b in data["baselines"].items()
                 if ours <= b["average"]]
        if len(below) == len(BASELINES):
            return f"does NOT beat the baselines ({', '.join(below)})"
        if below:
            return f"does NOT beat the baseline {', '.join(below)}"
        return "beats both baselines"

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["post_id", "relation", "candidate", "reference", "f1",
                          "constant", "constant_f1", "random_reference", "random_reference_f1"])
            for p in self.pairs:
                out.writerow([p.post_id, p.relation.value, p.candidate, p.reference,
                              f"{100 * p.f1['model']:.2f}", p.constant,
                              f"{100 * p.f1['constant']:.2f}", p.random_reference,
                              f"{100 * p.f1['random_reference']:.2f}"])


def open_run(path: Path) -> Iterable[ReadItem]:
    """A run: ``miko build`` output (JSONL) or a file in the MIKO release format (JSON array)."""
    if not path.is_file():
        raise InputFormatError(f"{path}: no such file; pass the output of `miko build` or a "
                               "MIKO release file")
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return MikoReader(path, source="run") if head.startswith(b"[") else JsonlReader(path)


def evaluate(run: Iterable[ReadItem], references: Iterable[ReadItem], scorer: BERTScorer,
             seed: int = 0) -> EvalReport:
    rejected: list[Rejection] = []
    refs: dict[str, dict[Relation, str]] = {}
    by_text: dict[str, list[str]] = defaultdict(list)  # normalised text -> post keys
    for item in references:
        if isinstance(item, Rejection):
            rejected.append(item)
            continue
        kept = {i.relation: i.tail for i in item.intentions if i.label == 1}
        if kept:
            key = _post_key(item)
            refs.setdefault(key, {}).update(kept)
            by_text[normalise(item.text)].append(key)
    stats = getattr(references, "stats", None)
    empty = sum(stats.empty_intentions.values()) if isinstance(stats, ReaderStats) else 0
    if not refs:
        raise InputFormatError("the reference file holds no kept intention (label 1); pass a "
                               "MIKO release file with intentions, such as train.json")
    answers: dict[str, tuple[str, dict[Relation, str]]] = {}
    unmatched = 0
    for item in run:
        if isinstance(item, Rejection):
            rejected.append(item)
            continue
        key = _post_key(item)
        if key not in refs:
            # A run without image names (text-only input): the text alone, if unambiguous.
            same_text = [] if item.image and item.image.file else by_text.get(
                normalise(item.text), [])
            if len(same_text) != 1:
                unmatched += 1
                continue
            key = same_text[0]
        generated: dict[Relation, str] = {}
        for intent in item.intentions:
            generated.setdefault(intent.relation, intent.tail)
        answers.setdefault(key, (item.id, generated))
    pairs = _pairs(answers, refs, seed)
    candidates = {name: [getattr(p, name) if name != "model" else p.candidate for p in pairs]
                  for name in ("model", *BASELINES)}
    references_ = [p.reference for p in pairs]
    for name, cands in candidates.items():
        f1 = scorer.score(cands, references_).f1
        for pair, value in zip(pairs, f1, strict=True):
            pair.f1[name] = float(value)
    return EvalReport(scorer.name, len(answers), pairs, rejected, unmatched, empty)


def _post_key(post: PostRecord) -> str:
    """A post across files: its normalised text and its image's file name (posts that share a
    text but not an image are different posts)."""
    image = post.image.file.replace("\\", "/").rsplit("/", 1)[-1] if post.image and post.image.file else ""
    return f"{normalise(post.text)}\x1f{image}"


def _pairs(answers: dict[str, tuple[str, dict[Relation, str]]],
           refs: dict[str, dict[Relation, str]], seed: int) -> list[Pair]:
    rng = random.Random(seed)
    by_rel: dict[Relation, list[tuple[str, str]]] = defaultdict(list)  # (post key, tail)
    counts: dict[Relation, Counter[str]] = defaultdict(Counter)
    for key, kept in sorted(refs.items()):
        for rel, tail in kept.items():
            by_rel[rel].append((key, tail))
            counts[rel][tail] += 1
    # The two most frequent tails per relation (ties: alphabetical) give the leave-one-out
    # constant answer of every post without recounting.
    top2 = {rel: sorted((-n, t) for t, n in c.items())[:2] for rel, c in counts.items()}
    pairs: list[Pair] = []
    for key in sorted(answers):
        post_id, generated = answers[key]
        for rel, reference in sorted(refs[key].items(), key=lambda kv: kv[0].value):
            ranked = [(n + (1 if t == reference else 0), t) for n, t in top2[rel]]
            ranked = sorted((n, t) for n, t in ranked if n < 0)
            constant = ranked[0][1] if ranked else ""
            pool = by_rel[rel]
            random_ref = ""
            if len(pool) > 1:
                while True:
                    other_key, tail = pool[rng.randrange(len(pool))]
                    if other_key != key:
                        random_ref = tail
                        break
            pairs.append(Pair(post_id, rel, generated.get(rel, ""), reference, constant,
                              random_ref))
    return pairs
