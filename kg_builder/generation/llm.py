"""One OpenAI-compatible client for OpenAI, Azure OpenAI, vLLM, Ollama and llama.cpp servers.

Every call has an explicit timeout, bounded retries with backoff that honours ``Retry-After``,
a concurrency limit, and round-robin over several base URLs. Answers are JSON validated
against a pydantic model whatever the server promised; ``finish_reason == "length"``,
refusals and empty answers are failures; invalid JSON gets one repair attempt.

Servers that take a llama.cpp grammar (``Endpoint.grammar``: the packaged local model, or
``MIKO_LLM_GRAMMAR``) get the stage's grammar instead of a response format. Streamed endpoints
(``Endpoint.stream``) read the answer as it is written, and their timeout is the longest pause
between two pieces of it: a slow model that keeps writing never times out.

Structured output differs per server: OpenAI, Azure and vLLM take
``response_format={"type": "json_schema", ...}``; llama.cpp's server answers that with an error
and takes ``{"type": "json_object", "schema": ...}``. Mode ``auto`` tries json_schema and falls
back once per endpoint, remembering the choice.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from kg_builder.core.errors import KGBuilderError, LLMError
from kg_builder.generation.concurrency import AdaptiveLimit

T = TypeVar("T", bound=BaseModel)
StructuredMode = Literal["auto", "json_schema", "json_object", "none"]


@dataclass
class Endpoint:
    base_url: str
    api_key: str
    model: str  # on Azure OpenAI: the deployment name
    azure_api_version: str | None = None  # set: an Azure OpenAI resource at base_url
    start_concurrency: int | None = None  # what the server is known to take at once (default 4)
    grammar: bool = False  # the server takes a llama.cpp GBNF `grammar` (llama.cpp, llama-cpp-python)
    stream: bool = False  # stream answers: the timeout then bounds a stall, not the whole answer


@dataclass
class Usage:
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)


_UNSUPPORTED_FORMAT = re.compile(r"response_format|json_schema", re.IGNORECASE)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


def extract_json(text: str) -> Any:
    """The JSON object in a model's answer, tolerating code fences and prose around it."""
    stripped = _FENCE.sub("", text.strip()).strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    start = stripped.find("{")
    while start != -1:
        depth = 0
        in_str = False
        escape = False
        for i in range(start, len(stripped)):
            ch = stripped[i]
            if in_str:
                if escape:
                    escape = False
                elif ch == "\\":
                    escape = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    try:
                        return json.loads(stripped[start:i + 1])
                    except json.JSONDecodeError:
                        break
        start = stripped.find("{", start + 1)
    raise ValueError("no JSON object found in the answer")


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass
class _Message:
    content: str
    refusal: None = None


@dataclass
class _Choice:
    message: _Message
    finish_reason: str | None


@dataclass
class _Tokens:
    prompt_tokens: int
    completion_tokens: int


def _request_of(exc: Exception, endpoint: Endpoint) -> Any:
    """The request a transport error was about (the openai errors want one)."""
    import httpx

    try:
        return exc.request  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        return httpx.Request("POST", f"{endpoint.base_url}/chat/completions")


class _Streamed:
    """A streamed answer in the shape of a chat completion (what ``_content`` reads)."""

    def __init__(self, content: str, finish_reason: str | None, pieces: int) -> None:
        self.choices = ([_Choice(_Message(content), finish_reason)]
                        if content or finish_reason else [])
        # llama.cpp streams one token a piece and reports no prompt tokens when streaming
        self.usage = _Tokens(0, pieces)


OVERLOAD_REASONS = frozenset({"timeout", "rate_limited", "server_error"})


