"""The `simulated` rewriter: no LLM, no network. It applies the dataset template's own
`simulate_rewrite(text, target_w, rng)`, which flips W and makes the off-target edits that template
documents (the synthetic corpus: fixes typos, rewords filler sentences). Each request draws from its
own random stream, seeded by (seed, custom_id), so results do not depend on order or batch.

Two options make it a worse rewriter on purpose, to exercise what RATE does with one: `failure_rate`
answers a share of requests with a recorded failure, and `miss_rate` ignores the ask in a share of
requests: W is set to the opposite of the target (W stays as it was), the off-target edits are made
all the same, as a model that only "cleans up" the text would.
"""

from __future__ import annotations

import random

from tqdm import tqdm

from rewriters import RewriteRequest, RewriteResult
from utils import RateError
from utils.schema import UNIT

OPTIONS = {
    # Share of requests answered with a recorded failure, to exercise the failure path end to end.
    "failure_rate": 0.0,
    # Share of requests whose answer keeps W as it was (the judge should notice).
    "miss_rate": 0.0,
}
CHECKS = {"failure_rate": UNIT, "miss_rate": UNIT}


class SimulatedRewriter:
    def __init__(self, template, failure_rate: float, miss_rate: float, seed: int):
        self.template = template
        self.failure_rate = failure_rate
        self.miss_rate = miss_rate
        self.seed = seed

    def rewrite(self, requests: list[RewriteRequest], desc: str | None = None) -> dict[str, RewriteResult]:
        results = {}
        for request in tqdm(requests, desc=desc or "simulated rewrites", unit="req"):
            rng = random.Random(f"{self.seed}:{request.custom_id}")
            if rng.random() < self.failure_rate:
                results[request.custom_id] = RewriteResult(request.custom_id, None, "simulated failure")
                continue
            missed = self.miss_rate > 0 and rng.random() < self.miss_rate
            text = self.template.simulate_rewrite(request.text, request.target_w != missed, rng)
            results[request.custom_id] = RewriteResult(request.custom_id, text)
        return results


def build(options: dict, template, model: str, temperature: float, seed: int,
          settings: dict | None = None, section: str = "rewrites") -> SimulatedRewriter:
    # `settings` (the engine keys of the rewrites section) mean nothing to a rewriter that calls no model.
    if template.simulate_rewrite is None:
        raise RateError(f"dataset template '{template.name}' defines no simulate_rewrite; "
                        "the simulated backend can only rewrite such templates")
    return SimulatedRewriter(template, options["failure_rate"], options["miss_rate"], seed)
