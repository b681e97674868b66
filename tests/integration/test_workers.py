"""`miko serve` with several workers: connections spread across them, a dead one is replaced,
and SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def workers_answering(url: str, connections: int) -> set[int]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        answers = await asyncio.gather(*(client.get(url) for _ in range(connections)))
    return {int(a.json()["worker"]) for a in answers}


def wait_healthy(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} never became healthy")


def test_two_workers_share_the_port_and_are_kept_running() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    env = {**os.environ, "MIKO_API_WORKERS": "2", "MIKO_API_GRAPHIQL": "false"}
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_healthy(url)
        time.sleep(15)  # the second worker may still be loading its embedder
        seen = asyncio.run(workers_answering(url, 24))
        assert len(seen) == 2, seen  # all 24 on one worker: about 1 in 8 million
        assert server.pid not in seen  # the parent only supervises

        victim = min(seen)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 90
        now: set[int] = set()
        while time.monotonic() < deadline and len(now - seen) < 1:
            time.sleep(1)
            try:
                now = asyncio.run(workers_answering(url, 24))
            except httpx.HTTPError:
                continue
        assert victim not in now and len(now - seen) == 1, (seen, now)  # replaced
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            output = server.communicate(timeout=30)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            server.kill()
            pytest.fail("miko serve did not stop on SIGTERM")
    assert server.returncode == 0, output
    assert "2 workers" in output and "starting another" in output
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, timeout=2)
