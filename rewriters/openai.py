"""The `openai` rewriter: chat completions against any OpenAI-compatible server (OpenAI, vLLM,
Ollama, llama.cpp, `transformers serve`...), sent concurrently.

`rewrites.base_url` names the server (else the client's own OPENAI_BASE_URL handling); the key comes
from OPENAI_API_KEY (.env). Up to `rewrites.max_concurrency` requests are in flight, fewer while
`rewrites.adaptive_concurrency` finds the server slower than that (`ConcurrencyLimit`); optional
`requests_per_minute` / `tokens_per_minute` limits pace them (tokens estimated as in dry runs). A 429,
a 5xx, a timeout, a dropped connection or a malformed body is retried up to `max_retries` times after
an exponential backoff with full jitter (`retry_backoff` * 2^attempt, at most `retry_backoff_max`
seconds), never sooner than the server's Retry-After, which also pauses every other request. Other
HTTP errors (400, 401, 404...) fail at once. Every answer is cached before the next is awaited.
Both rewrite passes share one client and one concurrency limit: a rewritten rewrite is queued as soon
as its rewrite is answered and passes its checks (`rewrite_chained`, rewriters/_ledger.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import deque
from typing import Callable, Optional

from rewriters import RewriteRequest, _pricing
from rewriters._engine import EngineBackend
from rewriters._openai_common import (answer_from_completion, cache_family, client_arguments, fatal_reason,
                                      mask_secrets, on_openai)
import utils

logger = logging.getLogger(__name__)

OPTIONS: dict = {}


class RateLimiter:
    """Requests- and tokens-per-minute budgets refilled continuously (token buckets), plus a shared
    pause set by a server's Retry-After."""

    def __init__(self, requests_per_minute: Optional[int], tokens_per_minute: Optional[int]):
        self.limits = [requests_per_minute, tokens_per_minute]
        self.levels = [float(limit or 0) for limit in self.limits]  # start full: a minute's budget at once
        self.updated = time.monotonic()
        self.paused_until = 0.0
        self.lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    async def acquire(self, tokens: int) -> None:
        async with self.lock:  # first come, first served
            while True:
                now = time.monotonic()
                if now < self.paused_until:
                    await asyncio.sleep(self.paused_until - now)
                    continue
                for i, limit in enumerate(self.limits):
                    if limit:
                        self.levels[i] = min(limit, self.levels[i] + (now - self.updated) * limit / 60)
                self.updated = now
                # A request larger than a whole minute's budget waits for a full bucket, not forever.
                need = [1, tokens]
                waits = [(min(need[i], limit) - self.levels[i]) * 60 / limit
                         for i, limit in enumerate(self.limits) if limit and self.levels[i] < min(need[i], limit)]
                if not waits:
                    for i, limit in enumerate(self.limits):
                        if limit:
                            self.levels[i] -= min(need[i], limit)
                    return
                await asyncio.sleep(max(waits))


class ConcurrencyLimit:
    """How many requests may be in flight, adapted to the server.

    A server that answers one request at a time (llama.cpp with one slot, `transformers serve`) makes
    every further request in flight wait in its queue: 64 of them at 2 s each time out at 120 s. So
    the limit starts at 1 and, after every answer, is set by Little's law to what the server gets
    through in a quarter of `timeout`: limit = throughput over the recent answers x timeout / 4, at
    most double the current limit, within [1, max_concurrency]. A server that answers in parallel
    (OpenAI, vLLM) keeps its latency while the limit grows, so the limit reaches max_concurrency
    within a few answers; a serial one keeps its throughput, so the limit stays where a request waits
    about timeout / 4. A timeout or a 429 halves it. `adaptive=False` holds it at max_concurrency.
    """

    WINDOW = 32  # answers the throughput is measured over

    def __init__(self, maximum: int, timeout: float, adaptive: bool):
        self.maximum, self.timeout, self.adaptive = maximum, timeout, adaptive
        self.limit = 1 if adaptive else maximum
        self.in_flight = 0
        self.highest = self.limit
        self.finished: deque = deque(maxlen=self.WINDOW)
        self.condition = asyncio.Condition()

    async def acquire(self) -> float:
        async with self.condition:
            await self.condition.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
        return time.monotonic()

    async def release(self, started: float, outcome: str) -> None:
        """`outcome`: "answered" (any HTTP answer but a 429, and a refused or dropped connection,
        which fails fast and holds no place in a queue), "slow" (a timeout or a 429: halve the limit)
        or "unsent" (the run stopped before the request went out)."""
        async with self.condition:
            self.in_flight -= 1
            now = time.monotonic()
            if self.adaptive:
                if outcome == "answered":
                    self.finished.append(now)
                    span = now - self.finished[0] if len(self.finished) > 1 else now - started
                    throughput = max(1, len(self.finished) - 1) / max(span, 1e-6)
                    wanted = int(throughput * self.timeout / 4)
                    self.limit = max(1, min(self.maximum, 2 * self.limit, wanted))
                elif outcome == "slow":
                    self.limit = max(1, self.limit // 2)
                self.highest = max(self.highest, self.limit)
            self.condition.notify_all()


def retry_after(exc) -> Optional[float]:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) * scale
            except ValueError:
                continue
    return None


