"""The annotation round trip: export a sample of the graph to Label Studio, import the
judgements onto the intention edges, select the benchmark the paper's way, report Figure 4."""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from neo4j import Driver, RoutingControl

from kg_builder.annotation.client import LabelStudioClient
from kg_builder.annotation.interface import (
    TaskEdge,
    edge_field,
    judgements_of,
    label_config,
    task_data,
    task_key,
    thumbnail_data_uri,
)
from kg_builder.annotation.judgements import (
    SCORE_NAMES,
    Vote,
    aggregate,
    krippendorff_alpha,
    merge_votes,
    pairwise_agreement,
)
from kg_builder.annotation.server import LocalLabelStudio, endpoint
from kg_builder.core.errors import AnnotationError, ImageError
from kg_builder.core.models import Rejection
from kg_builder.core.paths import confined_file
from kg_builder.core.relations import MIKO_KEY_TO_RELATION, Relation
from kg_builder.core.settings import DEFAULT_LOCAL_PASSWORD, Settings
from kg_builder.graph.driver import graph
from kg_builder.graph.paging import post_pages
from kg_builder.graph.queries import annotation as q

PAGE = 1000
WRITE_BATCH = 500
Progress = Callable[[str], None]


def _read(driver: Driver, database: str, query: str, **params: Any) -> list[Any]:
    records, _, _ = driver.execute_query(query, params, database_=database,
                                         routing_=RoutingControl.READ)
    return records


def project_key(url: str, project: int) -> str:
    """The prefix of a project's judges on the edges: its server and number."""
    return f"{urlsplit(url).netloc}#{project}/"


# --- export --------------------------------------------------------------------------------

@dataclass
class ExportResult:
    project_id: int
    title: str
    url: str
    created: bool
    posts: int  # posts sampled
    tasks: int  # tasks of the sample now in the project
    added: int  # of which this run added
    images: int = 0  # tasks showing their image
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "tasks": self.tasks, "added": self.added,
                "posts": self.posts, "title": self.title, "url": self.url,
                "created": self.created, "images": self.images,
                "rejected": [r.model_dump() for r in self.rejected]}

    def describe(self) -> list[str]:
        return [f"project {self.project_id} ({self.title!r}, "
                f"{'created' if self.created else 'updated'}): {self.tasks:,} tasks of "
                f"{self.posts:,} posts, {self.added:,} new; {self.images:,} new with their image",
                f"  annotate at {self.url}",
                f"  then: miko annotate import --project {self.project_id}"]


def sample_title(sample: int, seed: int, relation: Relation | None, source: str | None) -> str:
    parts = [f"miko sample {sample} seed {seed}"]
    if relation:
        parts.append(relation.value)
    if source:
        parts.append(f"source {source}")
    return " ".join(parts)[:50]


def sample_posts(driver: Driver, database: str, sample: int, seed: int,
                 relation: Relation | None, source: str | None) -> list[str]:
    """``sample`` post ids drawn uniformly (seeded) among the posts with an intention edge of
    the relation and source; the same graph, size and seed give the same sample."""
    params = {"limit": 10 * PAGE, "relation": relation.value if relation else None, "source": source}
    ids = [r["id"] for page in post_pages(driver, database, q.sample_candidates(), params)
           for r in page]
    if not ids:
        return []
    return sorted(random.Random(seed).sample(ids, min(sample, len(ids))))


