"""Several API worker processes behind one acceptor that hands each connection to the least busy.

How connections reach the workers decides the tail at a few long-lived clients (a load balancer,
a benchmark with 8 keep-alive clients):

- uvicorn's own ``workers=N`` has every process accept from one shared socket: the worker that
  wakes first accepts all that are waiting (measured: 8 of 8 on one worker, 83% and 0.5% CPU);
- one SO_REUSEPORT socket per worker lets the kernel hash connections to workers: 8 over 2 split
  4/4 in only 10-11 of 40 tries (BENCHMARKS.md).

Here the parent alone listens. It accepts each connection and passes its file descriptor
(SCM_RIGHTS over a socketpair) to the ready worker with the fewest open connections (ties: the
one handed fewer so far); a worker says when it is ready and when each connection closes, one
byte each. The parent restarts a worker that dies and stops them all on SIGINT/SIGTERM; a worker
whose parent is gone stops too. The parent reads no request: after the hand-off, bytes go
straight between the client and the worker.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from kg_api.app import create_app
from kg_api.protocol import header_timeout_protocol
from kg_builder.core.settings import Settings
from kg_builder.graph.memory import machine_memory

log = logging.getLogger("kg_api")
RESTART_PAUSE_S = 1.0
BACKLOG = 2048
READY = b"r"  # worker -> parent: serving
CLOSED = b"x"  # worker -> parent: one handed connection closed
HANDED = b"c"  # parent -> worker, with the connection's descriptor
MAX_FDS_PER_MESSAGE = 1


def listen(host: str, port: int) -> socket.socket:
    """The parent's listening socket; OSError if the port is taken (`miko serve` names the fix)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class _Counted(asyncio.Protocol):
    """Forwards to uvicorn's protocol; calls ``on_close`` once when the connection is lost."""

    def __init__(self, inner: asyncio.Protocol, on_close: Callable[[], None]) -> None:
        self._inner = inner
        self._on_close = on_close

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self._inner.connection_lost(exc)
        finally:
            self._on_close()


