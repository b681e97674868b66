"""The managed server's memory plan follows the machine (kg_builder/graph/memory.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kg_builder.core.settings import Settings
from kg_builder.graph.memory import GiB, MiB, machine_memory, parse_size, plan_memory
from kg_builder.graph.server import Neo4jServer


@pytest.mark.parametrize(("total_gib", "heap_gib", "cache_gib"), [
    (4, 1, 1), (8, 8 / 6, 2), (24, 4, 6), (128, 16, 32), (512, 16, 64)])
def test_auto_follows_the_machine(total_gib: float, heap_gib: float, cache_gib: float) -> None:
    plan = plan_memory(total=int(total_gib * GiB))
    assert plan.heap == pytest.approx(heap_gib * GiB, abs=MiB)
    assert plan.pagecache == pytest.approx(cache_gib * GiB, abs=MiB)
    assert plan.left >= total_gib * GiB / 2  # the OS cache and the other processes keep half
    assert plan.auto == ("heap", "page cache") and "auto" in plan.describe()


def test_sizes_set_by_hand_win() -> None:
    plan = plan_memory("2g", "auto", total=24 * GiB)
    assert plan.heap == 2 * GiB and plan.pagecache == 6 * GiB and plan.auto == ("page cache",)
    assert plan_memory("1536m", "512m", total=8 * GiB).describe().startswith(
        "heap 1.5 GiB, page cache 0.5 GiB, 6.0 GiB left")
    assert parse_size("1.5G") == int(1.5 * GiB)
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_this_machine_and_its_settings(tmp_path: Path) -> None:
    assert 256 * MiB < machine_memory() < 64 * 1024 * GiB
    with pytest.raises(ValidationError, match="neither auto nor a size"):
        Settings(neo4j_heap="half")
    settings = Settings(neo4j_data_dir=tmp_path, neo4j_heap="3g", neo4j_pagecache="auto")
    conf = Neo4jServer(settings).write_conf().read_text()
    plan = plan_memory("3g", "auto")
    assert "server.memory.heap.max_size=3072m" in conf
    assert f"server.memory.pagecache.size={plan.pagecache // MiB}m" in conf
    assert "# memory: heap 3.0 GiB" in conf


def test_the_vector_build_settings_reach_the_server_conf(tmp_path: Path) -> None:
    default = Neo4jServer(Settings(neo4j_data_dir=tmp_path)).write_conf().read_text()
    chosen = Settings().neo4j_vector_build_merge_factor
    assert f"internal.dbms.index.vector.population_merge_factor={chosen}\n" in default
    settings = Settings(neo4j_data_dir=tmp_path, neo4j_vector_build_buffer_mb=64,
                        neo4j_vector_build_merge_factor=4)
    conf = Neo4jServer(settings).write_conf().read_text()
    assert "internal.dbms.index.vector.population_ram_buffer_size=64\n" in conf
    assert "internal.dbms.index.vector.population_merge_factor=4\n" in conf
    with pytest.raises(ValidationError):
        Settings(neo4j_vector_build_merge_factor=1)
