"""What every model-calling backend shares: request keys, the response cache, failure detection,
progress, the completion cap, and the accounting of requests, tokens, failures and cost.

A backend subclasses `EngineBackend` and implements `send(pending, answer, fail, bar)`: it must end
every pending request with exactly one call of `answer(key, {"text", "finish_reason", "refusal",
"usage"[, "logprobs"]})` (what the model said) or `fail(key, reason)` (no answer: HTTP errors after
retries, timeouts, a batch that never ran it). `answer` commits to the cache before returning, so a
crash right after it loses nothing. `ask()` returns those raw answers (the attribute judge reads them);
`rewrite()` turns each into a text or a failure reason. A backend with `pipelines = True` also takes
what `answer` and `fail` return, (key, request) pairs to send on the same client: the follow-ups of
`rewrite_chained` (rewriters/_ledger.py), so the second pass needs no barrier.

The completion cap of a request is `rewrites.max_tokens` when set, else derived from the text to
rewrite, `AUTO_CAP_FACTOR` x its estimated tokens + `AUTO_CAP_SLACK`: room for a rewrite three times
as long as its input, and a stop for a model that would run on to the end of its context.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from typing import Callable, Optional

from rewriters import Follow, RewriteRequest, RewriteResult, two_passes
from rewriters._cache import ResponseCache, request_key
from rewriters._failures import FailureDetector
from rewriters._ledger import NO_ANSWER, Ledger
from rewriters import _pricing
from utils.config import check_value
from utils.schema import SCHEMA

logger = logging.getLogger(__name__)

ENGINE_KEYS = ("base_url", "max_concurrency", "adaptive_concurrency", "requests_per_minute", "tokens_per_minute",
               "max_retries", "retry_backoff", "retry_backoff_max", "timeout", "max_tokens", "cache",
               "refusal_detectors", "refusal_patterns", "price_per_million_tokens", "dry_run", "poll_interval",
               "max_submissions")
# The config's defaults (utils/schema.py), also used when a backend is built without the `rewrites`
# section (e.g. in a test). `logprobs` (top log-probabilities asked per token) is set by the judge only.
DEFAULT_SETTINGS = {**{key: copy.deepcopy(SCHEMA["rewrites"][key][0]) for key in ENGINE_KEYS}, "logprobs": 0}
AUTO_CAP_FACTOR, AUTO_CAP_SLACK = 3, 64

def engine_settings(settings: Optional[dict], section: str = "rewrites") -> dict:
    """The engine keys of `settings` over the defaults, each checked as the schema declares it, by the
    config's own check (a backend may be given settings that no config file was loaded for: a test's,
    a bench's). A refusal is a ConfigError naming `section.key`, which build_from_module gives the file."""
    merged = {**DEFAULT_SETTINGS, **{k: v for k, v in (settings or {}).items() if k in DEFAULT_SETTINGS}}
    for key, value in merged.items():
        # the judge declares the keys it sets itself (judge.max_tokens, judge.logprobs...); the rest are the
        # rewriter's. A null stays "derive it" wherever the engine's own default is null.
        _, expected, *check = SCHEMA[section].get(key) or SCHEMA["rewrites"].get(key) or SCHEMA["judge"][key]
        merged[key] = check_value(f"{section}.{key}", value, DEFAULT_SETTINGS[key], expected, None, *check)
    return merged