def export_sample(driver: Driver, database: str, client: LabelStudioClient, *, sample: int,
                  seed: int = 0, relation: Relation | None = None, source: str | None = None,
                  images_dir: Path | None = None, title: str | None = None,
                  progress: Progress | None = None) -> ExportResult:
    relations = [relation] if relation else list(Relation)
    title = title or sample_title(sample, seed, relation, source)
    ids = sample_posts(driver, database, sample, seed, relation, source)
    description = (f"{len(ids)} posts sampled with seed {seed} by `miko annotate export`"
                   + (f", relation {relation.value}" if relation else "")
                   + (f", source {source}" if source else "")
                   + ". Judge each intention: 1 high typicality, 0 low typicality, -1 implausible.")
    project, created = client.ensure_project(title, description,
                                             label_config(relations, with_image=images_dir is not None))
    existing = {str(t["data"].get("miko_key")) for t in client.tasks(project, with_annotations=False)}
    result = ExportResult(project_id=project, title=title, url=f"{client.endpoint.url}/projects/{project}",
                          created=created, posts=len(ids), tasks=0, added=0)
    new: list[dict[str, str]] = []
    for start in range(0, len(ids), WRITE_BATCH):
        for row in _read(driver, database, q.posts_for_tasks(), ids=ids[start:start + WRITE_BATCH],
                         relation=relation.value if relation else None, source=source):
            by_source: dict[str, list[TaskEdge]] = defaultdict(list)
            for e in sorted(row["edges"], key=lambda e: (e["source"], e["relation"], e["intention"])):
                by_source[e["source"]].append(TaskEdge(Relation(e["relation"]), e["intention"], e["text"]))
            key_info: dict[str, list[str]] = defaultdict(list)
            for k in row["key_info"]:
                key_info[k["type"].removeprefix("HAS_").lower()].append(k["name"])
            image = row["image"] or {}
            for src, edges in sorted(by_source.items()):
                result.tasks += 1
                if task_key(row["id"], src) in existing:
                    continue
                uri = _image_uri(images_dir, row["id"], image.get("file"), result.rejected)
                result.images += bool(uri)
                new.append(task_data(row["id"], src, row["text"], uri, image.get("description"),
                                     key_info, edges, relations))
        if progress:
            progress(f"prepared {min(start + WRITE_BATCH, len(ids)):,} of {len(ids):,} posts")
    result.added = client.import_tasks(project, new)
    return result


def _image_uri(images_dir: Path | None, post: str, file: str | None,
               rejected: list[Rejection]) -> str:
    if images_dir is None or not file:
        return ""
    try:
        return thumbnail_data_uri(confined_file(images_dir, file))
    except FileNotFoundError:
        reason = f"image {file!r} not found in {images_dir} (task exported without it)"
    except ImageError as exc:
        reason = f"{exc} (task exported without it)"
    except Exception as exc:  # PIL: not an image, truncated, decompression bomb
        reason = f"image {file!r} could not be read: {exc} (task exported without it)"
    rejected.append(Rejection(file=f"post {post}", reason=reason))
    return ""


# --- import --------------------------------------------------------------------------------

@dataclass
class ImportResult:
    project_id: int
    tasks: int = 0
    read: int = 0  # submitted annotations read from Label Studio
    annotations: int = 0  # judgements from this project now on the graph
    intentions: int = 0  # intention edges carrying them
    changed: int = 0  # edges whose judgements this run changed
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"annotations": self.annotations, "intentions": self.intentions,
                "project_id": self.project_id, "tasks": self.tasks, "read": self.read,
                "changed": self.changed, "rejected": [r.model_dump() for r in self.rejected]}

    def describe(self) -> list[str]:
        return [f"project {self.project_id}: {self.read:,} annotations read from {self.tasks:,} "
                f"tasks; {self.annotations:,} judgements on {self.intentions:,} intention "
                f"edges now ({self.changed:,} edges changed by this import)"]


