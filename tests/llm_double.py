"""An OpenAI-compatible chat-completions server on 127.0.0.1 for tests: a double of the remote
model server only (never of our code). ``/v1/completions`` answers plain prompts (the student's).

It speaks the real protocol: ``POST /v1/chat/completions`` with ``response_format`` (json_schema
or json_object), image content parts (data URLs), ``usage``, OpenAI-style error bodies, 429
with ``Retry-After``, and ``stream: true`` (server-sent events, a piece of the answer each).
Answers are deterministic functions of the request. Tests script faults
per call (``faults.script``) and latency (``faults.latency_s``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from kg_builder.core.relations import Relation


@dataclass
class Faults:
    script: list[str] = field(default_factory=list)  # consumed one per call, in order
    latency_s: float = 0.0
    reject_json_schema: int = 0  # status for json_schema requests: 400 (llama.cpp), 500 (llama-cpp-python)
    calls: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    azure_deployments: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # slots > 0: the server answers that many requests at a time and queues the rest, as
    # llama.cpp's server does (latency_s is then the time of one answer in a slot).
    slots: int = 0
    open_now: int = 0  # requests the server holds (queued or answering)
    peak_open: int = 0
    active: int = 0
    piece_s: float = 0.0  # streamed answers: the pause before each piece (a slow, steady model)

    def next(self) -> str | None:
        with self.lock:
            self.calls += 1
            return self.script.pop(0) if self.script else None


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": None}},
                        status_code=status, headers=headers)


def _words(text: str, n: int) -> list[str]:
    return re.findall(r"[a-z]{3,}", text.lower())[:n] or ["something"]


def _post_text(prompt: str) -> str:
    for pattern in (r'Based on the following text "(.*)", please describe', r"Post: (.*?)\n",
                    r"The information is (.*)/ "):
        m = re.search(pattern, prompt, re.S)
        if m:
            return m.group(1)
    return prompt


def answer_for(body: dict[str, Any]) -> dict[str, Any]:
    """The deterministic answer: which stage is asked is read from the prompt."""
    content = body["messages"][0]["content"]
    if isinstance(content, list):  # image description: a text part and an image part
        text = next(p["text"] for p in content if p["type"] == "text")
        image = next(p for p in content if p["type"] == "image_url")["image_url"]["url"]
        if not image.startswith("data:image/jpeg;base64,"):
            raise ValueError("expected a JPEG data URL")
        size = len(base64.b64decode(image.split(",", 1)[1]))
        words = _words(_post_text(text), 4)
        return {"description": f"A photo ({size} bytes) showing {' '.join(words)}."}
    words = _words(_post_text(content), 5)
    if "ten relations" in content:
        return {r.value: f"{' '.join(words[:3])} again." for r in Relation}
    return {"concept": words[0], "action": f"sharing {words[-1]}", "object": words[1 % len(words)],
            "emotion": "joy", "keywords": ([*words, "post", "photo", "moment"])[:3]}


def _streamed(faults: Faults, body: dict[str, Any], answer: str, finish: str,
              stall: bool) -> Response:
    """The answer as server-sent chat.completion.chunk events, eight characters a piece;
    ``stall``: half the answer, then nothing more."""
    pieces = [answer[i:i + 8] for i in range(0, len(answer), 8)]

    def event(delta: dict[str, Any], reason: str | None) -> bytes:
        return ("data: " + json.dumps({
            "id": f"chatcmpl-{faults.calls}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": body.get("model", "double"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}) + "\n\n").encode()

    async def events() -> Any:
        yield event({"role": "assistant"}, None)
        for i, piece in enumerate(pieces):
            if stall and i == len(pieces) // 2:
                await asyncio.sleep(3600)
            await asyncio.sleep(faults.piece_s)
            yield event({"content": piece}, None)
        yield event({}, finish)
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def create_double(faults: Faults) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        faults.requests.append(body)
        fault = faults.next()
        faults.open_now += 1
        faults.peak_open = max(faults.peak_open, faults.open_now)
        try:
            if faults.slots:
                while faults.active >= faults.slots:  # queued, as a busy server holds it
                    await asyncio.sleep(0.002)
                faults.active += 1
                try:
                    await asyncio.sleep(faults.latency_s)
                finally:
                    faults.active -= 1
            elif faults.latency_s:
                await asyncio.sleep(faults.latency_s)
        finally:
            faults.open_now -= 1
        fmt = body.get("response_format") or {}
        if faults.reject_json_schema and fmt.get("type") == "json_schema":
            return _error(faults.reject_json_schema, "1 validation error: body.response_format."
                          "type: Input should be 'text' or 'json_object'", "invalid_request_error")
        if fault == "bad_request":
            return _error(400, "This model's maximum context length is 4096 tokens",
                          "invalid_request_error")
        if fault == "429":
            return _error(429, "Rate limit reached", "rate_limit_error", {"retry-after": "0.05"})
        if fault == "500":
            return _error(500, "The server had an error", "server_error")
        if fault in ("timeout", "hang"):
            await asyncio.sleep(3600)
        answer: str | None = json.dumps(answer_for(body))
        finish = "stop"
        refusal = None
        if fault == "truncated":
            answer = answer[: len(answer) // 2] if answer else answer
        elif fault == "prose":
            answer = f"Sure! Here is the JSON you asked for:\n{answer}\nHope this helps."
        elif fault == "fenced":
            answer = f"```json\n{answer}\n```"
        elif fault == "wrong_types":
            answer = json.dumps({k: 42 for k in json.loads(answer or "{}")})
        elif fault == "placeholder":  # what small models do: copy the prompt's placeholder
            answer = json.dumps({k: "The user needs to [brief description] before posting this "
                                 "Tweet." for k in json.loads(answer or "{}")})
        elif fault == "empty":
            answer = ""
        elif fault == "length":
            finish = "length"
        elif fault == "refusal":
            answer, refusal = None, "I can't help with that."
        if body.get("stream") and answer is not None:
            return _streamed(faults, body, answer, finish, stall=fault == "stall")
        prompt_tokens = len(json.dumps(body["messages"])) // 4
        completion_tokens = len(answer or "") // 4
        return JSONResponse({
            "id": f"chatcmpl-{faults.calls}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "double"),
            "choices": [{"index": 0, "finish_reason": finish, "message": {
                "role": "assistant", "content": answer, "refusal": refusal}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })

    async def text_completions(request: Request) -> Response:
        """Plain completions (the student's few-shot prompts): the words of the last post
        in the prompt, as a continuation of its last line (the relation's template)."""
        body = await request.json()
        faults.requests.append(body)
        fault = faults.next()
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        if fault == "500":
            return _error(500, "The server had an error", "server_error")
        if fault in ("timeout", "hang"):
            await asyncio.sleep(3600)
        prompt = str(body["prompt"])
        posts = re.findall(r"^Post: (.*)$", prompt, re.M)
        text = f" {' '.join(_words(posts[-1] if posts else prompt, 4))} today.\nPost: more"
        finish = "stop"
        if fault == "placeholder" or (posts and "copy the placeholder" in posts[-1]):
            text = " [brief description]."
        elif fault == "template_again":
            text = " " + prompt.rsplit("\n", 1)[-1] + " share it."
        elif fault == "length":
            finish = "length"
        for stop in body.get("stop") or []:
            text = text.split(stop, 1)[0]
        return JSONResponse({
            "id": f"cmpl-{faults.calls}", "object": "text_completion",
            "created": int(time.time()), "model": body.get("model", "double"),
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(text) // 4,
                      "total_tokens": (len(prompt) + len(text)) // 4}})

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "double", "object": "model"}]})

    async def azure(request: Request) -> Response:
        # Azure OpenAI: /openai/deployments/{deployment}/chat/completions?api-version=...,
        # key in the api-key header.
        if not request.query_params.get("api-version"):
            return _error(404, "Resource not found", "invalid_request_error")
        if request.headers.get("api-key") != "azure-key":
            return _error(401, "Access denied due to invalid subscription key",
                          "invalid_request_error")
        faults.azure_deployments.append(request.path_params["deployment"])
        return await completions(request)

    return Starlette(routes=[
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/v1/completions", text_completions, methods=["POST"]),
        Route("/v1/models", models),
        Route("/openai/deployments/{deployment}/chat/completions", azure, methods=["POST"]),
    ])


@contextmanager
def running_double(faults: Faults | None = None) -> Iterator[tuple[str, Faults]]:
    """Serve the double on a free loopback port; yields (base URL ending in /v1, faults)."""
    faults = faults or Faults()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_double(faults), host="127.0.0.1", port=port,
                            log_level="critical", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the LLM double did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1", faults
    finally:
        server.should_exit = True
        thread.join(5)
