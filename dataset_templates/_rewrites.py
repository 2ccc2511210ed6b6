"""Phase 1's two rewrite passes over the sampled examples, and the record each example becomes
(create_dataset.py). For an example with attribute w, the rewrite asks for 1-w and the rewritten
rewrite asks the rewrite for w again, only once the rewrite succeeded and passed the template's own
check; an online backend asks for it as soon as the rewrite is in (rewriters.rewrite_chained)."""

from __future__ import annotations

import rewriters
from dataset_templates._sampling import Example
from judges import changes as judge_changes
from rewriters import RewriteRequest, RewriteResult
from utils.record import ORACLE, ORIGINAL, REWRITE, REWRITES, REWRITTEN_REWRITE, Record, request_id

# each round's bar says which it counts: a resumed run may show a full first bar and an empty second
ROUNDS = ("round 1 of 2, rewrites", "round 2 of 2, rewritten rewrites")


def first_requests(examples: list[Example], template) -> list[RewriteRequest]:
    return [RewriteRequest(request_id(ex.id, REWRITE), template.prompt_for(ex.original, not ex.w), ex.original,
                           not ex.w) for ex in examples]


def second_request(ex: Example, text: str, template) -> RewriteRequest:
    """The request to rewrite `text` (the example's rewrite, or a stand-in for it) back to the example's W."""
    return RewriteRequest(request_id(ex.id, REWRITTEN_REWRITE), template.prompt_for(text, ex.w), text, ex.w)


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
        seconds.append(second_request(example_of[request.custom_id], result.text, template))
        return seconds[-1]

    results = rewriters.rewrite_chained(backend, requests, follow, ROUNDS)
    second = checked({request.custom_id: results[request.custom_id] for request in seconds}, seconds, template)
    return {**results, **firsts, **second}


def make_record(ex: Example, results: dict, template) -> Record:
    """An example's line of the output: its texts, what failed and why, and how much the rewrites
    changed besides W."""
    completions: dict = {ORIGINAL: ex.original}
    failures = {}
    for key in REWRITES:
        result = results.get(request_id(ex.id, key))
        completions[key] = result.text if result and result.ok else None
        if result is None:
            failures[key] = "not attempted: the rewrite failed"
        elif not result.ok:
            failures[key] = result.failure
    if template.oracle_counterfactual is not None:
        completions[ORACLE] = template.oracle_counterfactual(ex.original, not ex.w)
    record: Record = {"id": ex.id, "w_original": ex.w, "reward_question": ex.question, "completions": completions}
    if ex.cluster is not None:
        record["cluster"] = ex.cluster
    if failures:
        record["failures"] = failures
    measured = judge_changes.changes(ex.original, completions[REWRITE], completions[REWRITTEN_REWRITE])
    if measured:
        record["changes"] = measured
    return record


def make_records(examples: list[Example], template, backend) -> list[Record]:
    """Both rewrite passes over the examples, and the record each becomes (create_dataset.py, and each
    point of `make experiments`: one two-pass rewrite for both)."""
    results = rewrite_twice(examples, template, backend)
    return [make_record(ex, results, template) for ex in examples]
