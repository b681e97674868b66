"""How `miko serve` with several workers splits keep-alive connections opened at once.

Starts `python -m cli serve` from ``--root`` (this checkout by default; another checkout to compare
a different revision in the same run) with ``MIKO_API_WORKERS``, then, ``--rounds`` times, opens
``--connections`` connections at once, keeps them all open, asks each `/healthz` (which names the
worker process that answers), and closes them. Prints how often each split occurred.

    python benchmarks/bench_worker_split.py [--workers 2] [--connections 8] [--rounds 40]
        [--root PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import dump, machine  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def worker_of(sock: socket.socket) -> int:
    data = b""
    while not data.endswith(b"}"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"connection closed after {data!r}")
        data += chunk
    return int(json.loads(data.split(b"\r\n\r\n", 1)[1])["worker"])


def split_of(port: int, connections: int) -> tuple[int, ...]:
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30)
             for _ in range(connections)]
    try:
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
        counts = Counter(worker_of(sock) for sock in socks)
        return tuple(sorted(counts.values(), reverse=True))
    finally:
        for sock in socks:
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between rounds")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose `miko serve` runs")
    args = parser.parse_args()
    root = args.root.resolve()
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True).stdout.strip()
    port = free_port()
    env = {**os.environ, "MIKO_API_WORKERS": str(args.workers), "MIKO_API_GRAPHIQL": "false",
           "PYTHONPATH": str(root)}
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port)],
                              cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:  # every worker answering (each loads its embedder first)
            try:
                if len(split := split_of(port, args.connections)) == args.workers:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the {args.workers} workers never all answered")
            time.sleep(1)
        splits: Counter[tuple[int, ...]] = Counter()
        for _ in range(args.rounds):
            time.sleep(args.pause)
            split = split_of(port, args.connections)
            splits[split + (0,) * (args.workers - len(split))] += 1
    finally:
        server.terminate()
        server.wait(30)
    print(f"{args.connections} connections over {args.workers} workers, {args.rounds} rounds, "
          f"code of {revision}:")
    for split, count in splits.most_common():
        print(f"  {'/'.join(map(str, split))}: {count}")
    dump(ROOT / "benchmarks" / "results" / f"worker_split-{revision}.json", {
        "machine": machine(), "revision": revision, "workers": args.workers,
        "connections": args.connections, "rounds": args.rounds,
        "splits": {"/".join(map(str, s)): n for s, n in splits.items()}})


if __name__ == "__main__":
    main()
