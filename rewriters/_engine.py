"""What every model-calling backend shares: request keys, the response cache, failure detection,
progress, and the accounting of requests, tokens and failures.

A backend subclasses `EngineBackend` and implements `send(pending, answer, fail, bar)`: it must end
every pending request with exactly one call of `answer(key, {"text", "finish_reason", "refusal",
"usage"})` (what the model said) or `fail(key, reason)` (no answer: HTTP errors after retries,
timeouts, a batch that never ran it). `answer` commits to the cache before returning, so a crash
right after it loses nothing. `rewrite()` then turns each answer into a text or a failure reason.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from typing import Callable, Optional

from rewriters import RewriteRequest, RewriteResult
from rewriters._cache import ResponseCache, request_key
from rewriters._failures import FailureDetector
from rewriters import _pricing
from utils.schema import SCHEMA

logger = logging.getLogger(__name__)

ENGINE_KEYS = ("base_url", "max_concurrency", "requests_per_minute", "tokens_per_minute", "max_retries",
               "retry_backoff", "retry_backoff_max", "timeout", "max_tokens", "cache", "refusal_detectors",
               "refusal_patterns", "dry_run", "poll_interval", "max_submissions")
# The config's defaults (utils/schema.py), also used when a backend is built without the `rewrites`
# section (e.g. in a test).
DEFAULT_SETTINGS = {key: copy.deepcopy(SCHEMA["rewrites"][key][0]) for key in ENGINE_KEYS}


POSITIVE = ("max_concurrency", "requests_per_minute", "tokens_per_minute", "timeout", "max_tokens", "max_submissions")
NOT_NEGATIVE = ("max_retries", "retry_backoff", "retry_backoff_max", "poll_interval")


def setting_error(key: str, problem: str):
    """A RateError about one config key; create_dataset.py adds the file the key came from."""
    from utils import RateError

    error = RateError(f"{key}: {problem}")
    error.key = key
    return error


def engine_settings(settings: Optional[dict]) -> dict:
    merged = {**DEFAULT_SETTINGS, **{k: v for k, v in (settings or {}).items() if k in DEFAULT_SETTINGS}}
    for key in POSITIVE + NOT_NEGATIVE:
        value = merged[key]
        if value is not None and (value <= 0 if key in POSITIVE else value < 0):
            raise setting_error(f"rewrites.{key}", f"must be {'positive' if key in POSITIVE else 'at least 0'}, got {value}")
    return merged


class EngineBackend:
    family = "engine"
    batch = False  # priced at the Batch API discount

    def __init__(self, name: str, model: str, temperature: float, settings: Optional[dict]):
        self.name = name
        self.model = model
        self.temperature = temperature
        self.settings = engine_settings(settings)
        self.detector = FailureDetector(self.settings["refusal_detectors"], self.settings["refusal_patterns"])
        self.stats: Counter = Counter()
        self._cache: Optional[ResponseCache] = None

    # -- what a request is -------------------------------------------------------------------
    def cache_family(self) -> str:
        return self.family

    def key(self, request: RewriteRequest) -> str:
        return request_key(self.cache_family(), self.model, request.messages, self.temperature,
                           self.settings["max_tokens"])

    def body(self, request: RewriteRequest) -> dict:
        """The chat-completions body, as sent online and as written into Batch API request files."""
        body = {"model": self.model, "messages": request.messages, "temperature": self.temperature}
        if self.settings["max_tokens"] is not None:
            body["max_tokens"] = self.settings["max_tokens"]
        return body

    @property
    def cache(self) -> ResponseCache:
        if self._cache is None:
            import utils

            path = utils.folder("cache") / "responses.sqlite" if self.settings["cache"] else None
            self._cache = ResponseCache(path)
        return self._cache

    # -- to implement ------------------------------------------------------------------------
    def send(self, pending: list[tuple[str, RewriteRequest]], answer: Callable[[str, dict], None],
             fail: Callable[[str, str], None], bar) -> None:
        raise NotImplementedError

    # -- the engine --------------------------------------------------------------------------
    def rewrite(self, requests: list[RewriteRequest]) -> dict[str, RewriteResult]:
        from tqdm import tqdm

        keys = {request.custom_id: self.key(request) for request in requests}
        answers = self.cache.get_many(keys.values())
        cached = set(answers)
        pending: dict[str, RewriteRequest] = {}
        for request in requests:
            key = keys[request.custom_id]
            if key not in answers and key not in pending:
                pending[key] = request  # identical requests are sent once
        errors: dict[str, str] = {}
        waiting = Counter(keys.values())
        bar = tqdm(total=len(requests), desc=f"{self.name} rewrites", unit="req")
        bar.update(sum(waiting[key] for key in cached))
        tally = Counter(cached=sum(waiting[key] for key in cached))

        def show():
            bar.set_postfix(done=tally["done"], failed=tally["failed"], cached=tally["cached"], refresh=False)

        def answer(key: str, reply: dict) -> None:
            if key in answers or key not in pending:
                return
            self.cache.put(key, self.cache_family(), self.model, reply)
            answers[key] = reply
            usage = reply.get("usage") or {}
            self.stats["answered"] += 1
            self.stats["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
            self.stats["completion_tokens"] += int(usage.get("completion_tokens") or 0)
            tally["done"] += waiting[key]
            bar.update(waiting[key])
            show()

        def fail(key: str, reason: str) -> None:
            if key in answers or key in errors or key not in pending:
                return
            errors[key] = reason
            self.stats["unanswered"] += 1
            tally["failed"] += waiting[key]
            bar.update(waiting[key])
            show()

        show()
        if pending:
            logger.info("%s: %d requests, %d answered from the cache, %d to send", self.name, len(requests),
                        tally["cached"], len(pending))
            self.send(list(pending.items()), answer, fail, bar)
        bar.close()
        self.stats["requests"] += len(requests)
        self.stats["cached"] += tally["cached"]

        results = {}
        for request in requests:
            key = keys[request.custom_id]
            reply = answers.get(key)
            if reply is None:
                reason = errors.get(key, "no answer: the backend returned nothing for this request")
                results[request.custom_id] = RewriteResult(request.custom_id, None, reason)
            else:
                results[request.custom_id] = self.judged(request, reply, key in cached)
        return results

    def judged(self, request: RewriteRequest, reply: dict, cached: bool) -> RewriteResult:
        """A model's answer as a rewrite, or as a failure when a detector rejects it."""
        reason = self.detector.judge(reply, request)
        return RewriteResult(request.custom_id, None if reason else reply["text"], reason, reply.get("usage"),
                             reply.get("finish_reason"), cached)

    def cached_results(self, requests: list[RewriteRequest]) -> dict[str, RewriteResult]:
        """The results the cache already holds for `requests`; sends nothing."""
        keys = {request.custom_id: self.key(request) for request in requests}
        answers = self.cache.get_many(keys.values())
        results = {}
        for request in requests:
            reply = answers.get(keys[request.custom_id])
            if reply is not None:
                results[request.custom_id] = self.judged(request, reply, cached=True)
        return results

    def estimate(self, requests: list[RewriteRequest]) -> dict:
        """What sending `requests` would cost, counting cached answers as free. Sends nothing."""
        keys = {}
        for request in requests:
            keys.setdefault(self.key(request), request)
        cached = self.cache.get_many(keys)
        todo = [request for key, request in keys.items() if key not in cached]
        cap = self.settings["max_tokens"]
        input_tokens = sum(_pricing.estimate_tokens(r.prompt) + _pricing.TOKENS_PER_MESSAGE for r in todo)
        output_tokens = sum(min(_pricing.estimate_tokens(r.text), cap or 1 << 30) for r in todo)
        return {"requests": len(requests), "to_send": len(todo), "cached": len(requests) - len(todo),
                "input_tokens": input_tokens, "output_tokens": output_tokens,
                "cost_usd": self.price(input_tokens, output_tokens)}

    def price(self, input_tokens: int, output_tokens: int) -> Optional[float]:
        return _pricing.cost(self.model, input_tokens, output_tokens, self.batch)

    def summary(self) -> dict:
        """Flat counts for the run summary and the sidecar."""
        out = dict(self.stats)
        spent = self.price(self.stats["prompt_tokens"], self.stats["completion_tokens"])
        if spent is not None:
            out["cost_usd"] = round(spent, 4)
        return out
