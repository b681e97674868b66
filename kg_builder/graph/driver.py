"""The one place where Neo4j drivers are made, sync and async, from the settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from neo4j import AsyncDriver, AsyncGraphDatabase, Driver, GraphDatabase
from neo4j.exceptions import AuthError, ServiceUnavailable

from kg_builder.core.errors import Neo4jUnavailableError
from kg_builder.core.settings import Settings


def _options(settings: Settings, connection_timeout_s: float | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {
        "auth": (settings.neo4j_user, settings.neo4j_password.get_secret_value()),
        "connection_timeout": connection_timeout_s or settings.neo4j_connect_timeout_s,
        "notifications_min_severity": "OFF",
    }
    if connection_timeout_s is not None:  # fail fast: no 30 s of retries against a dead server
        options["connection_acquisition_timeout"] = 2 * connection_timeout_s
        options["max_transaction_retry_time"] = connection_timeout_s
    return options


def make_driver(settings: Settings) -> Driver:
    """A sync driver for the configured server; not verified (see ``connect``)."""
    return GraphDatabase.driver(settings.bolt_uri, **_options(settings))


def make_async_driver(settings: Settings, connection_timeout_s: float | None = None) -> AsyncDriver:
    """An async driver for the configured server (the API's); connects lazily."""
    return AsyncGraphDatabase.driver(settings.bolt_uri, **_options(settings, connection_timeout_s))


def connect(settings: Settings) -> Driver:
    """A verified driver for the configured server, or a clear error saying how to get one."""
    driver = make_driver(settings)
    try:
        driver.verify_connectivity()
    except AuthError as exc:
        driver.close()
        raise Neo4jUnavailableError(
            f"Neo4j at {settings.bolt_uri} refused user {settings.neo4j_user!r}: check "
            "MIKO_NEO4J_USER / MIKO_NEO4J_PASSWORD"
        ) from exc
    except (ServiceUnavailable, OSError) as exc:
        driver.close()
        hint = "run `miko neo4j start`" if settings.managed else "check MIKO_NEO4J_URI"
        raise Neo4jUnavailableError(
            f"Neo4j does not answer at {settings.bolt_uri}: {hint}"
        ) from exc
    return driver


@contextmanager
def graph(settings: Settings) -> Iterator[Driver]:
    """A verified driver for the configured server, closed on exit."""
    driver = connect(settings)
    try:
        yield driver
    finally:
        driver.close()
