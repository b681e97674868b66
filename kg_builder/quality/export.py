"""``miko export sft``: the graph as instruction-tuning data for a student model (section 5.3).

One multi-turn conversation per post, in the chat format common trainers read
(``{"messages": [{"role", "content"}, ...]}``): a system turn, then per relation (in the order of
``Relation``) a user turn with the post text, the image description, the key information and the
relation's question, and an assistant turn with that relation's intention. Posts are split into
train and validation by a hash of their id and the seed, so a post is never in both and the
split does not change when the graph grows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from neo4j import Driver
from pydantic import BaseModel, ConfigDict, Field

from kg_builder.core.errors import KGBuilderError
from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import RELATION_SPECS, Relation
from kg_builder.graph.paging import post_pages
from kg_builder.graph.queries import quality as q

SYSTEM = ("You infer the intentions behind social-media posts. Answer with one sentence that "
          "starts with the template you are given.")


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1)


class SftRecord(BaseModel):
    """One line of ``train.jsonl`` / ``valid.jsonl`` (the documented export schema)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="the post id (provenance; trainers ignore it)")
    messages: list[Message] = Field(min_length=3)


def question(relation: Relation, text: str, description: str | None,
             key_info: list[tuple[KeyInfoKind, str]]) -> str:
    spec = RELATION_SPECS[relation]
    lines = [f"Post: {text}"]
    if description:
        lines.append(f"Image description: {description}")
    if key_info:
        lines.append("Key information: " + "; ".join(
            f"{kind.value}: {name}" for kind, name in key_info))
    lines.append(f"Question ({relation.value}): {spec.description}? "
                 f"Start your answer with \"{spec.template}\".")
    return "\n".join(lines)


def conversation(post_id: str, text: str, description: str | None,
                 key_info: list[tuple[KeyInfoKind, str]],
                 intentions: dict[Relation, str]) -> SftRecord:
    messages = [Message(role="system", content=SYSTEM)]
    for relation in Relation:
        if relation in intentions:
            messages.append(Message(role="user", content=question(relation, text, description,
                                                                  key_info)))
            messages.append(Message(role="assistant", content=intentions[relation]))
    return SftRecord(id=post_id, messages=messages)


def split_of(post_id: str, seed: int, valid_fraction: float) -> str:
    digest = hashlib.sha256(f"{seed}\x1f{post_id}".encode()).digest()
    return "valid" if int.from_bytes(digest[:8], "big") / 2**64 < valid_fraction else "train"


@dataclass
class ExportSummary:
    out: Path
    posts: dict[str, int] = field(default_factory=lambda: {"train": 0, "valid": 0})
    turns: int = 0
    skipped_posts: int = 0  # no intention passed the filters

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "posts": self.posts, "assistant_turns": self.turns,
                "skipped_posts": self.skipped_posts}

    def describe(self) -> list[str]:
        return [f"wrote {self.posts['train']:,} train and {self.posts['valid']:,} validation "
                f"conversations ({self.turns:,} answers) to {self.out}; {self.skipped_posts:,} "
                "posts had no intention passing the filters"]


def export_sft(driver: Driver, database: str, out: Path, *, min_typicality: float | None = None,
               label: int | None = None, human_label: int | None = None,
               valid_fraction: float = 0.05, seed: int = 0,
               page_posts: int = 1000) -> ExportSummary:
    if not 0.0 <= valid_fraction < 1.0:
        raise KGBuilderError(f"--valid-fraction must be in [0, 1), got {valid_fraction}")
    if min_typicality is not None and not 0.0 <= min_typicality <= 1.0:
        raise KGBuilderError(f"--min-typicality must be between 0 and 1, got {min_typicality}")
    out.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(out)
    kinds = {kind.rel_type: kind for kind in KeyInfoKind}
    if human_label not in (None, 1, 0, -1):
        raise KGBuilderError(f"--human-label must be 1, 0 or -1, got {human_label}")
    params = {"limit": page_posts, "key_types": sorted(kinds), "min_typicality": min_typicality,
              "label": label, "human_label": human_label}
    files = {name: (out / f"{name}.jsonl").open("w", encoding="utf-8")
             for name in ("train", "valid")}
    try:
        for rows in post_pages(driver, database, q.export_page(), params):
            for row in rows:
                intentions: dict[Relation, str] = {}
                for item in sorted(row["intentions"], key=lambda i: (i["relation"], i["text"])):
                    intentions.setdefault(Relation(item["relation"]), item["text"])
                if not intentions:
                    summary.skipped_posts += 1
                    continue
                key_info = sorted((kinds[k["type"]], k["name"]) for k in row["key_info"])
                record = conversation(row["id"], row["text"], row["description"], key_info,
                                      intentions)
                split = split_of(row["id"], seed, valid_fraction)
                files[split].write(record.model_dump_json() + "\n")
                summary.posts[split] += 1
                summary.turns += len(intentions)
    finally:
        for fh in files.values():
            fh.close()
    manifest = {**summary.as_dict(), "format": "chat messages (system, then user/assistant per "
                "relation)", "filters": {"min_typicality": min_typicality, "label": label,
                                 "human_label": human_label},
                "valid_fraction": valid_fraction, "seed": seed,
                "schema": SftRecord.model_json_schema()}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return summary
