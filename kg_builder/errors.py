"""The builder's exceptions: one root, one subclass per kind of failure.

Each message names what went wrong and how to fix it; the CLI prints it as is.
"""


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


class EmbeddingModelError(KGBuilderError):
    """The embedding model could not be loaded."""


class InputFormatError(KGBuilderError):
    """An input file cannot be read at all (missing, wrong format)."""


class RelationError(KGBuilderError):
    """A relation name is not one of the ten allowed relations."""
