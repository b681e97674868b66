"""A build as ``miko build`` and ``miko ingest`` run it: the engine the settings choose (one
process, or Ray Data) and the student when it writes the intentions. ``ingest`` then loads
``out`` with the summary's ``vector_store`` (the vectors a Ray build embedded)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kg_builder.core.settings import Settings
from kg_builder.generation.build import run_build
from kg_builder.generation.pipeline import BuildSummary, dead_letter_path
from kg_builder.student.serving import resolve_student

Notify = Callable[[str], None]


@dataclass(frozen=True)
class BuildRequest:
    """What to build: the input, its format and images, where the records go."""

    input_path: Path
    fmt: str
    images_dir: Path | None
    out: Path
    progress: bool | None = None
    engine: str | None = None  # "single" or "ray"; None: MIKO_BUILD_ENGINE
    retry_failed: bool = True


def build(settings: Settings, request: BuildRequest, notify: Notify) -> BuildSummary:
    """Run the stages over the request's input; the summary says what was built, what was
    dead-lettered or rejected, and whether Ctrl-C interrupted the run."""
    r = request
    if (r.engine or settings.build_engine) == "ray":
        from kg_builder.generation.ray_engine import RayOptions, run_build_ray

        if settings.student_base_url:
            notify("the Ray engine writes the intentions with stage 3's chat prompt on "
                   "MIKO_LLM_BASE_URL; MIKO_STUDENT* apply to the single engine")
        options = RayOptions(settings.ray_address, settings.ray_workers, settings.ray_batch_size,
                             embed_workers=settings.ray_embed_workers)
        return run_build_ray(settings, r.input_path, r.fmt, r.images_dir, r.out, r.retry_failed,
                             r.progress, options, notify=notify)
    # the student writes the intentions offline, or on its own server (MIKO_STUDENT_BASE_URL)
    student = (resolve_student(settings, notify)
               if not settings.llm_base_url or settings.student_base_url else None)
    return run_build(settings, r.input_path, r.fmt, r.images_dir, r.out, r.retry_failed,
                     r.progress, notify=notify, student=student)



__all__ = ["BuildRequest", "BuildSummary", "build", "dead_letter_path"]
