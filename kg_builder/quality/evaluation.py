"""``miko eval``: BERTScore of generated intentions against the MIKO references (Table 3).

For every post of the run that the release also holds (matched by normalised post text) and
every relation whose reference the annotators kept (label 1), the generated intention's tail is
scored against the reference's tail — both cut by ``split_tail``, the function the loader uses.
A missing or empty answer scores 0 and is counted. An empty reference sentence (a quirk of the
public release) is no reference: that relation of that post is not scored, and it is counted.
Beside the model's row, on the same pairs, the answers that need no model:

- ``constant``: the most frequent kept reference tail of the relation among the other posts;
- ``random_reference``: the kept reference of a random other post, same relation;
- ``nearest_reference`` (with an embedder): the kept reference, same relation, of the other post
  whose text is most similar (cosine of the post embeddings) — retrieval from the knowledge at
  hand, the strongest answer that needs no model;
- ``medoid_reference`` (with an embedder): among the kept references of the ``k`` most similar
  other posts, the one most similar to the others (the sum of its cosines to them).

"Other posts" never include the post itself nor a post with the same text (the release repeats
16 posts). Every average has a 95% bootstrap interval over posts (resampling posts, not pairs).
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
import numpy.typing as npt

from kg_builder.core.errors import InputFormatError
from kg_builder.core.models import PostRecord, Rejection
from kg_builder.core.relations import Relation, normalise
from kg_builder.embeddings.base import Embedder, Vectors
from kg_builder.inputs.readers import JsonlReader, MikoReader, ReaderStats, ReadItem
from kg_builder.quality.bertscore import BERTScorer

BASELINES = ("constant", "random_reference")
RETRIEVAL_BASELINES = ("nearest_reference", "medoid_reference")
BOOTSTRAP = 1000


@dataclass
class Pair:
    post_id: str
    relation: Relation
    candidate: str
    reference: str
    constant: str = ""
    random_reference: str = ""
    nearest_reference: str = ""
    medoid_reference: str = ""
    f1: dict[str, float] = field(default_factory=dict)


@dataclass
class EvalReport:
    backbone: str
    posts: int
    pairs: list[Pair]
    rejected: list[Rejection]
    unmatched_posts: int
    empty_references: int = 0
    baselines: tuple[str, ...] = BASELINES
    seed: int = 0

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

    def interval(self, which: str = "model") -> list[float]:
        """95% bootstrap interval of the average (the mean over relations of the mean F1),
        resampling the scored posts with replacement."""
        posts = sorted({p.post_id for p in self.pairs})
        if not posts:
            return [0.0, 0.0]
        index = {post: n for n, post in enumerate(posts)}
        rels = list(Relation)
        sums = np.zeros((len(posts), len(rels)))
        counts = np.zeros((len(posts), len(rels)))
        for pair in self.pairs:
            row, col = index[pair.post_id], rels.index(pair.relation)
            sums[row, col] += pair.f1[which]
            counts[row, col] += 1
        rng = np.random.default_rng(self.seed)
        draws = rng.integers(0, len(posts), (BOOTSTRAP, len(posts)))
        total, n = sums[draws].sum(axis=1), counts[draws].sum(axis=1)  # (BOOTSTRAP, relations)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        averages = 100 * np.nanmean(means, axis=1)
        low, high = np.percentile(averages, [2.5, 97.5])
        return [round(float(low), 2), round(float(high), 2)]

    def as_dict(self) -> dict[str, Any]:
        relations = self.relation_scores()
        baselines = {}
        for name in self.baselines:
            rel = self.relation_scores(name)
            baselines[name] = {"relations": {k: v["f1"] for k, v in rel.items()},
                               "average": self.average(rel), "interval": self.interval(name)}
        return {"backbone": self.backbone, "posts": self.posts,
                "scored_posts": len({p.post_id for p in self.pairs}), "relations": relations,
                "average": self.average(relations), "interval": self.interval(),
                "baselines": baselines, "unmatched_posts": self.unmatched_posts,
                "rejected": len(self.rejected), "empty_references": self.empty_references}

    def verdict(self) -> str:
        data = self.as_dict()
        ours = data["average"]
        below = [f"{name} {b['average']:.1f}" for name, b in data["baselines"].items()
                 if ours <= b["average"]]
        if len(below) == len(self.baselines):
            return f"does NOT beat any baseline ({', '.join(below)})"
        if below:
            return f"does NOT beat the baseline{'s' if len(below) > 1 else ''} {', '.join(below)}"
        return f"beats all {len(self.baselines)} baselines"

    def describe(self) -> list[str]:
        """The report for a terminal: the table (``describe_eval``) and the verdict."""
        return [*describe_eval(self.as_dict()), f"the model {self.verdict()}"]

    def notes(self) -> list[str]:
        """What was not scored, and why (for stderr)."""
        return [*([f"{self.unmatched_posts} posts of the run have no kept reference intention "
                   "in the reference file (not scored)"] if self.unmatched_posts else []),
                *([f"{self.empty_references} empty reference sentences in the reference file: "
                   "no reference for those relations of those posts (not scored)"]
                  if self.empty_references else [])]

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["post_id", "relation", "candidate", "reference", "f1",
                          *(c for name in self.baselines for c in (name, f"{name}_f1"))])
            for p in self.pairs:
                out.writerow([p.post_id, p.relation.value, p.candidate, p.reference,
                              f"{100 * p.f1['model']:.2f}",
                              *(c for name in self.baselines
                                for c in (getattr(p, name), f"{100 * p.f1[name]:.2f}"))])


BASELINE_TITLES = {"constant": "constant", "random_reference": "random ref",
                   "nearest_reference": "nearest ref", "medoid_reference": "medoid ref"}


def describe_eval(data: dict[str, Any]) -> list[str]:
    """The report as the CLI prints it: per relation, the model beside every baseline."""
    base = data["baselines"]
    names = list(base)
    lines = [f"backbone: {data['backbone']}; {data['scored_posts']} posts scored "
             f"({data['posts']} matched), {sum(v['n'] for v in data['relations'].values())} "
             "pairs (kept references); BERTScore F1, 0-100"]
    header = f"{'relation':<10} {'n':>5} {'model':>7}" + "".join(
        f" {BASELINE_TITLES.get(n, n):>11}" for n in names)
    lines.append(header)
    for rel, v in data["relations"].items():
        lines.append(f"{rel:<10} {v['n']:>5} {v['f1']:>7.2f}" + "".join(
            f" {base[n]['relations'][rel]:>11.2f}" for n in names))
    lines.append(f"{'average':<10} {'':>5} {data['average']:>7.2f}" + "".join(
        f" {base[n]['average']:>11.2f}" for n in names))
    low, high = data["interval"]
    lines.append(f"{'95% CI':<10} {'':>5} {f'{low:.1f}-{high:.1f}':>7}" + "".join(
        f" {'{:.1f}-{:.1f}'.format(*base[n]['interval']):>11}" for n in names))
    return lines


def open_run(path: Path) -> Iterable[ReadItem]:
    """A run: ``miko build`` output (JSONL) or a file in the MIKO release format (JSON array)."""
    if not path.is_file():
        raise InputFormatError(f"{path}: no such file; pass the output of `miko build` or a "
                               "MIKO release file")
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return MikoReader(path, source="run") if head.startswith(b"[") else JsonlReader(path)


def evaluate(run: Iterable[ReadItem], references: Iterable[ReadItem], scorer: BERTScorer,
             seed: int = 0, embedder: Embedder | None = None, k: int = 10) -> EvalReport:
    """The run scored against the references, with the baselines (the retrieval ones when an
    ``embedder`` is given, over the ``k`` most similar other posts)."""
    rejected: list[Rejection] = []
    refs: dict[str, dict[Relation, str]] = {}
    texts: dict[str, str] = {}
    by_text: dict[str, list[str]] = defaultdict(list)  # normalised text -> post keys
    for item in references:
        if isinstance(item, Rejection):
            rejected.append(item)
            continue
        kept = {i.relation: i.tail for i in item.intentions if i.label == 1}
        if kept:
            key = _post_key(item)
            refs.setdefault(key, {}).update(kept)
            texts[key] = item.text
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
    baselines: tuple[str, ...] = BASELINES
    if embedder is not None and pairs:
        _retrieval_baselines(pairs, answers, refs, texts, embedder, k)
        baselines = (*BASELINES, *RETRIEVAL_BASELINES)
    candidates = {name: [getattr(p, name) if name != "model" else p.candidate for p in pairs]
                  for name in ("model", *baselines)}
    references_ = [p.reference for p in pairs]
    for name, cands in candidates.items():
        f1 = scorer.score(cands, references_).f1
        for pair, value in zip(pairs, f1, strict=True):
            pair.f1[name] = float(value)
    return EvalReport(scorer.name, len(answers), pairs, rejected, unmatched, empty, baselines,
                      seed)


def _unit(vectors: Vectors) -> npt.NDArray[np.float32]:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = array / np.maximum(norms, 1e-12)
    return unit


def _retrieval_baselines(pairs: list[Pair], answers: dict[str, tuple[str, dict[Relation, str]]],
                         refs: dict[str, dict[Relation, str]], texts: dict[str, str],
                         embedder: Embedder, k: int) -> None:
    """Fill each pair's nearest and medoid reference (see the module's docstring)."""
    keys = sorted(refs)
    row = {key: n for n, key in enumerate(keys)}
    posts = _unit(embedder.embed([texts[key] for key in keys]))
    same_text = np.array([normalise(texts[key]) for key in keys])
    tails = sorted({tail for kept in refs.values() for tail in kept.values()})
    tail_row = {tail: n for n, tail in enumerate(tails)}
    tail_vectors = _unit(embedder.embed(tails))
    by_post_key = {post_id: key for key, (post_id, _) in answers.items()}
    similarity_of: dict[str, npt.NDArray[np.float32]] = {}
    for pair in pairs:
        key = by_post_key[pair.post_id]
        if key not in similarity_of:
            similarity = posts @ posts[row[key]]
            similarity[same_text == normalise(texts[key])] = -np.inf  # itself and its twins
            similarity_of[key] = similarity
        similarity = similarity_of[key]
        order = np.argsort(-similarity, kind="stable")
        neighbours = [refs[keys[i]][pair.relation] for i in order
                      if np.isfinite(similarity[i]) and pair.relation in refs[keys[i]]][:k]
        if not neighbours:
            continue
        pair.nearest_reference = neighbours[0]
        vectors = tail_vectors[[tail_row[t] for t in neighbours]]
        pair.medoid_reference = neighbours[int(np.argmax((vectors @ vectors.T).sum(axis=1)))]


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
