"""The API's exceptions: one root, one subclass per kind of failure, each with a stable code.

Every error reaches clients in one JSON shape:
``{"errors": [{"message": "...", "extensions": {"code": "..."}, "path"?: [...], "locations"?: [...]}]}``
(plus ``"data"`` for GraphQL requests). Messages of unexpected errors are never shown.
"""


class KGApiError(Exception):
    """Root of every error raised by kg_api."""

    code = "INTERNAL_SERVER_ERROR"


class BadInputError(KGApiError):
    """An argument is out of range or malformed."""

    code = "BAD_USER_INPUT"


class NotFoundError(KGApiError):
    """A referenced node does not exist."""

    code = "NOT_FOUND"


class GraphUnavailableError(KGApiError):
    """Neo4j does not answer, or its indexes are not online."""

    code = "SERVICE_UNAVAILABLE"


class RequestTimeoutError(KGApiError):
    """The request ran past the per-request time limit."""

    code = "TIMEOUT"


class ModelMismatchError(KGApiError):
    """The graph's embedding model differs from the configured one."""

    code = "SERVICE_UNAVAILABLE"
