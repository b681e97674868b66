"""The generation services the CLI calls besides a build (``kg_builder.jobs.build``)."""

from __future__ import annotations

from collections.abc import Callable

from kg_builder.core.settings import Settings
from kg_builder.generation.local_model import LocalModelServer, ensure_local_runtime


def serve_local_model(settings: Settings, port: int, say: Callable[[str], None],
                      announce: Callable[[str], None]) -> None:
    """Keep the packaged local model's OpenAI-compatible server up until Ctrl-C (installing
    its runtime the first time, when MIKO_LOCAL_MODEL_AUTO_INSTALL allows: progress to
    ``say``); ``announce`` gets the line with its address."""
    ensure_local_runtime(settings.local_model_auto_install, say)
    with LocalModelServer(port=port) as server:
        announce(f"local model up: MIKO_LLM_BASE_URL={server.base_url} "
            f"MIKO_LLM_MODEL={server.model_name} (demo quality; Ctrl-C stops it)")
        server.wait()
