"""Several API worker processes that share the port through SO_REUSEPORT.

uvicorn's own ``workers=N`` has every process accept from one shared socket; a client that opens
its keep-alive connections at once (a load balancer, a benchmark with 8 clients) had all of them
accepted by one worker while the other sat idle (measured: 83% and 0.5% CPU). Here each worker
binds its own socket with SO_REUSEPORT, and the kernel spreads new connections across the
sockets. The parent restarts a worker that dies and stops them all on SIGINT/SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

from kg_builder.core.settings import Settings

log = logging.getLogger("kg_api")
RESTART_PAUSE_S = 1.0


def _socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _serve(settings: Settings, host: str, port: int) -> None:
    """One worker: its own socket on the shared port, one uvicorn server."""
    import uvicorn

    from kg_api.app import create_app

    sock = _socket(host, port)
    config = uvicorn.Config(create_app(settings), log_level="warning",
                            timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


def run_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    """Run ``workers`` processes on ``host:port`` until SIGINT/SIGTERM; restart any that dies."""
    _socket(host, port).close()  # the port is free (or ours): fail here, clearly, if not
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> BaseProcess:
        process = context.Process(target=_serve, args=(settings, host, port), daemon=False)
        process.start()
        return process

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [start() for _ in range(workers)]
    try:
        while not stopping:
            time.sleep(0.2)
            for i, process in enumerate(processes):
                if not process.is_alive() and not stopping:
                    log.error("API worker %s exited with %s; starting another", process.pid,
                              process.exitcode)
                    time.sleep(RESTART_PAUSE_S)
                    processes[i] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