def import_annotations(driver: Driver, database: str, client: LabelStudioClient, project: int,
                       progress: Progress | None = None) -> ImportResult:
    """Every submitted annotation of the project onto its intention edges (idempotent: the
    project's judgements on an edge are replaced by what Label Studio holds now)."""
    client.project_title(project)  # a clear error for a wrong project number
    prefix = project_key(client.endpoint.url, project)
    users = client.users()
    result = ImportResult(project_id=project)
    votes: dict[tuple[str, str], list[Vote]] = {}
    for task in client.tasks(project, with_annotations=True):
        result.tasks += 1
        data = task["data"]
        post = str(data.get("post_id") or "")
        if not post:
            result.rejected.append(Rejection(file=f"task {task['id']}", reason="not a miko task "
                                             "(no post_id in its data)"))
            continue
        for rel in Relation:  # every edge of the task: one without judgements now loses them
            intention = str(data.get(edge_field(rel)) or "")
            if intention:
                votes.setdefault((post, intention), [])
        latest: dict[str, tuple[str, list[Any]]] = {}
        for ann in task["annotations"]:
            if ann.get("was_cancelled"):
                continue
            who = ann.get("completed_by")
            who_id = who.get("id") if isinstance(who, dict) else who
            name = users.get(int(who_id), str(who_id)) if who_id is not None else "unknown"
            when = str(ann.get("updated_at") or ann.get("created_at") or "")
            if name not in latest or when > latest[name][0]:  # one judgement per annotator
                latest[name] = (when, ann.get("result") or [])
        for name, (when, res) in latest.items():
            result.read += 1
            found, problems = judgements_of(data, res)
            for p in problems:
                result.rejected.append(Rejection(file=f"task {task['id']}", reason=f"{name}: {p}"))
            for j in found:
                votes.setdefault((post, j.intention), []).append(Vote(prefix + name, j.score, when))
    keys = list(votes)
    for start in range(0, len(keys), WRITE_BATCH):
        chunk = keys[start:start + WRITE_BATCH]
        stored = {(r["post"], r["intention"]): r for r in _read(
            driver, database, q.judgements_of_edges(),
            keys=[{"post": p, "intention": i} for p, i in chunk])}
        rows = []
        for key in chunk:
            row = stored.get(key)
            if row is None:
                if votes[key]:
                    result.rejected.append(Rejection(
                        file=f"post {key[0]}", reason=f"intention {key[1]} is no longer on this "
                        "post in the graph (reloaded or rebuilt since the export); judgement skipped"))
                continue
            before = [Vote(j, s, t) for j, s, t in zip(row["judges"], row["scores"], row["times"],
                                                       strict=False)]
            after = merge_votes(before, prefix, votes[key])
            if after == before:
                continue
            agg = aggregate([v.score for v in after])
            rows.append({"edge": row["edge"], "judges": [v.judge for v in after],
                         "scores": [v.score for v in after], "times": [v.time for v in after],
                         "votes": agg.votes, "score": agg.score, "label": agg.label,
                         "agreement": agg.agreement})
        if rows:
            driver.execute_query(q.set_judgements(), {"rows": rows}, database_=database)
        result.changed += len(rows)
        if progress:
            progress(f"imported {min(start + WRITE_BATCH, len(keys)):,} of {len(keys):,} intentions")
    counts = _read(driver, database, q.judged_count(), prefix=prefix)[0]
    result.annotations, result.intentions = int(counts["annotations"] or 0), int(counts["intentions"])
    return result


# --- selection and report -------------------------------------------------------------------

def judged_groups(driver: Driver, database: str) -> Iterator[tuple[dict[str, Any], str,
                                                                   list[dict[str, Any]]]]:
    """Each judged (post, source): the post row, the source and its judged edges."""
    for page in post_pages(driver, database, q.judged_page(), {"limit": PAGE}):
        for row in page:
            groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for edge in row["edges"]:
                groups[edge["source"]].append(edge)
            for src, edges in sorted(groups.items()):
                yield dict(row), src, edges


@dataclass
class SelectResult:
    judged_posts: int = 0
    candidates: int = 0
    kept_intentions: int = 0
    judged_intentions: int = 0
    out: str = ""
    min_total: float = 5.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def describe(self) -> list[str]:
        return [f"{self.candidates:,} of {self.judged_posts:,} judged posts total more than "
                f"{self.min_total:g}; {self.kept_intentions:,} intentions kept (judged high "
                f"typicality by most annotators); written to {self.out}",
                f"  read it back: miko load-release {self.out}; score a run against it: "
                f"miko eval RUN --references {self.out}"]


MIKO_KEY_OF = {rel: key for key, rel in MIKO_KEY_TO_RELATION.items()}
MIKO_INDEX_OF = {rel: int(key.split()[1]) - 1 for key, rel in MIKO_KEY_TO_RELATION.items()}


