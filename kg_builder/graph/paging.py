"""Walk the graph's posts in pages by id (bounded memory at any size)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from neo4j import Driver, Record, RoutingControl


def post_pages(driver: Driver, database: str, query: str, params: dict[str, Any],
               key: str = "id") -> Iterator[list[Record]]:
    """Each page ``query`` returns for ``$after`` = the last page's ``key`` ("" first)."""
    after = ""
    while True:
        page, _, _ = driver.execute_query(query, {**params, "after": after},
                                          database_=database, routing_=RoutingControl.READ)
        if not page:
            return
        after = page[-1][key]
        yield page
