"""The API's exceptions: one root, one subclass per kind of failure."""


class KGApiError(Exception):
    """Root of every error raised by kg_api."""