def select(driver: Driver, database: str, out: Path, min_total: float = 5.0) -> SelectResult:
    """The paper's two-stage selection. Stage 2: a judged post (per source) is a candidate when
    the total of its intentions' scores (each the annotators' mean) exceeds ``min_total``.
    Stage 1, per intention: kept (label 1) when most of its annotators judged it high
    typicality. Written in the MIKO release format; the paper's final reading by hand for
    informativeness and comprehensiveness stays with the people who read the file."""
    result = SelectResult(out=str(out), min_total=min_total)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("[")
        for row, _src, edges in judged_groups(driver, database):
            result.judged_posts += 1
            result.judged_intentions += len(edges)
            if sum(e["score"] for e in edges) <= min_total:
                continue
            labels = [0] * len(MIKO_KEY_TO_RELATION)
            intentions: dict[str, str] = {}
            for e in sorted(edges, key=lambda e: MIKO_INDEX_OF[Relation(e["relation"])]):
                rel = Relation(e["relation"])
                intentions[MIKO_KEY_OF[rel]] = e["text"]
                labels[MIKO_INDEX_OF[rel]] = 1 if e["label"] == 1 else 0
            result.kept_intentions += sum(labels)
            record: dict[str, Any] = {"intention_labels": labels}
            if row["image"]:
                record["image"] = row["image"]
            record |= {"text": row["text"], "intentions": intentions}
            f.write(("," if result.candidates else "") + "\n" + json.dumps(record, ensure_ascii=False))
            result.candidates += 1
        f.write("\n]\n")
    os.replace(tmp, out)
    return result


def report(driver: Driver, database: str) -> dict[str, Any]:
    """Figure 4: per relation, how many judgements said high, low typicality and implausible;
    agreement between annotators (pairwise, and Krippendorff's alpha) per relation and overall."""
    counts: dict[str, dict[str, int]] = {r.value: dict.fromkeys(SCORE_NAMES.values(), 0)
                                         for r in Relation}
    items: dict[str, list[list[int]]] = defaultdict(list)
    annotators: set[str] = set()
    judged = 0
    for _row, _src, edges in judged_groups(driver, database):
        for e in edges:
            judged += 1
            items[e["relation"]].append(list(e["scores"]))
            annotators.update(j.rsplit("/", 1)[-1] for j in e["judges"])
            for s in e["scores"]:
                counts[e["relation"]][SCORE_NAMES[int(s)]] += 1
    every = [s for rel_items in items.values() for s in rel_items]
    relations = {}
    for rel, c in counts.items():
        total = sum(c.values())
        relations[rel] = {**c, "judgements": total, "intentions": len(items[rel]),
                          "share_high": c["high"] / total if total else None,
                          "pairwise_agreement": pairwise_agreement(items[rel]),
                          "alpha": krippendorff_alpha(items[rel])}
    return {"annotated_intentions": judged, "annotators": len(annotators),
            "relations": relations,
            "agreement": {"pairwise": pairwise_agreement(every), "alpha": krippendorff_alpha(every),
                          "intentions_with_2_or_more": sum(len(s) > 1 for s in every)}}


