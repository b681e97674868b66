"""A load as ``miko load*``, ``miko ingest`` and ``miko up`` run it: the records into the
graph, then the typicality critic on the edges they wrote (``MIKO_CRITIC_ENABLED``), before
the deferred vector indexes are built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kg_builder.core.settings import Settings
from kg_builder.embeddings import load_embedder
from kg_builder.inputs import readers
from kg_builder.inputs.readers import JsonlReader, MikoReader, Reader, ReaderStats
from kg_builder.loading.bulk import BulkLoadError
from kg_builder.loading.loader import LoadSummary
from kg_builder.loading.service import graph_is_empty, load_records
from kg_builder.quality.critic import CriticError
from kg_builder.quality.service import score_edges


@dataclass
class LoadOutcome:
    """A finished load: its summary, what the input held, and the critic's part."""

    summary: LoadSummary
    input: ReaderStats
    critic: dict[str, Any] | None = None  # the scoring's summary; None: not scored
    critic_skipped: str = ""  # why the critic did not run (the load stands)
    critic_failed: str = ""  # the scoring broke off: the load stands, `miko critic score` later

    def as_dict(self) -> dict[str, Any]:
        return {"load": self.summary.as_dict(), "input": self.input.as_dict(),
                "critic": self.critic}

    def describe(self) -> list[str]:
        lines = self.summary.describe(self.input)
        if self.critic:
            c = self.critic
            lines.append(f"critic {c['critic']} {c['version']}: {c['edges']:,} edges scored "
                         f"(typicality) in {c['seconds']:.1f}s")
        return lines

    def problems(self) -> str:
        """Why the command must exit non-zero (empty: it need not), with the fix."""
        if self.critic_failed:
            return (f"the records are loaded, but the critic could not score their edges "
                    f"({self.critic_failed}); run `miko critic score` once the cause is fixed")
        if self.summary.rejected:
            return (f"{len(self.summary.rejected)} record(s) rejected; the rest was loaded. Fix "
                    "the records listed above and load again (loading is idempotent)")
        return ""


def release_reader(settings: Settings, path: Path | None) -> Reader:
    """The MIKO release folder or file at ``path`` (default: MIKO_DATA_DIR/miko)."""
    return MikoReader(path or settings.data_dir / "miko")


def posts_reader(path: Path, fmt: str, source: str | None, images_dir: Path | None) -> Reader:
    return readers.open_reader(path, fmt, source=source, images_dir=images_dir)


def run_reader(path: Path) -> Reader:
    """The output of ``miko build``."""
    return JsonlReader(path)


def load_and_score(settings: Settings, reader: Reader, *, progress: bool | None = None,
                   defer_indexes: bool | None = None, bulk: bool | str = False,
                   vectors: Path | None = None) -> LoadOutcome:
    """Load ``reader``'s records (``load_records``; rejections are in the outcome, never
    raised), the critic scoring what was written before deferred vector indexes are built.
    ``bulk="if empty"``: the bulk path when the database holds nothing yet, else online.
    A failure of the scoring never loses the load: it is in ``critic_failed``."""
    outcome = LoadOutcome(LoadSummary(), reader.stats)
    scored: list[bool] = []
    embedder = load_embedder(settings)  # once: the load checks the graph's model against it

    def score() -> None:  # any failure is the outcome's, not the load's: said after its report
        scored.append(True)
        try:
            outcome.critic = _score(settings, progress, outcome,
                                    (embedder.model_name, embedder.dimension))
        except Exception as exc:  # reported with the fix (LoadOutcome.problems)
            outcome.critic_failed = f"{type(exc).__name__}: {exc}"

    use_bulk = graph_is_empty(settings) if bulk == "if empty" else bool(bulk)
    outcome.summary = load_records(settings, reader, progress=progress,
                                   defer_indexes=defer_indexes, bulk=use_bulk, vectors=vectors,
                                   after_writes=score, embedder=embedder)
    if not scored:
        score()
    return outcome


def _score(settings: Settings, progress: bool | None, outcome: LoadOutcome,
           model: tuple[str, int]) -> dict[str, Any] | None:
    if not settings.critic_enabled:
        return None
    try:
        return score_edges(settings, progress=progress, model=model).as_dict()
    except CriticError as exc:  # no critic to run: the load itself succeeded
        outcome.critic_skipped = f"edges not scored by the critic: {exc}"
        return None


__all__ = ["BulkLoadError", "LoadOutcome", "Reader", "load_and_score", "posts_reader",
           "release_reader",
           "run_reader"]