class LLMClient:
    """Async JSON completions against one or more OpenAI-compatible endpoints."""

    def __init__(
        self,
        endpoints: list[Endpoint],
        *,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        concurrency: int = 64,
        structured: StructuredMode = "auto",
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_tokens: int = 1024,
    ) -> None:
        if not endpoints:
            raise KGBuilderError("no model endpoint configured: set MIKO_LLM_BASE_URL")
        import openai

        self._openai = openai
        self.endpoints = endpoints
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.structured = structured
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_tokens = max_tokens
        # Per endpoint, a limit that adapts to the server; the configured one is its ceiling.
        self.limits = [AdaptiveLimit(concurrency, e.start_concurrency) for e in endpoints]
        self._modes: dict[int, StructuredMode] = {}
        self._next = 0
        self.usage = Usage()
        def transport() -> Any:
            try:  # the aiohttp transport keeps up at hundreds of requests in flight
                return openai.DefaultAioHttpClient()
            except Exception:  # openai without the aiohttp extra: its default httpx transport
                return None

        def make(e: Endpoint) -> Any:
            if e.azure_api_version:
                return openai.AsyncAzureOpenAI(
                    azure_endpoint=e.base_url, api_key=e.api_key, api_version=e.azure_api_version,
                    azure_deployment=e.model, max_retries=0, timeout=timeout_s,
                    http_client=transport())
            return openai.AsyncOpenAI(base_url=e.base_url, api_key=e.api_key or "none",
                                      max_retries=0, timeout=timeout_s, http_client=transport())

        self._clients = [make(e) for e in endpoints]

    async def close(self) -> None:
        for c in self._clients:
            await c.close()

    def _pick(self) -> int:
        index = self._next % len(self._clients)
        self._next += 1
        return index

    def _response_format(self, mode: StructuredMode, name: str, schema: dict[str, Any]) -> Any:
        if mode == "json_schema":
            return {"type": "json_schema",
                    "json_schema": {"name": name, "schema": schema, "strict": False}}
        if mode == "json_object":
            return {"type": "json_object", "schema": schema}
        return None

    @property
    def uses_grammar(self) -> bool:
        """Whether every endpoint takes a grammar (so a stage's grammar shapes every answer)."""
        return all(e.grammar for e in self.endpoints)

    async def complete_json(self, messages: list[dict[str, Any]], output: type[T],
                            name: str, grammar: str | None = None) -> T:
        """One validated answer, repairing an invalid one once; raises LLMError. ``grammar``
        (llama.cpp GBNF) is sent to the endpoints that take one, instead of a response format."""
        schema = output.model_json_schema()
        answer = await self._call(messages, name, schema, grammar)
        try:
            return output.model_validate(extract_json(answer))
        except (ValueError, ValidationError) as first:
            repair = [*messages, {"role": "assistant", "content": answer}, {
                "role": "user",
                "content": f"That answer is not valid: {str(first)[:500]}. Answer again with only "
                           f"one JSON object that follows this JSON schema: {json.dumps(schema)}"}]
            answer = await self._call(repair, name, schema, grammar)
            try:
                return output.model_validate(extract_json(answer))
            except (ValueError, ValidationError) as second:
                self._count_failure("invalid_json")
                raise LLMError("invalid_json", str(second)[:300]) from second

    def _delay(self, exc: Exception, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt + 1``: Retry-After, else backoff."""
        delay = _retry_after(exc)
        if delay is None:
            delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt) * (0.5 + random.random())
        return min(delay, self.max_backoff_s)

    def _count_failure(self, reason: str) -> None:
        self.usage.failures[reason] = self.usage.failures.get(reason, 0) + 1

    def _refused_schema(self, exc: Exception, mode: StructuredMode) -> bool:
        """Whether the server refused the json_schema response format itself (llama.cpp's
        server answers 400, llama-cpp-python's 500 with a validation error naming
        response_format). Any other refusal never switches the endpoint's mode."""
        oa = self._openai
        return (self.structured == "auto" and mode == "json_schema"
                and isinstance(exc, oa.APIStatusError) and exc.status_code in (400, 422, 500)
                and _UNSUPPORTED_FORMAT.search(str(exc)) is not None)

    def concurrency(self) -> list[dict[str, Any]]:
        """Per endpoint: the limit now, the highest reached, how often it was halved."""
        return [{"endpoint": e.base_url, **limit.summary()}
                for e, limit in zip(self.endpoints, self.limits, strict=True)]

    def _classify(self, exc: Exception) -> tuple[str, bool]:
        """(failure reason, worth retrying) of a failed request."""
        oa = self._openai
        if isinstance(exc, oa.APITimeoutError):
            return "timeout", True
        if isinstance(exc, oa.APIConnectionError):
            return "connection", True
        if isinstance(exc, oa.RateLimitError):
            return "rate_limited", True
        if isinstance(exc, oa.InternalServerError):
            return "server_error", True
        if isinstance(exc, oa.BadRequestError):
            return "bad_request", False
        assert isinstance(exc, oa.APIStatusError)
        return f"http_{exc.status_code}", False

    async def complete_text(self, prompt: str, name: str, *, max_tokens: int = 64,
                            stop: Sequence[str] = ("\n",), temperature: float = 0.0,
                            seed: int | None = None) -> str:
        """A plain completion of ``prompt`` (the student's few-shot prompts), up to the first
        ``stop``; raises LLMError (cut off at ``max_tokens``, empty, or the call failed)."""

        async def send(index: int, endpoint: Endpoint, client: Any, mode: StructuredMode) -> Any:
            extra = {"seed": seed} if seed is not None else {}
            return await client.completions.create(
                model=endpoint.model, prompt=prompt, max_tokens=max_tokens,
                temperature=temperature, stop=list(stop), timeout=self.timeout_s,
                extra_body=extra or None)

        return self._text(await self._attempts(name, send, structured=False))

    async def _call(self, messages: list[dict[str, Any]], name: str, schema: dict[str, Any],
                    grammar: str | None = None) -> str:
        async def send(index: int, endpoint: Endpoint, client: Any, mode: StructuredMode) -> Any:
            kwargs: dict[str, Any] = {}
            if grammar is not None and endpoint.grammar:
                kwargs["extra_body"] = {"grammar": grammar}
            elif (fmt := self._response_format(mode, name, schema)) is not None:
                kwargs["response_format"] = fmt
            if endpoint.stream:
                return await self._streamed(client, endpoint, messages, kwargs)
            return await client.chat.completions.create(
                model=endpoint.model, messages=messages, max_tokens=self.max_tokens,
                temperature=0, timeout=self.timeout_s, **kwargs)

        return self._content(await self._attempts(name, send, structured=True))

    async def _attempts(self, name: str, send: Any, structured: bool) -> Any:
        """``send`` to the endpoints in turn under their concurrency limits, retrying what is
        worth retrying (with backoff) up to ``max_retries``; the response, or LLMError."""
        oa = self._openai
        attempt = 0
        while True:
            index = self._pick()
            endpoint, client = self.endpoints[index], self._clients[index]
            mode = self._modes.get(index, self.structured) if structured else "none"
            if mode == "auto":
                mode = "json_schema"
            limit = self.limits[index]
            slot = await limit.acquire()  # a retry waits here too: no extra load on a late server
            failure: Exception | None = None
            refused, reason, retryable = False, "", False
            answered = False
            try:
                self.usage.calls += 1
                response = await send(index, endpoint, client, mode)
                answered = True
            except (oa.APIStatusError, oa.APITimeoutError, oa.APIConnectionError) as err:
                failure = err
                refused = structured and self._refused_schema(err, mode)
                if not refused:
                    reason, retryable = self._classify(err)
            finally:
                # What the request says about the server's load: a timeout, a 429 or a 5xx
                # (not a refused response format) is overload; anything else says nothing.
                await limit.release(slot, "ok" if answered else
                                    "overload" if reason in OVERLOAD_REASONS else "other", name)
            if failure is not None:
                exc: Exception = failure
                if refused:
                    # Use json_object with the schema on this endpoint from now on; ask again.
                    self._modes[index] = "json_object"
                    continue
                if not retryable or attempt >= self.max_retries:
                    self._count_failure(reason)
                    detail = f"after {attempt + 1} attempts: {exc}" if retryable else str(exc)
                    raise LLMError(reason, detail[:300]) from exc
                attempt += 1
                self.usage.retries += 1
                await asyncio.sleep(self._delay(exc, attempt - 1))
                continue
            if structured and self.structured == "auto" and index not in self._modes:
                self._modes[index] = mode
            return response

    async def _streamed(self, client: Any, endpoint: Endpoint, messages: list[dict[str, Any]],
                        kwargs: dict[str, Any]) -> Any:
        """The answer read as it streams in: the timeout bounds each pause (reading the prompt,
        then between two pieces of the answer), never the whole answer."""
        import httpx

        pause = httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 10.0))
        stream = await client.chat.completions.create(
            model=endpoint.model, messages=messages, max_tokens=self.max_tokens, temperature=0,
            timeout=pause, stream=True, **kwargs)
        parts: list[str] = []
        finish: str | None = None
        pieces = 0
        oa = self._openai
        try:
            async with stream:
                async for chunk in stream:
                    for choice in chunk.choices:
                        if choice.delta is not None and choice.delta.content:
                            parts.append(choice.delta.content)
                            pieces += 1
                        finish = choice.finish_reason or finish
        except (httpx.TimeoutException, TimeoutError) as exc:  # a pause longer than the timeout
            raise oa.APITimeoutError(request=_request_of(exc, endpoint)) from exc
        except httpx.TransportError as exc:  # the server dropped the answer half way
            raise oa.APIConnectionError(message=f"the answer broke off: {exc!r}",
                                        request=_request_of(exc, endpoint)) from exc
        return _Streamed("".join(parts), finish, pieces)

    def _choice(self, response: Any) -> Any:
        """The answer's first choice, its tokens counted; LLMError if none or cut off."""
        if response.usage is not None:
            self.usage.tokens_in += response.usage.prompt_tokens or 0
            self.usage.tokens_out += response.usage.completion_tokens or 0
        if not response.choices:
            self._count_failure("empty")
            raise LLMError("empty", "no choices in the answer")
        choice = response.choices[0]
        if choice.finish_reason == "length":
            self._count_failure("length")
            raise LLMError("length", "the answer was cut off at max_tokens")
        return choice

    def _text(self, response: Any) -> str:
        """A plain completion's text (up to its stop), or LLMError if empty or cut off."""
        text = self._choice(response).text or ""
        if not text.strip():
            self._count_failure("empty")
            raise LLMError("empty", "the answer has no content")
        return str(text)

    def _content(self, response: Any) -> str:
        """The answer's text, or LLMError for an empty, cut-off or refused answer."""
        choice = self._choice(response)
        refusal = getattr(choice.message, "refusal", None)
        if refusal:
            self._count_failure("refusal")
            raise LLMError("refusal", str(refusal)[:300])
        content = choice.message.content
        if not content or not content.strip():
            self._count_failure("empty")
            raise LLMError("empty", "the answer has no content")
        return str(content)