def chart(data: dict[str, Any], png: Path) -> None:
    """The distribution of judgements per relation as stacked bars (the paper's Figure 4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rels = [r for r, v in data["relations"].items() if v["judgements"]]
    colours = {"high": "#2e7d32", "low": "#f9a825", "implausible": "#c62828"}
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    left = [0.0] * len(rels)
    for name, colour in colours.items():
        share = [100 * data["relations"][r][name] / data["relations"][r]["judgements"] for r in rels]
        ax.barh(rels, share, left=left, color=colour, label=name.replace("high", "high typicality")
                .replace("low", "low typicality"))
        for y, (x0, w) in enumerate(zip(left, share, strict=True)):
            if w >= 6:
                ax.text(x0 + w / 2, y, f"{w:.0f}%", ha="center", va="center", fontsize=8, color="white")
        left = [a + b for a, b in zip(left, share, strict=True)]
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of judgements (%)")
    agreement = data["agreement"]["pairwise"]
    ax.set_title(f"Human judgements per relation: {data['annotated_intentions']:,} intentions, "
                 f"{data['annotators']} annotators"
                 + (f", pairwise agreement {100 * agreement:.0f}%" if agreement is not None else ""),
                 fontsize=9)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.32), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)


def describe_report(data: dict[str, Any]) -> list[str]:
    """``report``'s figures as a table: the share of each judgement and the agreement."""

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    lines = [f"{data['annotated_intentions']:,} judged intentions, {data['annotators']} annotators",
             f"{'relation':<9} {'n':>6} {'high':>7} {'low':>7} {'implaus.':>8} {'agree':>7} "
             f"{'alpha':>6}"]
    for rel, v in data["relations"].items():
        n = v["judgements"]
        if n:
            alpha = "-" if v["alpha"] is None else f"{v['alpha']:.2f}"
            lines.append(f"{rel:<9} {n:>6} {pct(v['high'] / n):>7} {pct(v['low'] / n):>7} "
                         f"{pct(v['implausible'] / n):>8} {pct(v['pairwise_agreement']):>7} "
                         f"{alpha:>6}")
    agreement = data["agreement"]
    alpha = "-" if agreement["alpha"] is None else f"{agreement['alpha']:.2f}"
    lines.append(f"agreement over {agreement['intentions_with_2_or_more']:,} intentions with two "
                 f"or more judgements: pairwise {pct(agreement['pairwise'])}, Krippendorff's "
                 f"alpha {alpha}")
    return lines


# --- the round trip on the configured graph and Label Studio (what the CLI calls) -----------

def _client(settings: Settings) -> LabelStudioClient:
    return LabelStudioClient(endpoint(settings))


def export_to_label_studio(settings: Settings, **options: Any) -> ExportResult:
    """``export_sample`` from the configured graph to the configured Label Studio."""
    with _client(settings) as client, graph(settings) as driver:
        return export_sample(driver, settings.neo4j_database, client, **options)


def import_from_label_studio(settings: Settings, project: int,
                             progress: Progress | None = None) -> ImportResult:
    with _client(settings) as client, graph(settings) as driver:
        return import_annotations(driver, settings.neo4j_database, client, project,
                                  progress=progress)


def select_judged(settings: Settings, out: Path, min_total: float = 5.0) -> SelectResult:
    with graph(settings) as driver:
        return select(driver, settings.neo4j_database, out, min_total=min_total)


def judgement_report(settings: Settings, png: Path | None = None) -> dict[str, Any]:
    """``report`` of the configured graph; ``png``: its chart (Figure 4) drawn there."""
    with graph(settings) as driver:
        data = report(driver, settings.neo4j_database)
    if png:
        try:
            chart(data, png)
        except ImportError as exc:
            raise AnnotationError(f"the chart needs matplotlib: pip install "
                                  f"'miko-kg[annotate]' ({exc})") from exc
    return data


def start_local(settings: Settings, say: Progress) -> list[str]:
    """Start the local Label Studio (unless MIKO_LABEL_STUDIO_URL names one); what to print."""
    if settings.label_studio_url:
        return [f"MIKO_LABEL_STUDIO_URL is set ({settings.label_studio_url}): miko uses that "
                "Label Studio and starts none"]
    local = LocalLabelStudio(settings)
    started = local.start(progress=say)
    default = settings.label_studio_password.get_secret_value() == DEFAULT_LOCAL_PASSWORD
    return [f"Label Studio {'started' if started else 'already running'}: {local.url}",
            f"  log in as {settings.label_studio_user} with the password in "
            f"MIKO_LABEL_STUDIO_PASSWORD{f' ({DEFAULT_LOCAL_PASSWORD})' if default else ''}",
            f"  data and log: {local.data}; API token in {local.tokenfile}",
            "  stop it with `miko annotate stop`"]


def stop_local(settings: Settings) -> bool:
    return LocalLabelStudio(settings).stop()
