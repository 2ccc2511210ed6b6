"""The `simulated` rewriter: no LLM, no network. It applies the dataset template's own
`simulate_rewrite(text, target_w, rng)`, which flips W and makes the off-target edits that template
documents (the synthetic corpus: fixes typos, rewords filler sentences). Each request draws from its
own random stream, seeded by (seed, custom_id), so results do not depend on order or batch.
"""

from __future__ import annotations

import random

from tqdm import tqdm

from rewriters import RewriteRequest, RewriteResult
from utils import RateError

OPTIONS = {
    # Share of requests answered with a recorded failure, to exercise the failure path end to end.
    "failure_rate": 0.0,
}


class SimulatedRewriter:
    def __init__(self, template, failure_rate: float, seed: int):
        self.template = template
        self.failure_rate = failure_rate
        self.seed = seed

    def rewrite(self, requests: list[RewriteRequest]) -> dict[str, RewriteResult]:
        results = {}
        for request in tqdm(requests, desc="simulated rewrites", unit="req"):
            rng = random.Random(f"{self.seed}:{request.custom_id}")
            if rng.random() < self.failure_rate:
                results[request.custom_id] = RewriteResult(request.custom_id, None, "simulated failure")
                continue
            text = self.template.simulate_rewrite(request.text, request.target_w, rng)
            results[request.custom_id] = RewriteResult(request.custom_id, text)
        return results


def build(options: dict, template, model: str, temperature: float, seed: int,
          settings: dict | None = None) -> SimulatedRewriter:
    # `settings` (the engine keys of the rewrites section) mean nothing to a rewriter that calls no model.
    if template.simulate_rewrite is None:
        raise RateError(f"dataset template '{template.name}' defines no simulate_rewrite; "
                        "the simulated backend can only rewrite such templates")
    if not 0.0 <= options["failure_rate"] <= 1.0:
        raise RateError(f"rewrites.backend_options.failure_rate must be in [0, 1], got {options['failure_rate']}")
    return SimulatedRewriter(template, options["failure_rate"], seed)
