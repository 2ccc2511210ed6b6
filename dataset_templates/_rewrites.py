"""Phase 1's two rewrite passes over the sampled examples, and the record each example becomes
(create_dataset.py). For an example with attribute w, the rewrite asks for 1-w and the rewritten
rewrite asks the rewrite for w again, only once the rewrite succeeded and passed the template's own
check; an online backend asks for it as soon as the rewrite is in (rewriters.rewrite_chained)."""

from __future__ import annotations

import rewriters
import utils
from dataset_templates._sampling import Example
from judges import changes as judge_changes
from rewriters import RewriteRequest, RewriteResult

REWRITE, REWRITTEN_REWRITE = "rewrite", "rewritten rewrite"
# each round's bar says which it counts: a resumed run may show a full first bar and an empty second
ROUNDS = ("round 1 of 2, rewrites", "round 2 of 2, rewritten rewrites")


def first_requests(examples: list[Example], template) -> list[RewriteRequest]:
    return [RewriteRequest(f"{ex.id}:{REWRITE}", template.prompt_for(ex.original, not ex.w), ex.original, not ex.w)
            for ex in examples]


def checked(results: dict[str, RewriteResult], requests: list[RewriteRequest], template) -> dict[str, RewriteResult]:
    """The template's own check of a rewrite against its input (e.g. ELI5: a question stays a
    question), turning a rewrite that fails it into a recorded failure."""
    if template.rewrite_check is None:
        return results
    out = dict(results)
    for request in requests:
        result = results[request.custom_id]
        reason = template.rewrite_check(request.text, result.text) if result.ok else None
        if reason:
            out[request.custom_id] = RewriteResult(result.custom_id, None, f"did not follow the prompt: {reason}",
                                                   result.usage, result.finish_reason, result.cached)
    return out


def rewrite_twice(examples: list[Example], template, backend) -> dict[str, RewriteResult]:
    """Both rewrite passes. A rewrite is rewritten back only when it succeeded and passed the
    template's check; an online backend asks for that as soon as the rewrite is in, not after the
    whole first pass (rewriters.rewrite_chained)."""
    requests = first_requests(examples, template)
    example_of = {request.custom_id: ex for request, ex in zip(requests, examples)}
    firsts: dict[str, RewriteResult] = {}
    seconds: list[RewriteRequest] = []

    def follow(request: RewriteRequest, result: RewriteResult):
        result = firsts[request.custom_id] = checked({request.custom_id: result}, [request], template)[request.custom_id]
        if not result.ok:
            return None
        ex = example_of[request.custom_id]
        seconds.append(RewriteRequest(f"{ex.id}:{REWRITTEN_REWRITE}", template.prompt_for(result.text, ex.w),
                                      result.text, ex.w))
        return seconds[-1]

    results = rewriters.rewrite_chained(backend, requests, follow, ROUNDS)
    second = checked({request.custom_id: results[request.custom_id] for request in seconds}, seconds, template)
    return {**results, **firsts, **second}


def make_record(ex: Example, results: dict, template) -> dict:
    """An example's line of the output: its texts, what failed and why, and how much the rewrites
    changed besides W."""
    completions: dict = {"original": ex.original}
    failures = {}
    for key in (REWRITE, REWRITTEN_REWRITE):
        result = results.get(f"{ex.id}:{key}")
        completions[key] = result.text if result and result.ok else None
        if result is None:
            failures[key] = "not attempted: the rewrite failed"
        elif not result.ok:
            failures[key] = result.failure
    if template.oracle_counterfactual is not None:
        completions[utils.ORACLE] = template.oracle_counterfactual(ex.original, not ex.w)
    record = {"id": ex.id, "w_original": ex.w, "reward_question": ex.question, "completions": completions}
    if ex.cluster is not None:
        record["cluster"] = ex.cluster
    if failures:
        record["failures"] = failures
    measured = judge_changes.changes(ex.original, completions[REWRITE], completions[REWRITTEN_REWRITE])
    if measured:
        record["changes"] = measured
    return record