class OpenAIRewriter(EngineBackend):
    pipelines = True  # `_send` queues the follow-ups that `answer` and `fail` return

    def cache_family(self) -> str:
        return cache_family(self.settings)

    def _refused_alike(self, status: int, last: str) -> Optional[str]:
        """The same 400 for the first REFUSED_ALIKE requests, before any answer: a setting every request
        shares is wrong (an unknown parameter, a cap the model refuses), so the rest would fail too."""
        if status != 400 or self.refused_400 is None:
            return None
        self.refused_400.append(last)
        if len(self.refused_400) >= REFUSED_ALIKE and len(set(self.refused_400[-REFUSED_ALIKE:])) == 1:
            return (f"{last} for the first {REFUSED_ALIKE} requests alike: check the settings every request shares "
                    f"({self.section}.model, {self.section}.max_tokens, {self.section}.temperature, judge.logprobs)")
        return None

    @property
    def openai_endpoint(self) -> bool:
        return on_openai(self.settings)

    def backoff(self, attempt: int) -> float:
        cap = min(self.settings["retry_backoff_max"], self.settings["retry_backoff"] * 2 ** attempt)
        return random.uniform(0, cap)

    def send(self, pending: list[tuple[str, RewriteRequest]], answer: Callable, fail: Callable, bar) -> None:
        asyncio.run(self._send(pending, answer, fail))

    async def _send(self, pending, answer, fail) -> None:
        import openai

        # The client's own retries are off: ours honour Retry-After across all requests and count.
        client = openai.AsyncOpenAI(**client_arguments(self.settings, max_retries=0, section=self.section))
        limiter = RateLimiter(self.settings["requests_per_minute"], self.settings["tokens_per_minute"])
        gate = ConcurrencyLimit(self.settings["max_concurrency"], self.settings["timeout"],
                                self.settings["adaptive_concurrency"])
        # First in, first out: follow-ups queue behind the first requests not yet sent, so the last
        # requests sent are follow-ups, whose examples end with them (a short tail), and not first
        # requests that would each still need a second round trip.
        queue: asyncio.Queue = asyncio.Queue()
        for item in pending:
            queue.put_nowait(item)
        # Requests queued or being sent; the workers stop when it reaches 0, since only an answer or a
        # failure can queue more.
        unsettled = len(pending)
        workers = self.settings["max_concurrency"]  # as many as may be in flight: a worker sends one at a time

        self.stopped: Optional[str] = None  # why no further request is sent (a wrong key, say)
        self.refused_400: Optional[list[str]] = []  # the 400s before any answer (None once one came)

        async def worker() -> None:
            nonlocal unsettled
            while (item := await queue.get()) is not None:
                key, request = item
                if self.stopped is None:
                    more = await self._one(client, limiter, gate, key, request, answer, fail) or ()
                else:
                    fail(key, f"not sent: {self.stopped}")
                if self.stopped is None:  # once stopped, what is queued fails unsent, and nothing joins it
                    for follow_up in more:
                        queue.put_nowait(follow_up)
                    unsettled += len(more)
                unsettled -= 1
                if unsettled == 0:
                    for _ in range(workers):
                        queue.put_nowait(None)

        try:
            await asyncio.gather(*(worker() for _ in range(workers)))
        finally:
            await client.close()
        if self.stopped is not None:
            raise utils.RateError(f"{self.name}: stopped after the first such answer, {self.stopped}. Answers "
                                  "received before it are in the cache; no output was written")
        if gate.adaptive:
            self.stats["concurrency_highest"] = max(self.stats["concurrency_highest"], gate.highest)
            self.stats["concurrency_last"] = gate.limit
            logger.info("%s: adaptive concurrency ended at %d requests in flight (at most %d; max_concurrency %d)",
                        self.name, gate.limit, gate.highest, gate.maximum)

    async def _one(self, client, limiter, gate, key, request, answer, fail) -> Optional[list]:
        """Sends one request, retried as the module docstring says; returns what `answer` or `fail`
        returned (the follow-ups to send)."""
        import openai

        body = self.body(request)
        tokens = _pricing.estimate_tokens(request.prompt) + self.cap(request)
        last = ""
        for attempt in range(self.settings["max_retries"] + 1):
            await limiter.acquire(tokens)
            started = await gate.acquire()
            if self.stopped is not None:  # stopped while this request waited for its turn
                await gate.release(started, "unsent")
                return fail(key, f"not sent: {self.stopped}")
            self.stats["sent"] += 1
            wait, data = None, None
            try:
                # A deadline for the whole answer: the client's timeout is per read, which a server
                # sending a byte now and then can stretch for ever. (asyncio.timeout, unlike wait_for,
                # starts no task of its own: a third of a millisecond per request.)
                async with asyncio.timeout(self.settings["timeout"]):
                    raw = await client.chat.completions.with_raw_response.create(**body)
                # The body as JSON, not as the client's model dumped back to a dict: a sixth of a
                # millisecond per request less, the same dict.
                data = json.loads(raw.content)
                reply = answer_from_completion(data)
            except openai.APIStatusError as exc:
                status = exc.status_code
                last = f"HTTP {status}: {mask_secrets(_message(exc))}"
                await gate.release(started, "slow" if status == 429 else "answered")
                reason = fatal_reason(status, _message(exc), _code(exc), self.section) or self._refused_alike(status, last)
                if reason:
                    self.stopped = self.stopped or reason
                    return fail(key, last)
                if status != 429 and status < 500 and status != 408:
                    return fail(key, last)
                wait = retry_after(exc)
                if status == 429 and wait:
                    limiter.pause(wait)
            except (openai.APITimeoutError, openai.APIConnectionError, asyncio.TimeoutError) as exc:
                timed_out = isinstance(exc, (asyncio.TimeoutError, openai.APITimeoutError))
                last = (f"timeout (no whole answer within rewrites.timeout, {self.settings['timeout']:g} s)"
                        if timed_out else f"connection error: {mask_secrets(str(exc))}")
                await gate.release(started, "slow" if timed_out else "answered")
            except (openai.APIResponseValidationError, ValueError, TypeError) as exc:
                last = f"malformed response: {str(exc)[:200]}"
                self.count_usage(data.get("usage") if isinstance(data, dict) else None, usable=False)
                await gate.release(started, "answered")
            else:
                await gate.release(started, "answered")
                self.refused_400 = None  # one answer: a 400 from now on is the request's own
                return answer(key, reply)
            if attempt < self.settings["max_retries"]:
                self.stats["retries"] += 1
                delay = max(self.backoff(attempt), wait or 0.0)
                logger.debug("request %s: %s; retrying in %.2fs", request.custom_id, last, delay)
                await asyncio.sleep(delay)
        return fail(key, f"gave up after {self.settings['max_retries'] + 1} attempts: {last}")


REFUSED_ALIKE = 3  # the same 400 for this many requests before any answer: the settings, not the texts


def _code(exc) -> Optional[str]:
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    return str(exc)[:300]


def build(options: dict, template, model: str, temperature: float, seed: int, settings: Optional[dict] = None,
          section: str = "rewrites"):
    backend = OpenAIRewriter("openai", model, temperature, settings, section)
    if not backend.settings["dry_run"]:
        client_arguments(backend.settings, max_retries=0, section=backend.section)  # a missing key stops the run now, not after the judge
    return backend