class HandedServer(uvicorn.Server):
    """A uvicorn server that listens on nothing and serves the connections its parent hands it."""

    def __init__(self, app: Any, channel: socket.socket, header_timeout_s: float = 10.0,
                 max_header_bytes: int = 65_536) -> None:
        super().__init__(uvicorn.Config(
            app, log_level="warning", timeout_graceful_shutdown=5,
            http=header_timeout_protocol(header_timeout_s, max_header_bytes)))
        self.channel = channel
        self._handing: set[asyncio.Task[None]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # no listener of its own
        self.channel.setblocking(False)
        asyncio.get_running_loop().add_reader(self.channel.fileno(), self._receive_handed)
        self._tell_parent(READY)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().remove_reader(self.channel.fileno())
        await super().shutdown(sockets=sockets)

    def _tell_parent(self, message: bytes) -> None:
        try:
            self.channel.send(message)
        except OSError:  # the parent is gone; the EOF on the channel stops this worker
            pass

    def _receive_handed(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                message, fds, _flags, _address = socket.recv_fds(
                    self.channel, 16, MAX_FDS_PER_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message, fds = b"", []
            if not message and not fds:  # the parent has gone: stop serving
                log.error("API worker %s: the supervising process has gone; stopping",
                          os.getpid())
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                task = loop.create_task(self._take(socket.socket(fileno=fd)))
                self._handing.add(task)
                task.add_done_callback(self._handing.discard)

    async def _take(self, connection: socket.socket) -> None:
        closed = False

        def on_close() -> None:
            nonlocal closed
            if not closed:
                closed = True
                self._tell_parent(CLOSED)

        def protocol() -> asyncio.Protocol:
            inner = self.config.http_protocol_class(  # type: ignore[call-arg]
                config=self.config, server_state=self.server_state,
                app_state=self.lifespan.state)
            return _Counted(inner, on_close)

        try:
            await asyncio.get_running_loop().connect_accepted_socket(protocol, connection)
        except OSError:  # the client left before the worker took the connection
            connection.close()
            on_close()


def _serve(settings: Settings, channel: socket.socket) -> None:
    """One worker: the app, served on the connections the parent hands over ``channel``."""
    HandedServer(create_app(settings), channel, settings.api_header_timeout_s,
                 settings.api_max_header_bytes).run()


@dataclass
class _Worker:
    process: BaseProcess
    channel: socket.socket
    ready: bool = False
    open: int = 0
    handed: int = 0
    alive: bool = True


def _choose(workers: list[_Worker]) -> _Worker | None:
    ready = [w for w in workers if w.ready and w.alive]
    return min(ready, key=lambda w: (w.open, w.handed)) if ready else None


def run_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    """Run ``workers`` processes on ``host:port`` until SIGINT/SIGTERM; restart any that dies."""
    listener = listen(host, port)  # the port is free: fail here, clearly, if not
    context = multiprocessing.get_context("spawn")
    selector = selectors.DefaultSelector()
    stopping = False
    listening = False

    def start() -> _Worker:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        process = context.Process(target=_serve, args=(settings, theirs), daemon=False)
        process.start()
        theirs.close()
        ours.setblocking(False)
        worker = _Worker(process, ours)
        selector.register(ours, selectors.EVENT_READ, worker)
        return worker

    def retire(worker: _Worker) -> None:
        if worker.alive:
            worker.alive = False
            selector.unregister(worker.channel)
            worker.channel.close()

    def watch_listener(on: bool) -> None:
        nonlocal listening
        if on and not listening:
            selector.register(listener, selectors.EVENT_READ, None)
        elif not on and listening:
            selector.unregister(listener)
        listening = on

    def hear(worker: _Worker) -> None:
        while worker.alive:
            try:
                message = worker.channel.recv(64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message = b""
            if not message:  # the worker exited; the supervision loop restarts it
                retire(worker)
                return
            worker.ready = worker.ready or READY in message
            worker.open = max(0, worker.open - message.count(CLOSED))

    def hand_off(pool: list[_Worker]) -> None:
        while True:
            worker = _choose(pool)
            if worker is None:  # nobody ready: leave the rest in the backlog
                watch_listener(False)
                return
            try:
                connection, _address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # e.g. out of descriptors: the client is refused
                log.error("API acceptor: accept failed: %s", error)
                return
            with connection:
                try:
                    socket.send_fds(worker.channel, [HANDED], [connection.fileno()])
                except OSError as error:  # the worker died (or is stuck): this client is closed
                    log.error("API acceptor: could not hand a connection to worker %s: %s",
                              worker.process.pid, error)
                    worker.ready = False
                    continue
            worker.open += 1
            worker.handed += 1

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    pool = [start() for _ in range(workers)]
    try:
        while not stopping:
            for key, _events in selector.select(0.2):
                if key.data is not None:
                    hear(key.data)
            if not stopping:
                hand_off(pool)
                watch_listener(_choose(pool) is not None)
            for i, worker in enumerate(pool):
                if not worker.process.is_alive() and not stopping:
                    log.error("API worker %s exited with %s; starting another",
                              worker.process.pid, worker.process.exitcode)
                    retire(worker)
                    time.sleep(RESTART_PAUSE_S)
                    pool[i] = start()
    finally:
        watch_listener(False)
        listener.close()  # no new connections; the workers finish theirs
        for worker in pool:
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in pool:
            worker.process.join(10)
            if worker.process.is_alive():
                worker.process.kill()
            retire(worker)
        selector.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


WORKER_MEMORY = int(1.2 * 2**30)  # a worker's peak RSS with the embedding model (measured)
MAX_AUTO_WORKERS = 8


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def usable_cores() -> int:
    """The cores this process may run on, within a cgroup's CPU quota (containers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


def choose_workers(settings: Settings, cores: int | None = None,
                   memory: int | None = None) -> tuple[int, str]:
    """How many workers to run, and why: MIKO_API_WORKERS when set, else one a usable core
    (at most MAX_AUTO_WORKERS) as far as the available memory holds them."""
    if settings.api_workers:
        return settings.api_workers, "MIKO_API_WORKERS"
    cores = cores or usable_cores()
    if memory is None:  # what is free now, within the cgroup's limit (containers)
        free = available_memory()
        memory = machine_memory() if free is None else min(free, machine_memory())
    n = max(1, min(cores, MAX_AUTO_WORKERS, memory // WORKER_MEMORY))
    return n, (f"chosen from the machine: {cores} cores, {memory / 2**30:.1f} GiB available, "
               f"~{WORKER_MEMORY / 2**30:.1f} GiB a worker; MIKO_API_WORKERS pins it")


def run_server(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve the API with uvicorn until stopped, in ``workers`` processes (``choose_workers``)."""
    import uvicorn

    if workers > 1:  # one acceptor hands each connection to the least busy worker
        run_workers(settings, host, port, workers)
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning",
                    timeout_graceful_shutdown=5,
                    http=header_timeout_protocol(settings.api_header_timeout_s,
                                                 settings.api_max_header_bytes))