class EngineBackend:
    family = "engine"
    batch = False  # priced at the Batch API discount
    # Whether a model name alone may be priced from the OpenAI table: only OpenAI's own endpoint.
    openai_endpoint = False

    def __init__(self, name: str, model: str, temperature: float, settings: Optional[dict], section: str = "rewrites"):
        self.name = name
        self.model = model
        self.temperature = temperature
        self.section = section  # where the settings came from, for messages: rewrites or judge
        self.settings = engine_settings(settings, section)
        self.detector = FailureDetector(self.settings["refusal_detectors"], self.settings["refusal_patterns"])
        self.stats: Counter = Counter()
        self._cache: Optional[ResponseCache] = None

    # -- what a request is -------------------------------------------------------------------
    def cache_family(self) -> str:
        return self.family

    def cap(self, request: RewriteRequest) -> int:
        """The completion cap of a request (the module docstring explains the derived one)."""
        if self.settings["max_tokens"] is not None:
            return self.settings["max_tokens"]
        return AUTO_CAP_FACTOR * _pricing.estimate_tokens(request.text) + AUTO_CAP_SLACK

    def key(self, request: RewriteRequest) -> str:
        return request_key(self.cache_family(), self.model, request.messages, self.temperature, self.cap(request),
                           self.settings["logprobs"])

    def body(self, request: RewriteRequest) -> dict:
        """The chat-completions body, as sent online and as written into Batch API request files."""
        body = {"model": self.model, "messages": request.messages, "temperature": self.temperature,
                "max_tokens": self.cap(request)}
        if self.settings["logprobs"]:
            body.update(logprobs=True, top_logprobs=self.settings["logprobs"])
        return body

    @property
    def cache(self) -> ResponseCache:
        if self._cache is None:
            import utils

            path = utils.folder("cache") / "responses.sqlite" if self.settings["cache"] else None
            self._cache = ResponseCache(path, read_only=bool(self.settings.get("dry_run")))
        return self._cache

    def close(self) -> None:
        """Close the response cache, so that a run in a process that goes on (a sweep, a test) leaves
        the cache file as a finished process would."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    # -- to implement ------------------------------------------------------------------------
    def send(self, pending: list[tuple[str, RewriteRequest]], answer: Callable[[str, dict], None],
             fail: Callable[[str, str], None], bar) -> None:
        raise NotImplementedError

    # -- the engine --------------------------------------------------------------------------
    pipelines = False  # whether `send` takes follow-ups as it goes: `answer` and `fail` return them

    def ask(self, requests: list[RewriteRequest], desc: Optional[str] = None) -> tuple[dict, dict, set]:
        """Every request answered from the cache or sent: (answers by custom_id, failure reasons by
        custom_id, the custom_ids answered from the cache)."""
        ledger = Ledger(self)
        stage = ledger.stage(desc or f"{self.name} rewrites", len(requests))
        try:
            pending = ledger.add(requests, 0)
            if pending:
                logger.info("%s: %d requests, %d answered from the cache, %d to send", desc or self.name,
                            len(requests), stage.tally["cached"], len(pending))
                self.send(pending, ledger.answer, ledger.fail, stage.bar)
        finally:
            ledger.close()
        by_id, failed = {}, {}
        for request in requests:
            if request.custom_id in ledger.replies:
                by_id[request.custom_id] = ledger.replies[request.custom_id]
            else:
                failed[request.custom_id] = ledger.failures.get(request.custom_id, NO_ANSWER)
        return by_id, failed, {request.custom_id for request in requests if request.custom_id in ledger.cached}

    def rewrite(self, requests: list[RewriteRequest], desc: Optional[str] = None) -> dict[str, RewriteResult]:
        answers, failed, cached = self.ask(requests, desc)
        results = {cid: RewriteResult(cid, None, reason) for cid, reason in failed.items()}
        for request in requests:
            if request.custom_id in answers:
                results[request.custom_id] = self.judged(request, answers[request.custom_id],
                                                         request.custom_id in cached)
        return results

    def rewrite_chained(self, first: list[RewriteRequest], follow: Follow, descs: tuple[str, str]) -> dict:
        """Both passes (`rewriters.rewrite_chained`). A backend that sends while it receives gets each
        follow-up as its first request settles, on the same client and concurrency limit; the others
        (a batch, a local model) run the two passes one after the other."""
        if not self.pipelines:
            return two_passes(self, first, follow, descs)
        ledger = Ledger(self, follow)
        one, two = ledger.stage(descs[0], len(first), position=0), ledger.stage(descs[1], len(first), position=1)
        try:
            pending = ledger.add(first, 0)
            if pending:
                logger.info("%s: %d requests, %d answered from the cache, %d to send now; the %s follow as the "
                            "rewrites come in", descs[0], len(first), one.tally["cached"], len(pending), descs[1])
                self.send(pending, ledger.answer, ledger.fail, one.bar)
        finally:
            ledger.close()
        logger.info("%s: %d requests, %d answered from the cache", descs[1], two.bar.total, two.tally["cached"])
        return ledger.all_results()

    def judged(self, request: RewriteRequest, reply: dict, cached: bool) -> RewriteResult:
        """A model's answer as a rewrite, or as a failure when a detector rejects it."""
        reason = self.detector.judge(reply, request, self.cap(request))
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

    def estimate(self, requests: list[RewriteRequest], output_tokens: Optional[Callable] = None) -> dict:
        """What sending `requests` would cost, counting cached answers as free. Sends nothing. A
        rewrite is assumed as long as its input (within the cap), unless `output_tokens(request)` says."""
        keys = {}
        for request in requests:
            keys.setdefault(self.key(request), request)
        cached = self.cache.get_many(keys)
        todo = [request for key, request in keys.items() if key not in cached]
        input_tokens = sum(_pricing.estimate_tokens(r.prompt) + _pricing.TOKENS_PER_MESSAGE for r in todo)
        guess = output_tokens or (lambda r: _pricing.estimate_tokens(r.text))
        out_tokens = sum(min(guess(r), self.cap(r)) for r in todo)
        return {"requests": len(requests), "to_send": len(todo), "cached": len(requests) - len(todo),
                "input_tokens": input_tokens, "output_tokens": out_tokens,
                "cost_usd": self.price(input_tokens, out_tokens)}

    def price(self, input_tokens: int, output_tokens: int) -> Optional[float]:
        """Dollars for these tokens: `price_per_million_tokens` when set; else OpenAI's table, but only
        on OpenAI's own endpoint (a local server may call its model anything); else None (no price)."""
        given = self.settings["price_per_million_tokens"]
        if given is not None:
            return _pricing.cost_at(tuple(given), input_tokens, output_tokens, self.batch)
        if not self.openai_endpoint:
            return None
        return _pricing.cost(self.model, input_tokens, output_tokens, self.batch)

    def count_usage(self, usage, usable: bool = True) -> None:
        """Tokens the server billed. Answers we could not use (a body without choices, a line we no
        longer need) are paid for all the same, so they count in the usage and the cost too."""
        usage = usage if isinstance(usage, dict) else {}
        tokens = [usage.get(k) if isinstance(usage.get(k), int) else 0 for k in ("prompt_tokens", "completion_tokens")]
        self.stats["prompt_tokens"] += tokens[0]
        self.stats["completion_tokens"] += tokens[1]
        if not usable and any(tokens):
            self.stats["billed_unusable"] += 1

    def summary(self) -> dict:
        """Flat counts for the run summary and the sidecar; a run nobody priced says "no price"."""
        out = dict(self.stats)
        spent = self.price(self.stats["prompt_tokens"], self.stats["completion_tokens"])
        out["cost_usd"] = round(spent, 4) if spent is not None else _pricing.NO_PRICE
        return out
