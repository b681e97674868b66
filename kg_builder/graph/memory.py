"""How the managed Neo4j server shares this machine's memory (``miko neo4j start``).

Three consumers, sized for the paper's 1.37M intentions x 384-d vectors (docs/scaling.md):

- the JVM heap: transactions (a load batch of vectors), query execution; a sixth of the
  memory, 1-16 GiB (4 GiB on 24 GiB);
- the page cache: the store files (records, texts, the float arrays of the embeddings; ~3.5 GB
  at 1.37M); a quarter of the memory, 0.5-64 GiB (6 GiB on 24 GiB);
- the rest stays with the operating system: its file cache holds the Lucene vector indexes
  (memory-mapped, ~6 GB at 1.37M, ~1.5 GB of it read by searches), and the API, the embedding
  model and the loader run beside the server.

``MIKO_NEO4J_HEAP`` / ``MIKO_NEO4J_PAGECACHE`` set either by hand (``4g``, ``512m``);
``auto`` (the default) follows the memory of the machine, or of its cgroup when that is less.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 ** 2
GiB = 1024 ** 3
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": MiB, "g": GiB, "t": 1024 * GiB}


def parse_size(text: str) -> int:
    """Bytes of a Neo4j-style size: ``4g``, ``512m``, ``1.5G``; ValueError otherwise."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a size: write e.g. 4g or 512m (or auto)")
    return int(float(m[1]) * _UNITS[m[2].lower()])


def neo4j_size(n: int) -> str:
    """A size as neo4j.conf takes it, in whole MiB."""
    return f"{max(1, n // MiB)}m"


def machine_memory() -> int:
    """Physical memory, or the cgroup's limit when that is lower (containers)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            value = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if value.isdigit():
            total = min(total, int(value))
    return total


def _clamp(value: float, low: int, high: int) -> int:
    return int(min(max(value, low), high)) // MiB * MiB


@dataclass(frozen=True)
class MemoryPlan:
    total: int
    heap: int
    pagecache: int
    auto: tuple[str, ...]  # which of heap / pagecache follow the machine

    @property
    def left(self) -> int:
        """What the server leaves to the OS file cache (vector indexes) and other processes."""
        return max(0, self.total - self.heap - self.pagecache)

    def describe(self) -> str:
        how = (f"auto ({' and '.join(self.auto)}) from {self.total / GiB:.1f} GiB"
               if self.auto else "from MIKO_NEO4J_HEAP / MIKO_NEO4J_PAGECACHE")
        return (f"heap {self.heap / GiB:.1f} GiB, page cache {self.pagecache / GiB:.1f} GiB, "
                f"{self.left / GiB:.1f} GiB left to the OS cache (vector indexes) and other "
                f"processes; {how}")


def plan_memory(heap: str = "auto", pagecache: str = "auto",
                total: int | None = None) -> MemoryPlan:
    """The heap and page cache for ``total`` bytes (default: this machine's memory)."""
    total = machine_memory() if total is None else total
    auto = tuple(name for name, value in (("heap", heap), ("page cache", pagecache))
                 if value.strip().lower() == "auto")
    heap_b = (_clamp(total / 6, GiB, 16 * GiB) if "heap" in auto else parse_size(heap))
    cache_b = (_clamp(total / 4, 512 * MiB, 64 * GiB) if "page cache" in auto
               else parse_size(pagecache))
    return MemoryPlan(total, heap_b, cache_b, auto)
