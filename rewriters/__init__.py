"""Rewriter backends: one module per backend, found by its file name (`rewrites.backend`).

A backend module declares `OPTIONS` (its settings under `rewrites.backend_options`) and
`build(options, template, model, temperature, seed) -> backend`, where the backend has
`rewrite(requests) -> {custom_id: RewriteResult}`. A request that fails is returned with `text=None`
and a `failure` reason; its error text is never returned as a rewrite.

Both rewrite passes go through `rewrite_chained(backend, first, follow, descs)`: a backend with its
own `rewrite_chained` sends each follow-up as its first request settles; any other gets two passes.

`build` may take a sixth argument, `settings`: the `rewrites` config section (engine keys such as
`base_url`, `max_concurrency`, `max_tokens`, `cache`); create_dataset.py passes it to every backend.
and a seventh, `section`: the config section the settings came from ("judge" when the attribute
judge asks through the backend), so that an error names the right key.
Backends that call a model share the engine in `rewriters/_engine.py` (cache, retries, failure
detection, usage accounting); modules whose name starts with `_` are helpers, not backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class RewriteRequest:
    custom_id: str
    prompt: str
    text: str
    target_w: bool

    @property
    def messages(self) -> list[dict]:
        """One user message and no system prompt, as in the original experiments."""
        return [{"role": "user", "content": self.prompt}]


@dataclass(frozen=True)
class RewriteResult:
    custom_id: str
    text: Optional[str]
    failure: Optional[str] = None
    usage: Optional[dict] = None
    finish_reason: Optional[str] = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.text is not None


# follow(first request, its result) -> its follow-up, or None (no second rewrite for a failed first one)
Follow = Callable[[RewriteRequest, RewriteResult], Optional[RewriteRequest]]


def two_passes(backend, first: list[RewriteRequest], follow: Follow, descs: tuple[str, str]) -> dict[str, RewriteResult]:
    """The first pass, then the follow-ups of its results as a second pass: a barrier between them.
    What a batch or local backend does, and what chaining is measured against (bench/bench_rewrite.py)."""
    results = dict(backend.rewrite(first, desc=descs[0]))
    second = [request for request in (follow(r, results[r.custom_id]) for r in first) if request is not None]
    results.update(backend.rewrite(second, desc=descs[1]))
    return results


def rewrite_chained(backend, first: list[RewriteRequest], follow: Follow, descs: tuple[str, str]) -> dict[str, RewriteResult]:
    """Both passes' results by custom_id; `follow` is called once for each first request."""
    chained = getattr(backend, "rewrite_chained", None)
    return chained(first, follow, descs) if chained is not None else two_passes(backend, first, follow, descs)
