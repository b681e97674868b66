"""Every exception of kg_builder: one root, one subclass per kind of failure.

Each message names what went wrong and how to fix it; the CLI prints it as is.
"""

from __future__ import annotations

from typing import Any


class KGBuilderError(Exception):
    """Root of every error raised by kg_builder."""


class SettingsError(KGBuilderError):
    """A setting has a value that cannot work."""


class Neo4jServerError(KGBuilderError):
    """The managed Neo4j server could not be installed, started or stopped."""


class Neo4jUnavailableError(KGBuilderError):
    """The Neo4j server named by the settings does not answer."""


class EmbeddingModelMismatchError(KGBuilderError):
    """The graph was built with another embedding model than the one configured."""

    @classmethod
    def check(cls, recorded_model: str, recorded_dimension: int, model: str, dimension: int,
              user: str = "the configured model") -> EmbeddingModelMismatchError | None:
        """The error to raise when the graph's recorded model differs, else None."""
        if recorded_model == model and recorded_dimension == dimension:
            return None
        return cls(
            f"the graph was built with embedding model {recorded_model!r} ({recorded_dimension} "
            f"dims) but {user} is {model!r} ({dimension} dims). Set MIKO_EMBEDDING_MODEL="
            f"{recorded_model} to use the graph as is, or run `miko db reembed` to re-embed every "
            "post and intention with the configured model and rebuild the vector indexes")


class EmbeddingModelError(KGBuilderError):
    """The embedding model could not be loaded."""


class EmbeddingInputError(KGBuilderError):
    """The embedding model refused a text (the loader then isolates the record at fault)."""


class LoadInterruptedError(KGBuilderError):
    """The graph stopped answering during a load; ``summary`` says what was committed."""

    def __init__(self, message: str, summary: Any) -> None:
        super().__init__(message)
        self.summary = summary


class IndexBuildError(KGBuilderError):
    """An index of miko's failed to build, or was not online within the time allowed."""


class InputFormatError(KGBuilderError):
    """An input file cannot be read at all (missing, wrong format)."""


class RelationError(KGBuilderError):
    """A relation name is not one of the ten allowed relations."""


class PromptTemplateError(KGBuilderError):
    """A prompt file is missing or its placeholders are not the expected ones."""


class ImageError(KGBuilderError):
    """An image cannot be used (unreadable, not an allowed format, a decompression bomb)."""


class LLMError(KGBuilderError):
    """A model call failed for good: after its retries, or with an answer that cannot be used."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class LocalModelError(KGBuilderError):
    """The local default model cannot be started."""


class StageFailure(KGBuilderError):
    """A generation stage failed for one post; the post goes to the dead-letter file."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


class AnnotationError(KGBuilderError):
    """Label Studio is not reachable, refuses the token, or a project is not what miko expects."""


class StudentError(KGBuilderError):
    """The student cannot be trained or served as asked (too little data, a missing base, a
    checkpoint of other settings)."""
