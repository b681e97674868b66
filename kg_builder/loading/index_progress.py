"""A progress bar for the index build that ends a load (tens of minutes at the paper's scale)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from kg_builder.graph.schema import IndexProgress


@contextmanager
def index_build_bar(progress: bool | None) -> Iterator[IndexProgress]:
    """A callback for ``await_indexes`` that shows the slowest index still populating (on a
    terminal, or as ``progress`` says)."""
    bar = tqdm(total=100.0, unit="%", desc="building indexes", file=sys.stderr,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
               disable=(not sys.stderr.isatty()) if progress is None else not progress)

    def report(pending: list[tuple[str, float]]) -> None:
        name, percent = min(pending, key=lambda item: item[1])
        bar.n = percent
        bar.set_postfix_str(f"{len(pending)} building, slowest {name}", refresh=False)
        bar.refresh()

    try:
        yield report
    finally:
        bar.close()
