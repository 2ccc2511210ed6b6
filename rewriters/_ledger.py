"""Which request waits on which answer, and each pass's progress bar.

A pass (a stage) is a list of requests, each keyed by what it asks (rewriters/_cache.py): identical
requests are sent once and every request waiting on that key is settled by its answer or failure; a
key the cache holds settles its requests at once. `EngineBackend.ask` runs one stage.
`EngineBackend.rewrite_chained` runs two: `follow(request, result)` is called as each first-stage
request settles and may return its follow-up, which joins the second stage at once, so a backend that
sends while it receives (rewriters/openai.py) has no barrier between the passes.

The accounting is the one two sequential passes would give: a follow-up whose key an earlier stage
has asked counts as answered from the cache (the barrier would have found it there), and is sent
again if that earlier request fails (the barrier's second pass would have sent it).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Callable, Optional

from rewriters import RewriteRequest, RewriteResult

FROM_CACHE = -1  # the stage that answered a key found in the cache
NO_ANSWER = "no answer: the backend returned nothing for this request"


class Stage:
    """One pass's bar and counts (done, failed, cached)."""

    SHOW_EVERY = 0.1  # seconds; formatting the counts for every answer costs more than drawing the bar

    def __init__(self, desc: str, total: int, position: Optional[int]):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="req", position=position)
        self.tally: Counter = Counter()
        self.shown = 0.0
        self.show()

    def count(self, outcome: str, n: int = 1) -> None:
        self.tally[outcome] += n
        if time.monotonic() - self.shown >= self.SHOW_EVERY:
            self.show()
        self.bar.update(n)

    def show(self) -> None:
        self.shown = time.monotonic()
        self.bar.set_postfix(done=self.tally["done"], failed=self.tally["failed"], cached=self.tally["cached"],
                             refresh=False)

    def expect_fewer(self) -> None:
        # A first rewrite that failed has no follow-up: the bar's total says what is really coming.
        self.bar.total -= 1
        self.bar.refresh()


class Ledger:
    def __init__(self, engine, follow: Optional[Callable[[RewriteRequest, RewriteResult], Optional[RewriteRequest]]] = None):
        self.engine = engine
        self.follow = follow
        self.stages: list[Stage] = []
        self.requests: dict[str, tuple[RewriteRequest, str, int]] = {}  # custom_id -> (request, key, stage)
        self.answers: dict[str, dict] = {}      # key -> reply
        self.answered_by: dict[str, int] = {}   # key -> the stage whose request got it, FROM_CACHE
        self.sending: dict[str, int] = {}       # key -> the stage that sent it: in the backend's hands
        self.waiting: dict[str, list[str]] = defaultdict(list)  # key -> custom_ids it settles
        self.replies: dict[str, dict] = {}      # custom_id -> its reply
        self.failures: dict[str, str] = {}      # custom_id -> why it has none
        self.results: dict[str, RewriteResult] = {}  # first-stage custom_id -> what `follow` was given
        self.cached: set[str] = set()           # custom_ids answered without a request of their own stage

    def stage(self, desc: str, total: int, position: Optional[int] = None) -> Stage:
        self.stages.append(Stage(desc, total, position))
        return self.stages[-1]

    def close(self) -> None:
        for stage in self.stages:
            stage.show()
            stage.bar.close()

    # -- requests in ---------------------------------------------------------------------------
    def add(self, requests: list[RewriteRequest], stage: int) -> list[tuple[str, RewriteRequest]]:
        """Takes `requests` into `stage`; returns the (key, request) pairs to send, follow-ups of
        cached first answers included."""
        keys = [self.engine.key(request) for request in requests]
        unknown = [key for key in keys if key not in self.answers and key not in self.sending]
        for key, reply in (self.engine.cache.get_many(unknown) if unknown else {}).items():
            self.answers[key], self.answered_by[key] = reply, FROM_CACHE
        self.engine.stats["requests"] += len(requests)
        to_send, ready = [], []
        for request, key in zip(requests, keys):
            self.requests[request.custom_id] = (request, key, stage)
            if key in self.answers:
                ready.append(request.custom_id)
            elif key in self.sending:
                self.waiting[key].append(request.custom_id)
            else:
                self.sending[key] = stage
                self.waiting[key].append(request.custom_id)
                to_send.append((key, request))
        for custom_id in ready:
            key = self.requests[custom_id][1]
            # Asked by this very stage (an identical request answered a moment ago): the barrier would
            # have sent it once for both, so it counts as done, not as cached.
            to_send += self._settle(custom_id, self.answers[key], None, "done" if self.answered_by[key] == stage
                                    else "cached")
        return to_send

    # -- what the backend reports --------------------------------------------------------------
    def answer(self, key: str, reply: dict) -> list[tuple[str, RewriteRequest]]:
        """A model's answer, committed to the cache before anything else; returns follow-ups to send."""
        if key not in self.sending:
            return []  # not asked, or settled already
        stage = self.sending.pop(key)
        self.engine.cache.put(key, self.engine.cache_family(), self.engine.model, reply)
        self.answers[key], self.answered_by[key] = reply, stage
        self.engine.stats["answered"] += 1
        self.engine.count_usage(reply.get("usage"))
        to_send = []
        for custom_id in self.waiting.pop(key, ()):
            later = self.requests[custom_id][2] > stage
            to_send += self._settle(custom_id, reply, None, "cached" if later else "done")
        return to_send

    def fail(self, key: str, reason: str) -> list[tuple[str, RewriteRequest]]:
        """No answer for `key`; returns what is sent again for a later stage's requests."""
        if key not in self.sending:
            return []
        stage = self.sending.pop(key)
        self.engine.stats["unanswered"] += 1
        to_send = []
        for custom_id in self.waiting.pop(key, ()):
            request, _, own = self.requests[custom_id]
            if own > stage:
                if key not in self.sending:
                    self.sending[key] = own
                    to_send.append((key, request))
                self.waiting[key].append(custom_id)
            else:
                to_send += self._settle(custom_id, None, reason, "failed")
        return to_send

    def _settle(self, custom_id: str, reply: Optional[dict], reason: Optional[str], outcome: str) -> list:
        request, _, stage = self.requests[custom_id]
        self.stages[stage].count(outcome)
        if outcome == "cached":
            self.cached.add(custom_id)
            self.engine.stats["cached"] += 1
        if reply is not None:
            self.replies[custom_id] = reply
        else:
            self.failures[custom_id] = reason
        if stage != 0 or self.follow is None:
            return []
        result = self.result(request)
        self.results[custom_id] = result
        follow_up = self.follow(request, result)
        if follow_up is None:
            self.stages[1].expect_fewer()
            return []
        return self.add([follow_up], 1)

    # -- results out ---------------------------------------------------------------------------
    def result(self, request: RewriteRequest) -> RewriteResult:
        custom_id = request.custom_id
        if custom_id in self.replies:
            return self.engine.judged(request, self.replies[custom_id], custom_id in self.cached)
        return RewriteResult(custom_id, None, self.failures.get(custom_id, NO_ANSWER))

    def all_results(self) -> dict[str, RewriteResult]:
        return {custom_id: self.results.get(custom_id) or self.result(request)
                for custom_id, (request, _, _) in self.requests.items()}
